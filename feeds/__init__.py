"""Market-data feeds of the real venues: websocket streams into the Redis snapshot (manage.py run_feed)."""
