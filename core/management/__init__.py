"""Management commands of the tradingsite app."""
