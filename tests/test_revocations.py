"""A process reuses a SCIM token's row until PostgreSQL says the tenant's tokens changed, or,
on SQLite, until anything at all is committed (definewtf.revocations): what it may trust, and
what makes it stop trusting.

Changes here are made the way another process or an operator makes them: by SQL on a
connection of their own, behind the services' back, so only the notification (PostgreSQL) or
SQLite's data_version can tell the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from definewtf.clock import utcnow
from definewtf.revocations import APPLICATION_NAME, RevocationFeed
from definewtf.security import Security
from definewtf.services import tokens
from definewtf.services.credentials import is_live, live_until
from definewtf.services.tenants import TenantRecord
from definewtf.settings import Settings

USERS = "/api/scim/Users"
#: The listening connections of this run's processes.
LISTENERS = (
    "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"
)


@dataclass
class App:
    """The in-process app with acme's token verified once, and the database behind it."""

    client: httpx.AsyncClient
    auth: dict[str, str]
    tenant: TenantRecord
    feed: RevocationFeed
    database_url: str
    sql_log: list[str]

    async def status(self) -> int:
        """The status of a SCIM request with the token."""
        return (await self.client.get(USERS, headers=self.auth)).status_code

    async def sql(self, statement: str, *args: object) -> str:
        """Run `statement` (`$1`-style arguments) on a connection of its own: another
        process's change."""
        if self.database_url.startswith("sqlite"):
            path = self.database_url.split("://", 1)[1][1:]  # as definewtf.db reads it
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("PRAGMA foreign_keys = 1")  # as Piccolo's connections: cascades
                cursor = db.execute(re.sub(r"\$\d+", "?", statement), [str(a) for a in args])
                db.commit()
                return f"{statement.split()[0]} {cursor.rowcount}"
        connection = await asyncpg.connect(self.database_url)
        try:
            return str(await connection.execute(statement, *args))
        finally:
            await connection.close()

    async def revoke(self) -> None:
        # Revoked when created: the app keeps whole seconds (definewtf.clock), so a revocation
        # at the database's own now() could lie up to a second in the app's future.
        await self.sql(
            "UPDATE scim_token SET revoked_at = created_at WHERE tenant = $1", self.tenant.id
        )

    def token_reads(self) -> int:
        """Reads of a token's row since the log was last cleared."""
        return sum(
            "scim_token" in sql and sql.lstrip().startswith("SELECT") for sql in self.sql_log
        )


@pytest.fixture
async def served(
    engine_name: str,
    client: httpx.AsyncClient,
    acme: TenantRecord,
    scim_auth: dict[str, str],
    security: Security,
    database_url: str,
    sql_log: list[str],
) -> App:
    app = App(client, scim_auth, acme, security.revocations, database_url, sql_log)
    assert app.feed.live
    # Twice: the first request writes the token's last_used_at, a commit SQLite sees.
    for _ in range(2):
        assert await app.status() == 200
    return app


@pytest.fixture
def postgres(engine_name: str) -> None:
    if engine_name != "postgresql":
        pytest.skip("on SQLite any commit makes every row read again")


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_a_known_tokens_row_is_read_once(served: App) -> None:
    served.sql_log.clear()
    for _ in range(3):
        assert await served.status() == 200
    assert served.token_reads() == 0


async def test_a_revocation_by_another_process_is_seen_by_the_next_request(served: App) -> None:
    await served.revoke()
    await served.feed.settled()
    assert await served.status() == 401


async def test_a_remembered_token_is_refused_once_its_expiry_comes(served: App) -> None:
    """A known token's request does not read its row, but its expiry still ends it: nothing
    is committed when the time comes, so no stamp changes."""
    ends = utcnow() + timedelta(seconds=2)
    await served.sql(
        "UPDATE scim_token SET expires_at = $1 WHERE tenant = $2", ends, served.tenant.id
    )
    await served.feed.settled()
    assert await served.status() == 200  # the row read again, and remembered
    served.sql_log.clear()
    assert await served.status() == 200
    assert served.token_reads() == 0
    await asyncio.sleep((ends - utcnow()).total_seconds())  # whole seconds: up to 2 s
    assert utcnow() >= ends
    assert await served.status() == 401


async def test_a_remembered_token_is_verified_again_when_its_verdict_is_forgotten(
    app: Litestar, acme: TenantRecord, scim_token: str, settings: Settings, sql_log: list[str]
) -> None:
    """What was let in is remembered no longer than the argon2 verdict that let it in."""
    security = Security(dataclasses.replace(settings, token_cache_seconds=1.0))
    await security.revocations.start(app.state.runtime.database.engine)
    check = functools.partial(
        tokens.authenticate_scim, tenant_id=acme.id, secret=scim_token, security=security
    )
    try:
        for _ in range(2):  # the first writes last_used_at: a commit SQLite's stamps see
            await check()
        verified = security.hasher.verifications
        sql_log.clear()
        await check()
        assert [sql for sql in sql_log if "scim_token" in sql] == []
        await asyncio.sleep(1.1)
        await check()
        assert security.hasher.verifications == verified + 1
    finally:
        await security.revocations.stop()


def test_a_remembered_rows_end_is_where_is_live_ends() -> None:
    """`live_until` (compared with the clock's whole seconds) and `is_live` agree, with
    revocations and expiries of whole seconds (the app's) and of fractions (an operator's)."""
    base = utcnow()
    ends = [None, *(base + timedelta(seconds=s) for s in (-1.5, -1, -0.25, 0, 0.25, 1, 1.5))]
    nows = [base + timedelta(seconds=s) for s in range(-2, 3)]
    for revoked_at, expires_at in itertools.product(ends, ends):
        row = {"revoked_at": revoked_at, "expires_at": expires_at}
        for now in nows:
            assert is_live(row, now) == (now.timestamp() < live_until(row)), (row, now)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE scim_token SET expires_at = created_at WHERE tenant = $1",
        "DELETE FROM scim_token WHERE tenant = $1",
        "DELETE FROM tenant WHERE id = $1",  # the tenant's cascade
    ],
)
async def test_every_way_of_ending_a_token_notifies(served: App, change: str) -> None:
    assert await served.sql(change, served.tenant.id) in {"UPDATE 1", "DELETE 1"}
    await served.feed.settled()
    # A deleted tenant's host is still in the tenant cache for a few seconds: the token, not
    # the host, is what refuses the request.
    assert await served.status() == 401


async def test_bookkeeping_writes_do_not_notify(postgres: None, served: App) -> None:
    """`last_used_at`, written by the request path once a minute, decides nothing: it must not
    make every process read its rows again."""
    before = served.feed.notifications
    await served.sql(
        "UPDATE scim_token SET last_used_at = $1 WHERE tenant = $2",
        utcnow() - timedelta(hours=1),
        served.tenant.id,
    )
    await served.feed.settled()
    assert served.feed.notifications == before
    served.sql_log.clear()
    assert await served.status() == 200
    assert served.token_reads() == 0


async def test_a_change_of_another_tenants_tokens_keeps_this_ones(
    postgres: None, served: App, globex: TenantRecord
) -> None:
    await served.sql("DELETE FROM scim_token WHERE tenant = $1", globex.id)
    await served.feed.settled()
    served.sql_log.clear()
    assert await served.status() == 200
    assert served.token_reads() == 0


async def test_a_lost_listener_ends_trust_until_it_is_back(postgres: None, served: App) -> None:
    """PostgreSQL restarted or the listening backend was killed: the notifications sent
    meanwhile are lost, so nothing remembered before may be trusted again."""
    terminated = await served.sql(
        LISTENERS.replace("SELECT 1", "SELECT pg_terminate_backend(pid)"), APPLICATION_NAME
    )
    assert terminated == "SELECT 1"
    await _until(lambda: not served.feed.live)

    # Down: every request reads its row, and a revocation made meanwhile is seen at once.
    served.sql_log.clear()
    assert await served.status() == 200
    assert served.token_reads() == 1
    await served.revoke()
    assert await served.status() == 401

    # Back: the feed reconnects by itself and rows are remembered again.
    await _until(lambda: served.feed.live)
    await served.sql("UPDATE scim_token SET revoked_at = NULL WHERE tenant = $1", served.tenant.id)
    await served.feed.settled()
    served.sql_log.clear()
    for _ in range(3):
        assert await served.status() == 200
    assert served.token_reads() == 1


async def test_a_stop_that_lands_as_a_heartbeat_comes_back_still_stops(
    postgres: None, served: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's asyncio.wait_for swallows a cancellation that arrives in the loop turn
    its result does. A shutdown whose stop() began as a heartbeat's echo came back waited
    for the listening task forever, and the server never exited."""
    feed = served.feed
    stopping: list[asyncio.Task[None]] = []

    class EchoesStartingAStop(dict[str, asyncio.Future[None]]):
        def get(self, payload: str, default: object = None) -> Any:
            if not stopping:  # the echo is about to be set: stop() begins in the same turn
                stopping.append(asyncio.get_running_loop().create_task(feed.stop()))
            return super().get(payload, default)

    monkeypatch.setattr(feed, "_awaited", EchoesStartingAStop(feed._awaited))
    await _until(lambda: bool(stopping))
    await asyncio.wait_for(asyncio.shield(stopping[0]), 5)
    deadline = time.monotonic() + 5  # the backend leaves pg_stat_activity as it exits
    while await served.sql(LISTENERS, APPLICATION_NAME) != "SELECT 0":
        assert time.monotonic() < deadline, "the listening connection is still open"
        await asyncio.sleep(0.05)


async def test_a_row_read_while_it_was_being_revoked_is_not_remembered(
    served: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp is taken before the read: a notification that arrives between the read and
    the remembering makes the remembered row stale at once."""
    from definewtf.services import credentials

    await served.sql("UPDATE scim_token SET prefix = prefix WHERE tenant = $1", served.tenant.id)
    await served.feed.settled()  # forgotten: the next request reads the row
    original = credentials.fetch
    revoked = False

    async def fetch_then_revoke(sql: str, *args: object) -> list[dict[str, object]]:
        nonlocal revoked
        rows = await original(sql, *args)
        if "scim_token" in sql and not revoked:
            revoked = True  # the row in hand is live; the revocation commits right after
            await served.revoke()
            await served.feed.settled()
        return rows

    monkeypatch.setattr(credentials, "fetch", fetch_then_revoke)
    # This request was already past its read when the token was revoked: like any request in
    # flight, it completes.
    assert await served.status() == 200
    assert revoked
    assert await served.status() == 401


async def test_on_sqlite_any_commit_makes_the_row_read_again(engine_name: str, served: App) -> None:
    """SQLite's data_version moves with every commit of another connection, the app's own
    writers included: while users are written, every request reads its token's row."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL is told which tenant's tokens changed (the tests above)")
    assert await served.sql("UPDATE tenant SET name = 'x' WHERE id = $1", served.tenant.id) == (
        "UPDATE 1"
    )
    served.sql_log.clear()
    for _ in range(2):
        assert await served.status() == 200
    assert served.token_reads() == 1


async def test_on_sqlite_a_commit_is_seen_by_the_next_stamp_of_the_same_iteration(
    engine_name: str, served: App
) -> None:
    """Every stamp reads the data version (from the WAL index's header, a `pread`): a commit
    between two requests served in one event-loop iteration is seen by the second."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL's stamps are read from memory")
    tenant = served.tenant.id
    first = served.feed.stamp(tenant)
    assert served.feed.stamp(tenant) == first
    # Another connection commits (the SQLite branch of `sql` does not yield to the loop).
    await served.sql("UPDATE tenant SET name = 'x' WHERE id = $1", tenant)
    second = served.feed.stamp(tenant)
    assert second != first
    assert served.feed.stamp(tenant) == second


async def test_a_listener_that_stops_receiving_is_not_trusted(postgres: None, served: App) -> None:
    """Behind a pooler in transaction mode, or after an UNLISTEN, the connection still answers
    queries but receives no notification: the feed's heartbeat, a notification it sends
    itself, stops coming back, and trust ends within two heartbeats."""
    feed = served.feed
    connection = feed._connection  # the feed's own: the test plays the pooler
    assert connection is not None
    async with feed._lock:
        await connection.execute("UNLISTEN *")
    await _until(lambda: not feed.live)
    await served.revoke()
    assert await served.status() == 401
    await _until(lambda: feed.live)  # it reconnected and LISTENs again
