"""Settings from the environment (names are a public contract, see docs/deployment.md)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """The environment does not describe a console that may start."""


#: A running run silent this long is stale (CONSOLE_STALE_AFTER_SECONDS); workers heartbeat every 10 s.
DEFAULT_STALE_AFTER_SECONDS = 120


@dataclass(frozen=True)
class Settings:
    env: str
    instance_dir: Path
    database_url: str
    broker_url: str
    secret_key: str
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
    queued_stale_after_seconds: int = 3600
    review_pack_ttl_days: int = 14
    ratelimit_storage_url: str = "memory://"
    login_rate_limit: str = "10 per minute"
    #: Requests per API token (Flask-Limiter syntax); over it: 429 with Retry-After.
    api_rate_limit: str = "600/minute"
    #: Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
    trusted_proxies: int = 0
    #: Units per fan-out child task (docs/performance.md: how the default was chosen).
    fanout_chunk_size: int = 100
    #: Times the reaper resumes a stale counted run before failing it (0: fail at once).
    resume_attempts: int = 3
    #: Where review pack files live: None = ``<instance>/review_packs/``; ``file:///path``; ``s3://bucket/prefix``.
    storage_url: str | None = None
    #: Endpoint of an S3-compatible store (MinIO, Ceph, R2…); None = AWS.
    s3_endpoint_url: str | None = None
    #: Bearer token a Prometheus scraper sends to GET /metrics; None: /metrics answers 404.
    metrics_token: str | None = None
    testing: bool = False
    #: Eager mode dispatches in-process (used only by unit tests of the web layer).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def broker_is_embedded(self) -> bool:
        return self.broker_url.startswith("sqla+sqlite")

    def with_overrides(self, **kw: Any) -> Settings:
        return replace(self, **kw)


def _default_limiter_storage(broker_url: str) -> str:
    """Where the limiter counts when CONSOLE_RATELIMIT_STORAGE_URL is unset: the broker's Redis
    when the broker is Redis (several gunicorn workers then share the sign-in and per-token API
    budgets; Flask-Limiter's keys start with ``LIMITS:``, apart from Celery's), else this process."""
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else "memory://"


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    """A Flask-Limiter limit string (``600/minute``, ``10 per second``); anything else is a ConfigError."""
    from limits import parse_many

    raw = (env.get(name) or "").strip() or default
    try:
        if not parse_many(raw):
            raise ValueError(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a rate limit such as 600/minute, got {raw!r}") from exc
    return raw


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


#: More proxy hops than this is a typo, not a deployment.
MAX_TRUSTED_PROXIES = 10


def _proxy_hops(env: Mapping[str, str]) -> int:
    raw = env.get("CONSOLE_TRUSTED_PROXIES", "")
    if raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_TRUSTED_PROXIES:
        raise ConfigError(
            f"CONSOLE_TRUSTED_PROXIES must be a whole number from 0 to {MAX_TRUSTED_PROXIES}, got {raw!r}"
        )
    return int(raw)


_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def _storage_url(raw: str | None) -> str | None:
    """CONSOLE_STORAGE_URL, normalized (no trailing slash); ConfigError naming the setting."""
    raw = (raw or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query or parts.fragment:
            raise ConfigError(f"CONSOLE_STORAGE_URL must be file:///absolute/path for a folder, got {raw!r}")
        path = parts.path.rstrip("/")
        if not path or ".." in path.split("/"):
            raise ConfigError(f"CONSOLE_STORAGE_URL must name a folder other than / without '..', got {raw!r}")
        return f"file://{path}"
    if scheme == "s3":
        if "@" in parts.netloc:
            # Never echo the URL: it holds a secret.
            raise ConfigError(
                "CONSOLE_STORAGE_URL must not contain credentials; use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            )
        if not _S3_BUCKET.match(parts.netloc) or parts.query or parts.fragment:
            raise ConfigError(f"CONSOLE_STORAGE_URL must be s3://bucket/optional/prefix, got {raw!r}")
        prefix = parts.path.strip("/")
        if any(segment in ("", ".", "..") for segment in prefix.split("/")) and prefix:
            raise ConfigError(f"CONSOLE_STORAGE_URL: the prefix must be plain path segments, got {raw!r}")
        return f"s3://{parts.netloc}/{prefix}" if prefix else f"s3://{parts.netloc}"
    raise ConfigError(
        f"CONSOLE_STORAGE_URL: unknown scheme {parts.scheme or '(none)'!r}; use file:///path or s3://bucket/prefix"
    )


def _s3_endpoint_url(raw: str | None, storage_url: str | None) -> str | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (storage_url or "").startswith("s3://"):
        raise ConfigError("CONSOLE_S3_ENDPOINT_URL is set but CONSOLE_STORAGE_URL is not an s3:// URL")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigError("CONSOLE_S3_ENDPOINT_URL must be http(s)://host[:port] without credentials")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ConfigError("CONSOLE_S3_ENDPOINT_URL has an invalid port") from exc
    return raw.rstrip("/")


def _metrics_token(raw: str | None) -> str | None:
    """CONSOLE_METRICS_TOKEN: unset or blank disables /metrics; the template's placeholder is refused."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw.startswith("<") and raw.endswith(">"):
        raise ConfigError(
            "CONSOLE_METRICS_TOKEN is still the template's placeholder; set it to "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' or leave it unset"
        )
    return raw


def _dev_secret(instance_dir: Path) -> str:
    """Generate the development secret once and keep it in the instance folder."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting together (web + worker) must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def embedded_broker_url(instance_dir: Path) -> str:
    return f"sqla+sqlite:///{instance_dir / 'broker.sqlite'}"


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read CONSOLE_* variables; ``overrides`` (field names) win over the environment."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    console_env = overrides.pop("env", None) or env.get("CONSOLE_ENV", "development")
    if console_env not in ("development", "production"):
        raise ConfigError(f"CONSOLE_ENV must be development or production, got {console_env!r}")
    instance_dir = Path(
        overrides.pop("instance_dir", None) or env.get("CONSOLE_INSTANCE_DIR") or "./instance"
    ).resolve()
    instance_dir.mkdir(parents=True, exist_ok=True)

    secret = overrides.pop("secret_key", None) or env.get("CONSOLE_SECRET_KEY")
    if secret and secret.startswith("<") and secret.endswith(">"):
        # deploy/console.env.example's placeholder, left as it was: a secret everyone knows.
        raise ConfigError(
            "CONSOLE_SECRET_KEY is still the template's placeholder; set it to "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if not secret:
        if console_env == "production":
            raise ConfigError("CONSOLE_SECRET_KEY is required when CONSOLE_ENV=production")
        secret = _dev_secret(instance_dir)

    settings = Settings(
        env=console_env,
        instance_dir=instance_dir,
        database_url=overrides.pop("database_url", None)
        or env.get("CONSOLE_DATABASE_URL")
        or f"sqlite:///{instance_dir / 'console.db'}",
        broker_url=overrides.pop("broker_url", None)
        or env.get("CONSOLE_BROKER_URL")
        or embedded_broker_url(instance_dir),
        secret_key=secret,
        stale_after_seconds=_int(env, "CONSOLE_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS),
        queued_stale_after_seconds=_int(env, "CONSOLE_QUEUED_STALE_AFTER_SECONDS", 3600),
        review_pack_ttl_days=_int(env, "CONSOLE_REVIEW_PACK_TTL_DAYS", 14),
        ratelimit_storage_url=env.get("CONSOLE_RATELIMIT_STORAGE_URL") or "",
        api_rate_limit=_rate_limit(env, "CONSOLE_API_RATE_LIMIT", "600/minute"),
        trusted_proxies=_proxy_hops(env),
        fanout_chunk_size=_int(env, "CONSOLE_FANOUT_CHUNK_SIZE", 100, maximum=10_000),
        resume_attempts=_int(env, "CONSOLE_RESUME_ATTEMPTS", 3, minimum=0, maximum=100),
    )
    if not settings.ratelimit_storage_url:
        settings = replace(settings, ratelimit_storage_url=_default_limiter_storage(settings.broker_url))
    storage_url = _storage_url(overrides.pop("storage_url", None) or env.get("CONSOLE_STORAGE_URL"))
    settings = replace(
        settings,
        storage_url=storage_url,
        s3_endpoint_url=_s3_endpoint_url(
            overrides.pop("s3_endpoint_url", None) or env.get("CONSOLE_S3_ENDPOINT_URL"), storage_url
        ),
        metrics_token=_metrics_token(overrides.pop("metrics_token", None) or env.get("CONSOLE_METRICS_TOKEN")),
    )
    if overrides:
        settings = replace(settings, **overrides)
    return settings
