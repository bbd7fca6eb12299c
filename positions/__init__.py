"""Take-profit / stop-loss managed positions, on main and mirror accounts."""
