"""Tenant Operations Console."""


def create_app(overrides=None):
    """The app factory (see console.app.create_app)."""
    from console.app import create_app as _create_app

    return _create_app(overrides)
