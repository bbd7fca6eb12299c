"""Venues: the only code that talks to an exchange, and the markets it lists."""
