"""Every order the platform places, its fills, its state machine and its monitoring."""
