"""``/api/docs``: the API reference, and ``/api/docs/try``: Swagger UI, both for the document at
``/api/v1/openapi.json``.

``/api/docs`` is plain HTML rendered on the server from that document (every endpoint, its
parameters, body and answers): it reads with a screen reader and passes the axe-core audit, which
Swagger UI 4.15.5 does not (nested interactive controls, labels that differ from the visible text,
contrast — docs/accessibility.md). Swagger UI, for trying requests out, is
served from the swagger-ui-bundle package (Swagger UI 4.15.5), never a CDN: it works offline
and behind firewalls, and the CSP stays as it is (scripts from 'self' only, no inline script:
the start-up code is a file of its own). No token is needed to read it; "Authorize" takes one
for trying requests out."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ROUTE = "/api/docs"
TRY = f"{ROUTE}/try"
SPEC_URL = "/api/v1/openapi.json"
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


METHODS = ("get", "post", "put", "patch", "delete")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = str(schema.get("type", ""))
    if "minimum" in schema or "maximum" in schema:
        kind += f" ({schema.get('minimum', '…')}–{schema.get('maximum', '…')})"
    if "enum" in schema:
        kind += ": " + ", ".join(str(v) for v in schema["enum"])
    return kind


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations as plain rows for the template, in the document's order."""
    out = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {})
            body_schema = next(iter(body.values()), {}).get("schema") if body else None
            responses = [
                (status, (r.get("description") or "").strip() if isinstance(r, dict) else "")
                for status, r in op.get("responses", {}).items()
            ]
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": re.sub(r"[^a-z0-9]+", "-", f"{method}{path}".lower()).strip("-"),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p.get("name", ""),
                            "in": p.get("in", ""),
                            "type": _type(p.get("schema", {})),
                            "required": bool(p.get("required")),
                            "description": p.get("description", ""),
                        }
                        for p in params
                        if isinstance(p, dict)
                    ],
                    "body": _type(body_schema) if body_schema else None,
                    "responses": responses,
                }
            )
    return out


def reference() -> str:
    """The accessible reference: the live OpenAPI document, rendered as HTML."""
    spec = current_app.extensions["console.api_spec"]()
    return render_template("api_reference.html", spec=spec, operations=operations(spec), try_url=TRY, spec_url=SPEC_URL)


def start_js() -> Response:
    return Response(START_JS, mimetype="text/javascript")


def static(filename: str) -> Response:
    from console.errors import NotFound

    if filename not in FILES:
        raise NotFound("no such file")
    response = send_from_directory(str(swagger_ui_path), filename, max_age=3600)
    return response


def init_app(server: Flask) -> None:
    server.add_url_rule(ROUTE, "api_reference", reference, methods=["GET"])
    server.add_url_rule(TRY, "api_reference_try", page, methods=["GET"])
    server.add_url_rule(f"{ROUTE}/start.js", "api_reference_js", start_js, methods=["GET"])
    server.add_url_rule(f"{STATIC}/<filename>", "api_reference_static", static, methods=["GET"])
