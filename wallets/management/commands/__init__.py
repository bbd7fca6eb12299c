"""Management commands of the wallets app (one module each)."""
