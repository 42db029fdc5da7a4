"""Benchmarks, run through ``python main.py bench …``: each returns its figures as a dict (JSON out)."""
