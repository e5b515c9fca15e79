"""``gunicorn console.wsgi:server``"""

from console.app import create_app

app = create_app()
server = app.server
