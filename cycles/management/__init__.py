"""Management commands of the cycles app."""
