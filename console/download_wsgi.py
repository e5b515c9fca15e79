"""``gunicorn console.download_wsgi:server``: the download server (console.download_server).
Imports no Dash, Plotly nor Celery (tests/unit/test_download_server_imports.py)."""

from console.download_server import create_download_server

server = create_download_server()
