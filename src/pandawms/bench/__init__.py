"""Benchmarks run through the real HTTP API (``panda bench ...``)."""
