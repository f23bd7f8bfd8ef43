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
        if environment := env.get("DEFINEWTF_ENV"):
            settings = replace(settings, environment=environment)
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
