"""Management commands of the cycles app (one module each)."""
