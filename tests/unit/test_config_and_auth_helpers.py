from __future__ import annotations

import pytest

from console.config import ConfigError, load_settings
from console.web.auth import safe_next


def test_embedded_defaults_live_in_the_instance_folder(tmp_path) -> None:
    s = load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'console.db'}"
    assert s.broker_url.startswith("sqla+sqlite:///") and s.broker_is_embedded
    assert (s.stale_after_seconds, s.review_pack_ttl_days) == (120, 14)


def test_development_secret_is_generated_once(tmp_path) -> None:
    first = load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path)}).secret_key
    second = load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("broker", "explicit", "expected"),
    [
        (None, None, "memory://"),  # the embedded broker: one development process
        ("redis://10.0.0.5:6379/0", None, "redis://10.0.0.5:6379/0"),  # several workers share the budgets
        ("rediss://:pw@cache:6380/2", None, "rediss://:pw@cache:6380/2"),
        ("redis://10.0.0.5:6379/0", "redis://10.0.0.9:6379/1", "redis://10.0.0.9:6379/1"),
        ("redis://10.0.0.5:6379/0", "memory://", "memory://"),  # said explicitly: kept
        ("sqla+sqlite:///x.db", None, "memory://"),
    ],
)
def test_limiter_counters_live_in_the_brokers_redis_unless_set(tmp_path, broker, explicit, expected) -> None:
    env = {"CONSOLE_INSTANCE_DIR": str(tmp_path)}
    env |= {"CONSOLE_BROKER_URL": broker} if broker else {}
    env |= {"CONSOLE_RATELIMIT_STORAGE_URL": explicit} if explicit else {}
    assert load_settings(environ=env).ratelimit_storage_url == expected


def test_production_refuses_to_start_without_a_secret(tmp_path) -> None:
    with pytest.raises(ConfigError, match="CONSOLE_SECRET_KEY"):
        load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path), "CONSOLE_ENV": "production"})
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("bad", ["abc", "-5", "0"])
def test_bad_numbers_are_rejected_with_the_variable_name(tmp_path, bad: str) -> None:
    with pytest.raises(ConfigError, match="CONSOLE_STALE_AFTER_SECONDS"):
        load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path), "CONSOLE_STALE_AFTER_SECONDS": bad})


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/admin/operations/5", "/admin/operations/5"),
        ("/?x=1", "/?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("relative/path", "/"),
        (None, "/"),
    ],
)
def test_next_only_follows_same_site_paths(target, expected) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    "name,bad",
    [
        ("CONSOLE_FANOUT_CHUNK_SIZE", "0"),
        ("CONSOLE_FANOUT_CHUNK_SIZE", "-3"),
        ("CONSOLE_FANOUT_CHUNK_SIZE", "lots"),
        ("CONSOLE_FANOUT_CHUNK_SIZE", "2.5"),
        ("CONSOLE_RESUME_ATTEMPTS", "-1"),
        ("CONSOLE_RESUME_ATTEMPTS", "three"),
    ],
)
def test_bad_engine_settings_refuse_to_start_naming_the_setting(tmp_path, name: str, bad: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path), name: bad})


def test_engine_settings_defaults_and_zero_resume_attempts(tmp_path) -> None:
    defaults = load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path)})
    assert (defaults.fanout_chunk_size, defaults.resume_attempts, defaults.stale_after_seconds) == (100, 3, 120)
    zero = load_settings(environ={"CONSOLE_INSTANCE_DIR": str(tmp_path), "CONSOLE_RESUME_ATTEMPTS": "0"})
    assert zero.resume_attempts == 0


@pytest.mark.parametrize("raw", [2**31, "2147483648", 2**40])
def test_an_id_beyond_the_integer_columns_is_refused_before_the_database_sees_it(raw) -> None:
    """PostgreSQL's INTEGER ids end at 2**31 - 1: a larger one would be a DataError (a 500), not a 404."""
    from console.errors import BadRequest
    from console.operations import registry

    with pytest.raises(BadRequest, match="positive whole number"):
        registry.get("backup_set_restore").validate_options(session=None, tenant_id=1, options={"backup_set_id": raw})
