"""API tokens: the CLI (create prints only the token, list, revoke), hashing, expiry,
revocation and the once-a-minute ``last_used_at`` write — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from console.api_tokens.models import ApiToken
from console.api_tokens.service import authenticate, create_token, revoke_token
from console.audit.models import AuditEvent
from console.cli import main
from console.db import Database, utcnow
from console.errors import Conflict, NotFound, Unauthenticated
from console.migrate import upgrade
from tests.factories import build_world

TOKEN_RE = re.compile(r"^toc_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def db(empty_db_url, monkeypatch, tmp_path):
    upgrade(empty_db_url)
    monkeypatch.setenv("CONSOLE_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("CONSOLE_INSTANCE_DIR", str(tmp_path / "instance"))
    database = Database(empty_db_url)
    with database.session() as s:
        database.world = build_world(s)
    yield database
    database.dispose()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_create_prints_only_the_token_and_stores_only_its_hash(db) -> None:
    r = cli("tokens", "create", "--as", "operator@test.example", "--name", "nightly export", "--expires-days", "30")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert r.stdout.count("\n") == 1 and TOKEN_RE.match(token)
    with db.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([row.name, row.token_hash])
        assert row.user_id == db.world.users["operator"] and row.read_only is False
        assert timedelta(days=29, hours=23) < row.expires_at - row.created_at <= timedelta(days=30)
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "api_token.created"))
        assert audit.target_id == row.id and token not in json.dumps(audit.details)


def test_list_json_has_the_contract_keys_and_revoke_marks_the_token(db) -> None:
    first = cli("tokens", "create", "--as", "viewer@test.example", "--name", "a", "--read-only")
    cli("tokens", "create", "--as", "viewer@test.example", "--name", "b")
    cli("tokens", "create", "--as", "owner@test.example", "--name", "not mine")
    listed = json.loads(cli("tokens", "list", "--as", "viewer@test.example", "--json").stdout)
    assert [t["name"] for t in listed] == ["b", "a"]
    assert all(
        list(t) == ["id", "name", "read_only", "created_at", "last_used_at", "expires_at", "revoked_at"] for t in listed
    )
    assert listed[1]["read_only"] is True and listed[1]["revoked_at"] is None
    token_id = str(listed[1]["id"])
    r = cli("tokens", "revoke", token_id, "--as", "viewer@test.example")
    assert r.exit_code == 0 and r.stdout.strip() == token_id
    again = json.loads(cli("tokens", "list", "--as", "viewer@test.example", "--json").stdout)
    assert again[1]["revoked_at"] is not None
    with db.session() as s, pytest.raises(Unauthenticated):
        authenticate(session=s, token=first.stdout.strip())


@pytest.mark.parametrize(
    "args, message",
    [
        (("tokens", "create", "--as", "nobody@test.example", "--name", "x"), "no active user"),
        (("tokens", "create", "--as", "owner@test.example", "--name", "  "), "needs a name"),
        (("tokens", "create", "--as", "owner@test.example", "--name", "x", "--expires-days", "0"), "expiry must be"),
        (("tokens", "revoke", "99", "--as", "owner@test.example"), "not found"),
        (("tokens", "revoke", "abc", "--as", "owner@test.example"), "not found"),
    ],
)
def test_refusals_exit_non_zero_with_one_line_and_nothing_on_stdout(db, args, message) -> None:
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and r.stderr.count("\n") == 1


def test_another_users_token_cannot_be_revoked_and_a_revoked_one_not_twice(db) -> None:
    with db.session() as s:
        new = create_token(session=s, user_id=db.world.users["owner"], name="mine")
        with pytest.raises(NotFound):
            revoke_token(session=s, user_id=db.world.users["manager"], token_id=new.id)
        revoke_token(session=s, user_id=db.world.users["owner"], token_id=new.id)
        with pytest.raises(Conflict):
            revoke_token(session=s, user_id=db.world.users["owner"], token_id=new.id)


def test_expired_unknown_and_malformed_tokens_do_not_authenticate(db) -> None:
    with db.session() as s:
        new = create_token(session=s, user_id=db.world.users["owner"], name="short", expires_days=1)
        assert authenticate(session=s, token=new.token).user_id == db.world.users["owner"]
        with pytest.raises(Unauthenticated, match="expired"):
            authenticate(session=s, token=new.token, now=utcnow() + timedelta(days=1, seconds=1))
        for bad in ("", "toc_", new.token + "x", new.token[4:], "toc_" + "\udcff" * 5, "x" * 10_000):
            with pytest.raises(Unauthenticated):
                authenticate(session=s, token=bad)


def test_last_used_at_is_written_at_most_once_a_minute(db) -> None:
    with db.session() as s:
        new = create_token(session=s, user_id=db.world.users["owner"], name="poller")
        t0 = utcnow()
        authenticate(session=s, token=new.token, now=t0)
        for seconds in (1, 30, 59):
            authenticate(session=s, token=new.token, now=t0 + timedelta(seconds=seconds))
        s.expire_all()
        assert s.get(ApiToken, new.id).last_used_at == t0
        authenticate(session=s, token=new.token, now=t0 + timedelta(seconds=60))
        s.expire_all()
        assert s.get(ApiToken, new.id).last_used_at == t0 + timedelta(seconds=60)
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 1
