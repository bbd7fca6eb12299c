"""Management commands of the tradingsite app (one module each)."""
