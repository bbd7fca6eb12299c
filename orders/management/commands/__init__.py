"""Management commands of the orders app (one module each)."""
