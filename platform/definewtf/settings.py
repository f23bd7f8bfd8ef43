"""Runtime settings, read from the environment when the app or the CLI starts.

Nothing here runs at import: `Settings.from_env()` is called by `create_app()` and by the CLI,
and tests build their own `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "definewtf.sqlite3"


@dataclass(frozen=True, slots=True)
class Argon2Cost:
    """argon2id parameters. The defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per process (N workers allow N times as much). An initial sync of a 100,000-user
    company by Entra ID or Okta runs at tens of requests per second. The defaults stop runaway
    scripts and floods far above that, so that no sync is ever throttled (a worker serves
    one client up to ~2,000 cheap SCIM requests per second on 2 cores: bench/RESULTS.md);
    lower them to reserve capacity for other tenants. 0 turns a limit off."""

    #: Requests per second per tenant, and per credential (SCIM token, API key, session);
    #: bursts of twice as many are let through.
    tenant_per_second: float = 2000.0
    credential_per_second: float = 1000.0
    #: Wrong secrets tried with one token prefix: 10 at once, then one every 6 seconds.
    failed_secret_burst: float = 10.0
    failed_secret_per_second: float = 1 / 6


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    base_domain: str = "localhost"
    #: "development" serves GraphiQL; anything else does not.
    environment: str = "production"
    argon2: Argon2Cost = field(default_factory=Argon2Cost)
    #: How long a verified token is remembered in process before argon2 runs again.
    token_cache_seconds: float = 600.0
    #: `last_used_at` is written at most this often per credential and process.
    last_used_write_interval_seconds: float = 60.0
    #: Concurrent argon2 computations per process (each uses `memory_cost_kib`).
    argon2_threads: int = 2
    #: "json" (one object per line, the default) or "text".
    log_format: str = "json"
    #: Bearer token Prometheus must send to read /metrics; unset, only loopback clients may.
    metrics_token: str | None = field(default=None, repr=False)
    #: How often each process writes its SCIM request counts (scimStatus) to the database.
    activity_flush_seconds: float = 5.0
    rate_limits: RateLimits = field(default_factory=RateLimits)

    def __repr__(self) -> str:
        # The database URL may carry a password.
        return (
            f"Settings(database_url={redact_url(self.database_url)!r}, "
            f"base_domain={self.base_domain!r}, environment={self.environment!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls()
        if url := env.get("DATABASE_URL"):
            settings = replace(settings, database_url=url)
        if domain := env.get("DEFINEWTF_BASE_DOMAIN"):
            settings = replace(settings, base_domain=domain.strip().lower().rstrip("."))
        if log_format := env.get("DEFINEWTF_LOG_FORMAT"):
            settings = replace(settings, log_format=log_format)
        if metrics_token := env.get("DEFINEWTF_METRICS_TOKEN"):
            settings = replace(settings, metrics_token=metrics_token)
        if environment := env.get("DEFINEWTF_ENV"):
            settings = replace(settings, environment=environment)
        if limits := env.get("DEFINEWTF_RATE_LIMITS"):
            # "tenant_per_second,credential_per_second"; "0,0" turns them off.
            tenant_rate, credential_rate = (float(part) for part in limits.split(","))
            settings = replace(
                settings,
                rate_limits=replace(
                    settings.rate_limits,
                    tenant_per_second=tenant_rate,
                    credential_per_second=credential_rate,
                ),
            )
        if cost := env.get("DEFINEWTF_ARGON2_COST"):
            # "time,memory_kib,parallelism" — lets tests and small machines pick a cheaper
            # (still real) argon2id cost without touching code.
            t, m, p = (int(part) for part in cost.split(","))
            settings = replace(settings, argon2=Argon2Cost(t, m, p))
        return settings

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


def redact_url(url: str) -> str:
    """Hide the password of a `scheme://user:password@host/db` URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}" if ":" in credentials else url
