"""The operator's overview: the dashboard page, its actions, and the accounts and stats it reads (also in the API)."""
