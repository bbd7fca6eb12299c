"""Triangular arbitrage: strategies, reservations, cycles and their liquidation."""
