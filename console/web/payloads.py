"""Dash callback payloads: refuse (400) what dash-renderer would never send for this app's
server-side callbacks, before Dash parses it (Dash answers such oddities with a 500)."""

from __future__ import annotations

import json

import dash
from dash._utils import split_callback_id
from flask import Response, jsonify, request

CALLBACK_PATH = "/_dash-update-component"


def is_callback() -> bool:
    return request.path == CALLBACK_PATH


#: Dash's pattern-matching wildcards as they appear in a callback_map id (``{"op":["ALL"],...}``).
_WILDCARDS = (["ALL"], ["MATCH"], ["ALLSMALLER"])
#: A forged ALL list longer than any page renders is refused (each item costs work in Dash).
MAX_PATTERN_ITEMS = 500


def _declared_id(raw: str) -> str | dict:
    return json.loads(raw) if raw.startswith("{") else raw


def _concrete_id_ok(sent: object, declared: str | dict) -> bool:
    if isinstance(declared, str):
        return sent == declared
    if not isinstance(sent, dict) or set(sent) != set(declared):
        return False
    for key, want in declared.items():
        got = sent[key]
        if want in _WILDCARDS:
            if isinstance(got, bool) or not isinstance(got, (str, int, float)):
                return False
        elif got != want:
            return False
    return True


def _item_ok(item: object, declared: dict) -> bool:
    """One concrete dependency as dash-renderer sends it: {"id", "property"[, "value"]} (an
    undefined prop has no "value": Dash reads None)."""
    if not isinstance(item, dict) or not isinstance(item.get("property"), str):
        return False
    if set(item) - {"id", "property", "value"}:
        return False
    # Outputs registered with allow_duplicate carry "@<hash>" in the map; the renderer may send either.
    if item["property"].split("@")[0] != declared["property"].split("@")[0]:
        return False
    return _concrete_id_ok(item.get("id"), _declared_id(declared["id"]))


def _deps_ok(sent: object, declared: list[dict]) -> bool:
    """``sent`` matches the callback's declared dependencies one for one (ALL/ALLSMALLER: a list)."""
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for item, dep in zip(sent, declared, strict=True):  # lengths checked above
        did = _declared_id(dep["id"])
        multi = isinstance(did, dict) and any(v in (["ALL"], ["ALLSMALLER"]) for v in did.values())
        if multi:
            if not isinstance(item, list) or len(item) > MAX_PATTERN_ITEMS:
                return False
            if not all(_item_ok(i, dep) for i in item):
                return False
        elif not _item_ok(item, dep):
            return False
    return True


def _outputs_ok(sent: object, key: str) -> bool:
    declared = split_callback_id(key)
    if isinstance(declared, dict):  # one output: the renderer sends one object
        return _item_ok(sent, declared)
    return _deps_ok(sent, declared)


#: Dash's own page router (registered on the first request); it is not our code, so its
#: inputs are typed here: a pathname that is not a string under the app's prefix makes it raise (500).
PAGES_ROUTER = ".._pages_content.children..._pages_store.data.."


def _router_values_ok(inputs: list, prefix: str) -> bool:
    for item in inputs:
        value = item.get("value")
        if item["property"] == "pathname" and not (
            isinstance(value, str) and value.startswith(prefix.rstrip("/") or "/")
        ):
            return False
        if item["property"] == "search" and not isinstance(value, (str, type(None))):
            return False
    return True


def validate_callback_body(dash_app: dash.Dash) -> Response | None:
    """Refuse (400) a callback request that is not what dash-renderer would send for a
    server-side callback of this app, before Dash parses it (Dash answers oddities with 500).

    Checked: JSON object; ``output`` names a registered *server-side* callback; ``outputs``,
    ``inputs`` and ``state`` match its declared dependencies one for one (ids, properties,
    pattern-matching lists); ``changedPropIds`` is a list of strings. The *values* are left to
    the callbacks, which treat them as untrusted (console.access.parse_id and friends)."""
    if not is_callback() or request.method != "POST":
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON: the parser gives up with RecursionError, not ValueError
        body = None
    if not (
        isinstance(body, dict)
        and isinstance(body.get("output"), str)
        and isinstance(body.get("inputs"), list)
        and isinstance(body.get("state", []), list)
        and isinstance(body.get("changedPropIds", []), list)
        and all(isinstance(p, str) for p in body.get("changedPropIds", []))
    ):
        return jsonify(error="malformed callback request"), 400
    spec = dash_app.callback_map.get(body["output"])
    # Clientside callbacks have no server function: Dash would answer their output with a 500.
    if spec is None or spec.get("callback") is None:
        return jsonify(error="unknown callback"), 400
    if not (
        _outputs_ok(body.get("outputs"), body["output"])
        and _deps_ok(body["inputs"], spec["inputs"])
        and _deps_ok(body.get("state", []), spec["state"])
    ):
        return jsonify(error="callback request does not match the callback"), 400
    if body["output"] == PAGES_ROUTER and not _router_values_ok(
        body["inputs"], dash_app.config.requests_pathname_prefix
    ):
        return jsonify(error="pathname must be a path under the app, search a string"), 400
    return None
