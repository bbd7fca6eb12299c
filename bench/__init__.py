"""Benchmarks: `python bench/run.py SUITE`, each on a database and Redis database of its own."""
