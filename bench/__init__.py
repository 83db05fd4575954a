"""Benchmarks: `make bench` runs every module listed in `bench.__main__` and prints figures.

Each module exposes `run() -> list[str]`: human-readable result lines. Benchmarks measure; they
never assert timings (tests do not either).
"""
