"""Management commands of the positions app (one module each)."""
