"""The demo: a history made by the real services under a demo clock (history.py, clock.py) and
the pacing of ``console demo``'s worker (pacing.py). ``console.seed`` is the entry point."""
