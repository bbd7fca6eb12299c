"""Management commands of the liquidation app."""
