"""The suite runs unchanged on SQLite and on PostgreSQL.

Engine choice: `DATABASE_URL` unset or `sqlite…` → a fresh SQLite file in a temporary folder;
`postgresql://…/db` → that server, on a fresh database `dwtf_test_<random>` created for this
run and dropped at its end (runs never see each other's data). Migrations are applied once per
session with `definewtf migrate`'s code; each test starts from empty tables.

Tests talk to the real app over HTTP (Litestar's AsyncTestClient on the test's event loop, or
a real uvicorn/CLI subprocess), with real argon2id at a cheap cost (`TEST_ARGON2`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from piccolo.querystring import QueryString

from definewtf import statistics
from definewtf.app import create_app
from definewtf.db import Database, ReusingSQLiteEngine, current_engine
from definewtf.migrate import migrate
from definewtf.principals import CLI_ACTOR
from definewtf.security import Security
from definewtf.services import api_keys, tenants, tokens
from definewtf.services.tenants import TenantRecord
from definewtf.settings import Argon2Cost, Settings
from definewtf.tables import ALL_TABLES

#: Real argon2id, cheap enough for a test suite (the production default is 3 / 64 MiB / 4).
TEST_ARGON2 = Argon2Cost(time_cost=1, memory_cost_kib=8192, parallelism=1)
TEST_ARGON2_ENV = "1,8192,1"

# Property-based tests (tests/scim/test_properties.py) run every example through the real app
# on one database per test: the `client` fixture is function-scoped on purpose, examples share
# it and assert accordingly. "fast" keeps the suite fast; HYPOTHESIS_PROFILE=thorough digs
# deeper. No example database: runs start from a clean checkout; a failure prints its seed.
_HYPOTHESIS = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile("fast", max_examples=40, **_HYPOTHESIS)
hypothesis_settings.register_profile("thorough", max_examples=2000, **_HYPOTHESIS)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await migrate(database)
    finally:
        await database.stop()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    given = os.environ.get("DATABASE_URL", "")
    if _is_postgres(given):
        name = f"dwtf_test_{secrets.token_hex(4)}"

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(given)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        url = _with_database(given, name)
        asyncio.run(_migrate(url))
        try:
            yield url
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        with tempfile.TemporaryDirectory(prefix="dwtf-test-") as folder:
            url = f"sqlite:///{Path(folder) / 'test.sqlite3'}"
            asyncio.run(_migrate(url))
            yield url


@pytest.fixture
def engine_name(database_url: str) -> str:
    return "postgresql" if _is_postgres(database_url) else "sqlite"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, base_domain="localhost", argon2=TEST_ARGON2, environment="test"
    )


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    """The environment for `definewtf` and uvicorn subprocesses on the test database."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEFINEWTF_BASE_DOMAIN"}
    }
    env.update(
        DATABASE_URL=database_url, DEFINEWTF_ARGON2_COST=TEST_ARGON2_ENV, PYTHONUNBUFFERED="1"
    )
    return env


async def _truncate(database_url: str) -> None:
    database = Database(database_url)
    tables = ", ".join(table._meta.tablename for table in ALL_TABLES)
    try:
        if _is_postgres(database_url):
            await database.engine.run_ddl(f"TRUNCATE {tables} CASCADE")
        else:
            for table in reversed(ALL_TABLES):
                await database.engine.run_ddl(f"DELETE FROM {table._meta.tablename}")  # noqa: S608
            # The planner's statistics too: a connection loads them as it opens, and a test's
            # plans must not depend on the tables an earlier test analyzed.
            await database.engine.run_ddl("DELETE FROM sqlite_stat1")
    finally:
        await database.stop()


@pytest.fixture(autouse=True)
def clean_slate(database_url: str) -> None:
    """Every test starts from empty tables (schema kept)."""
    asyncio.run(_truncate(database_url))


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, addressed to the `acme` tenant's host.

    The app runs on the test's own event loop (Litestar's AsyncTestClient would run it in a
    portal thread with another loop, and the PostgreSQL pool cannot be shared across loops),
    so a test may call services directly between requests.
    """
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as c,
    ):
        yield c


@pytest.fixture
def security(app: Litestar) -> Security:
    runtime = app.state.runtime
    assert isinstance(runtime.security, Security)
    return runtime.security


@pytest.fixture
async def acme(client: httpx.AsyncClient) -> TenantRecord:
    return await tenants.create_tenant(slug="acme", name="Acme Corp", actor=CLI_ACTOR)


@pytest.fixture
async def globex(client: httpx.AsyncClient) -> TenantRecord:
    return await tenants.create_tenant(slug="globex", name="Globex", actor=CLI_ACTOR)


#: A new row's id and timestamp, as each engine stores them (Piccolo keeps text on SQLite).
_GENERATED = {
    "postgresql": ("gen_random_uuid()", "now()"),
    "sqlite": (
        "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
        "substr(lower(hex(randomblob(2))), 2) || '-8' || substr(lower(hex(randomblob(2))), 2) "
        "|| '-' || lower(hex(randomblob(6)))",
        "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000+00:00'",
    ),
}


@pytest.fixture
def many_acme_users(acme: TenantRecord, engine_name: str) -> Callable[[int], Awaitable[None]]:
    """Writes `count` bare users of acme (userName and primary email `u<i>@x.test`) in one
    statement: a real tenant's size, quicker than through the services. `title`: each of
    them has this title too, searchable (a `user_value` row each)."""
    new_id, now = _GENERATED[engine_name]

    async def insert(count: int, title: str | None = None) -> None:
        engine = current_engine()
        await engine.run_ddl(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count:d}) "  # noqa: S608
            "INSERT INTO app_user (id, tenant, user_name, user_name_ci, email, email_ci, "
            "active, version, attributes, created_at, updated_at) "
            f"SELECT {new_id}, '{acme.id}', 'u' || i || '@x.test', 'u' || i || '@x.test', "
            f"'u' || i || '@x.test', 'u' || i || '@x.test', true, 1, '{{}}', {now}, {now} FROM n"
        )
        if title is not None:
            await engine.run_ddl(
                'INSERT INTO user_value (id, tenant, "user", attr, entry, sub, value, value_ci) '  # noqa: S608
                f"SELECT {new_id}, tenant, id, 'title', 0, '', '{title}', '{title.lower()}' "
                f"FROM app_user WHERE tenant = '{acme.id}' AND user_name LIKE 'u%@x.test'"
            )

    return insert


@pytest.fixture
def plans_made() -> Callable[[str], Awaitable[tuple[int, int]]]:
    """(generic, custom) plans PostgreSQL made for the prepared statements whose text is LIKE
    the pattern given, summed over every connection of the engine's pools (each has its own)."""

    async def made(statement_like: str) -> tuple[int, int]:
        engine = current_engine()
        generic = custom = 0
        for pool in (engine.pool, *engine.planning_pools.values()):
            connections = [await pool.acquire() for _ in range(pool.get_size())]
            try:
                for connection in connections:
                    row = await connection.fetchrow(
                        "SELECT coalesce(sum(generic_plans), 0) AS generic, "
                        "coalesce(sum(custom_plans), 0) AS custom "
                        "FROM pg_prepared_statements WHERE statement LIKE $1",
                        statement_like,
                    )
                    generic += row["generic"]
                    custom += row["custom"]
            finally:
                for connection in connections:
                    await pool.release(connection)
        return generic, custom

    return made


@pytest.fixture
async def scim_token(acme: TenantRecord, security: Security) -> str:
    issued = await tokens.generate_scim_token(tenant_id=acme.id, actor=CLI_ACTOR, security=security)
    return issued.token


@pytest.fixture
def scim_auth(scim_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {scim_token}"}


@pytest.fixture
async def admin_key(acme: TenantRecord, security: Security) -> str:
    issued = await api_keys.create_admin(
        email="admin@acme.test", tenant_slug="acme", actor=CLI_ACTOR, security=security
    )
    return issued.key


@pytest.fixture
async def member(
    client: httpx.AsyncClient, scim_auth: dict[str, str], acme: TenantRecord, security: Security
) -> tuple[str, str]:
    """(user id, API key) of a plain member of acme (no roles), provisioned by SCIM."""
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "m@x.test",
        "displayName": "Member One",
    }
    person = (await client.post("/api/scim/Users", json=body, headers=scim_auth)).json()
    issued = await api_keys.create_api_key(
        tenant_id=acme.id,
        user_id=uuid.UUID(person["id"]),
        name="member key",
        actor=CLI_ACTOR,
        security=security,
    )
    return person["id"], issued.key


@pytest.fixture
async def operator_key(client: httpx.AsyncClient, security: Security) -> str:
    issued = await api_keys.create_admin(
        email="ops@define.wtf", tenant_slug=None, actor=CLI_ACTOR, security=security
    )
    return issued.key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_uvicorn(env: dict[str, str], log_path: Path, ready: str = "/readyz") -> Iterator[str]:
    """A real uvicorn process serving the app with `env` (its own process, its own caches);
    yields its base URL once `ready` answers 200, and stops it afterwards.

    Its log goes to `log_path`: a pipe nobody reads fills up after 64 KiB of request log lines
    and then blocks the server mid-request."""
    port = free_port()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "definewtf.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {log_path.read_text()!r}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Killed, so that it cannot serve (or listen on the database) into later tests.
                process.kill()
                process.wait()
                log = log_path.read_text()
                raise AssertionError(f"the server ignored SIGTERM: {log!r}") from None


@pytest.fixture
def uvicorn_server(cli_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A real uvicorn process on the test database; yields its base URL."""
    with running_uvicorn(cli_env, tmp_path / "uvicorn.log") as base:
        yield base


@pytest.fixture
def graphql(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """`await graphql(key, query, variables=None, host=None)` → the HTTP response of a
    GraphQL request with `Authorization: Bearer <key>` (on acme's host unless `host`)."""

    async def send(key: str, query: str, variables: dict | None = None, host: str | None = None):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {key}"}
        if host:
            headers["Host"] = host
        return await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    return send


@pytest.fixture
async def seeded(client: httpx.AsyncClient, scim_auth: dict[str, str]) -> dict[str, str]:
    """One user in one group of acme, by SCIM: `{"Users": id, "Groups": id}`, the targets
    of the write attempts in the bad-input suites (tests/scim/bad_input.py)."""
    user = await client.post(
        "/api/scim/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "target@acme.test",
            "title": "Pilot",
        },
        headers=scim_auth,
    )
    assert user.status_code == 201, user.text
    group = await client.post(
        "/api/scim/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Crew",
            "members": [{"value": user.json()["id"]}],
        },
        headers=scim_auth,
    )
    assert group.status_code == 201, group.text
    return {"Users": user.json()["id"], "Groups": group.json()["id"]}


@dataclass(frozen=True)
class _Observed:
    """The statements the app ran, as SQL text (arguments rendered in) and as run."""

    sql: list[str] = field(default_factory=list)
    statements: list[QueryString] = field(default_factory=list)

    def add(self, statement: QueryString) -> None:
        self.sql.append(str(statement))
        self.statements.append(statement)


@pytest.fixture
def _observed(app: Litestar, monkeypatch: pytest.MonkeyPatch) -> _Observed:
    engine = current_engine()
    original = type(engine).run_querystring
    seen = _Observed()

    async def observed(self, querystring, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self is engine:
            seen.add(querystring)
        return await original(self, querystring, *args, **kwargs)

    monkeypatch.setattr(type(engine), "run_querystring", observed)
    if isinstance(engine, ReusingSQLiteEngine):  # its writes of one hop, statement by statement
        original_write = ReusingSQLiteEngine.write_at_once

        async def observed_write(self, first, rest):  # type: ignore[no-untyped-def]
            if self is engine:
                for statement in (first, *rest):
                    seen.add(statement)
            return await original_write(self, first, rest)

        monkeypatch.setattr(ReusingSQLiteEngine, "write_at_once", observed_write)
    return seen


@pytest.fixture
def sql_log(_observed: _Observed) -> list[str]:
    """The SQL of every statement the app runs from now on, appended as it runs."""
    return _observed.sql


@pytest.fixture
def statement_log(_observed: _Observed) -> list[QueryString]:
    """Every statement the app runs from now on, as run: its text and arguments apart."""
    return _observed.statements


@pytest.fixture(autouse=True)
def _no_background_analyze(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statistics keeper analyzes tables in the background once a process has written a
    thousand rows (`definewtf.statistics`); across a whole suite that would happen in some
    arbitrary test, and its ANALYZE would show in that test's statement log. Only
    tests/test_statistics.py, which sets its own threshold, sees it run."""
    monkeypatch.setattr(statistics, "FIRST", 10**9)
