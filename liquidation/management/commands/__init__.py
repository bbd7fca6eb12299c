"""Management commands of the liquidation app (one module each)."""
