"""Benchmarks that print figures: `python -m bench` runs the suite (see docs/performance.md)."""
