"""``/account/tokens`` through its callbacks as dash-renderer sends them: create shows the token
once (and stores only its hash), the list shows last use, revoke needs the confirm and touches
only the user's own tokens; every callback needs the session and the CSRF header."""

from __future__ import annotations

import json

from sqlalchemy import select

from console import ids
from console.api_tokens.models import ApiToken
from console.api_tokens.service import create_token, hash_token
from tests.support.web import CALLBACK, login, page


def _callback(web_app, first_input: str) -> tuple[str, list[dict]]:
    key = next(
        k
        for k, v in web_app.callback_map.items()
        if v["inputs"] and v["inputs"][0]["id"] == first_input and v.get("callback")
    )
    outputs = [
        {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in key.strip(".").split("...")
    ]
    return key, outputs


def _create(web_app, client, name, expires="90", read_only=False, csrf=True):
    key, outputs = _callback(web_app, ids.TOKEN_CREATE)
    return client.post(
        CALLBACK,
        json={
            "output": key,
            "outputs": outputs,
            "inputs": [{"id": ids.TOKEN_CREATE, "property": "n_clicks", "value": 1}],
            "state": [
                {"id": ids.TOKEN_NAME, "property": "value", "value": name},
                {"id": ids.TOKEN_EXPIRES_DAYS, "property": "value", "value": expires},
                {"id": ids.TOKEN_READ_ONLY, "property": "value", "value": read_only},
            ],
            "changedPropIds": [f"{ids.TOKEN_CREATE}.n_clicks"],
        },
        headers={"X-CSRFToken": client.get_cookie("_csrf_token").value} if csrf else {},
    )


def _revoke(web_app, client, token_id):
    key, outputs = _callback(web_app, ids.TOKEN_REVOKE_CONFIRM)
    return client.post(
        CALLBACK,
        json={
            "output": key,
            "outputs": outputs,
            "inputs": [{"id": ids.TOKEN_REVOKE_CONFIRM, "property": "n_clicks", "value": 1}],
            "state": [{"id": ids.TOKEN_REVOKE_PENDING, "property": "data", "value": token_id}],
            "changedPropIds": [f"{ids.TOKEN_REVOKE_CONFIRM}.n_clicks"],
        },
        headers={"X-CSRFToken": client.get_cookie("_csrf_token").value},
    )


def _tokens(web_app) -> list[ApiToken]:
    with web_app.server.extensions["console.db"].session() as s:
        rows = list(s.scalars(select(ApiToken).order_by(ApiToken.id)))
        s.expunge_all()  # plain values after the session closes
        return rows


def test_the_page_is_reachable_from_the_user_menu_and_needs_a_session(web_app, client, world) -> None:
    assert client.get(ids.ACCOUNT_TOKENS_HREF).status_code == 302
    login(client, "viewer@test.example")
    assert client.get(ids.ACCOUNT_TOKENS_HREF).status_code == 200
    body = page(client, ids.ACCOUNT_TOKENS_HREF)
    assert "No tokens yet." in body and ids.TOKEN_CREATE in body
    frame = json.dumps(client.get("/_dash-layout").get_json())  # the frame holds the user menu
    assert f'"id": "{ids.NAV_API_TOKENS}", "href": "{ids.ACCOUNT_TOKENS_HREF}"' in frame
    assert f'"id": "{ids.NAV_API_DOCS}", "href": "/api/docs"' in frame


def test_create_shows_the_token_once_with_a_copy_button_and_stores_its_hash(web_app, client, world) -> None:
    login(client, "viewer@test.example")
    r = _create(web_app, client, "  my   script ", expires="30", read_only=True)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    answer = json.loads(r.get_data(as_text=True))["response"]
    new = answer[ids.TOKEN_NEW]["children"]
    text = json.dumps(new)
    token = next(t for t in text.replace('"', " ").split() if t.startswith("toc_"))
    assert ids.TOKEN_COPY in text and "Clipboard" in text
    (row,) = _tokens(web_app)
    assert row.token_hash == hash_token(token) and row.name == "my script" and row.read_only
    assert row.user_id == world.users["viewer"] and row.expires_at is not None
    listed = json.dumps(answer[ids.TOKENS_TABLE]["children"])
    assert "my script" in listed and token not in listed and "Read-only" in listed
    # Reloading the page never shows the token again.
    assert token not in page(client, ids.ACCOUNT_TOKENS_HREF)


def test_a_bad_name_or_expiry_is_a_message_not_a_token(web_app, client, world) -> None:
    login(client, "viewer@test.example")
    for name, expires in (("", "90"), ("x" * 101, "90"), ("ok", "0"), ("ok", "99999"), (None, "abc")):
        r = _create(web_app, client, name, expires)
        assert r.status_code in (200, 400), r.status_code
        assert _tokens(web_app) == []


def test_callbacks_need_a_session_and_csrf(web_app, client, world) -> None:
    client.get("/login")
    assert _create(web_app, client, "x").status_code == 401
    login(client, "viewer@test.example")
    assert _create(web_app, client, "x", csrf=False).status_code == 400
    assert _tokens(web_app) == []


def test_revoke_only_the_users_own_tokens(web_app, client, world) -> None:
    with web_app.server.extensions["console.db"].session() as s:
        theirs = create_token(session=s, user_id=world.users["owner"], name="owner's").id
        mine = create_token(session=s, user_id=world.users["viewer"], name="mine").id
    login(client, "viewer@test.example")
    assert _revoke(web_app, client, theirs).status_code == 404
    assert _revoke(web_app, client, "1; DROP TABLE api_tokens").status_code == 404
    r = _revoke(web_app, client, mine)
    assert r.status_code == 200
    revoked = {t.id: t.revoked_at for t in _tokens(web_app)}
    assert revoked[theirs] is None and revoked[mine] is not None
    assert "Revoked" in json.dumps(json.loads(r.get_data(as_text=True))["response"][ids.TOKENS_TABLE])
