"""``/api/docs``: the API reference (Swagger UI) for the document at ``/api/v1/openapi.json``.

Served from the swagger-ui-bundle package (Swagger UI 4.15.5), never a CDN: it works offline
and behind firewalls, and the CSP stays as it is (scripts from 'self' only, no inline script:
the start-up code is a file of its own). No token is needed to read it; "Authorize" takes one
for trying requests out."""

from __future__ import annotations

from flask import Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ROUTE = "/api/docs"
STATIC = f"{ROUTE}/static"
#: The only files the page needs (nothing else of the bundle is served).
FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>API reference · Tenant Operations Console</title>
<link rel="stylesheet" href="{STATIC}/swagger-ui.css">
<link rel="icon" href="{STATIC}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-spec-url="/api/v1/openapi.json"></div>
<script src="{STATIC}/swagger-ui-bundle.js"></script>
<script src="{ROUTE}/start.js"></script>
</body>
</html>
"""

START_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({url: root.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true});
});
"""


def page() -> Response:
    return Response(PAGE, mimetype="text/html")


def start_js() -> Response:
    return Response(START_JS, mimetype="text/javascript")


def static(filename: str) -> Response:
    from console.errors import NotFound

    if filename not in FILES:
        raise NotFound("no such file")
    response = send_from_directory(str(swagger_ui_path), filename, max_age=3600)
    return response


def init_app(server: Flask) -> None:
    server.add_url_rule(ROUTE, "api_reference", page, methods=["GET"])
    server.add_url_rule(f"{ROUTE}/start.js", "api_reference_js", start_js, methods=["GET"])
    server.add_url_rule(f"{STATIC}/<filename>", "api_reference_static", static, methods=["GET"])
