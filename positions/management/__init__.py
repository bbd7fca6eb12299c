"""Management commands of the positions app."""
