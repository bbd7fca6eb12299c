"""Management commands of the exchanges app (one module each)."""
