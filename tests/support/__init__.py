"""Plain helpers the test modules share (no fixtures: those live in the conftest.py files).

* ``db``       — test database URLs and backends, scratch PostgreSQL databases, counting SQL statements
* ``web``      — the app under the Flask test client: a recording dispatcher, the real app, log in, CSRF token
* ``hostile``  — forged-request material: a seeded ``Scene`` per role and Dash callback payloads built
                 from ``app.callback_map``
* ``faults``   — a real database outage
* ``browser``  — dash_duo helpers: log in, read text / attributes / component props, navigate, the
                 server-side callback log, runs inserted directly

The data builders are in ``tests/factories.py``; the Celery worker stack is ``tests/integration/worker.py``.
"""
