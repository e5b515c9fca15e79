"""The demo: a history made by the real services under a demo clock (history.py, clock.py).
``console.seed`` is the entry point."""
