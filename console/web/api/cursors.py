"""Opaque page cursors: a position signed with the secret key and bound to the user and the list.

A client can neither forge a position nor replay another user's cursor (BadRequest, 400); and
even a valid cursor only says where to continue — the query behind it is still the
visibility-filtered one, so a cursor can never reach another tenant's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from console.db import MAX_ID
from console.errors import BadRequest

INVALID = "invalid cursor: pass next_cursor from the previous page unchanged"


def _serializer(secret_key: str, kind: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"console.api.cursor.{kind}")


def encode(*, secret_key: str, kind: str, user_id: int, position: list[Any]) -> str:
    return _serializer(secret_key, kind).dumps({"u": user_id, "p": position})


def _decode(*, secret_key: str, kind: str, user_id: int, cursor: str) -> list[Any]:
    try:
        data = _serializer(secret_key, kind).loads(cursor)
    except (BadData, UnicodeError, ValueError) as exc:
        raise BadRequest(INVALID) from exc
    if not isinstance(data, dict) or data.get("u") != user_id or not isinstance(data.get("p"), list):
        raise BadRequest(INVALID)
    return data["p"]


def _id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadRequest(INVALID)
    return value


def run_position(*, secret_key: str, user_id: int, cursor: str | None) -> tuple[datetime, int] | None:
    """(created_at, id) of the last run of the previous page, or None for the first page."""
    if cursor is None:
        return None
    position = _decode(secret_key=secret_key, kind="runs", user_id=user_id, cursor=cursor)
    try:
        created_at, run_id = position
        when = datetime.fromisoformat(created_at)
    except (TypeError, ValueError) as exc:
        raise BadRequest(INVALID) from exc
    if when.tzinfo is None:
        raise BadRequest(INVALID)
    return when, _id(run_id)


def unit_position(*, secret_key: str, user_id: int, run_id: int, cursor: str | None) -> int | None:
    """The ledger row id after which the next page starts (the cursor names its run too)."""
    if cursor is None:
        return None
    position = _decode(secret_key=secret_key, kind="units", user_id=user_id, cursor=cursor)
    if len(position) != 2 or _id(position[0]) != run_id:
        raise BadRequest(INVALID)
    return _id(position[1])
