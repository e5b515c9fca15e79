"""The HTTP API (v1): flask-smorest on the console's Flask server.

``init_app`` mounts the blueprint (console.web.api.views) and the OpenAPI document
(``/api/v1/openapi.json``, generated from the marshmallow schemas and routes, no token needed),
exempts the API from CSRF (bearer tokens only: nothing ambient to forge), limits each token to
``CONSOLE_API_RATE_LIMIT`` (Flask-Limiter, the login limiter's storage: Redis in production),
and answers every error under ``/api/`` as problem+json through console.errors.ANSWERS."""

from __future__ import annotations

import http
import time

from flask import Flask
from flask_limiter import Limiter, RateLimitExceeded
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from console.errors import RateLimited
from console.web.api import auth, reference, schemas
from console.web.api.views import PREFIX, blp
from console.web.problems import MEDIA_TYPE, is_api_request, problem_response

TITLE = "Tenant Operations Console API"


class ConsoleApi(Api):
    """flask-smorest's Api, with the console's errors: problem+json documented for every error
    answer, and no app-wide HTTPException handler (console.web.security owns error mapping,
    for pages as for the API)."""

    ERROR_SCHEMA = schemas.Problem

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "An error (problem details, RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, MEDIA_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)


def init_app(server: Flask, limiter: Limiter, *, csrf, rate_limit: str) -> None:
    server.config.update(
        API_TITLE=TITLE,
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Bearer tokens: `console tokens create` or /account/tokens. "
                "Errors are application/problem+json. See docs/api.md."
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    # One budget per token; a request without a valid token is not counted (it gets 401).
    limiter.limit(rate_limit, key_func=auth.rate_limit_key, exempt_when=lambda: auth.authenticated_or_none() is None)(
        blp
    )
    reference.init_app(server)
    api = ConsoleApi(server)
    api.register_blueprint(blp)
    server.extensions["console.api_spec"] = api.spec.to_dict  # the reference page renders it
    csrf.exempt(blp)
    csrf.exempt(api._app.blueprints["api-docs"])  # noqa: SLF001

    previous = server.error_handler_spec[None][429].get(RateLimitExceeded)

    def _rate_limited(err: RateLimitExceeded):
        if not is_api_request():
            return previous(err) if previous else err
        current = limiter.current_limit
        retry_after = max(1, int(current.reset_at - time.time())) if current else 60
        return problem_response(
            RateLimited(f"more than {err.limit.limit} requests for this token; retry in {retry_after} s"),
            headers={"Retry-After": str(retry_after)},
        )

    server.register_error_handler(RateLimitExceeded, _rate_limited)
