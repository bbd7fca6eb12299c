"""Management commands of the wallets app."""
