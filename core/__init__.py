"""Building blocks every app uses, Django-free where they can be: errors, fields, the state machine, the Redis
client, the TTL cache."""
