"""Management commands of the exchanges app."""
