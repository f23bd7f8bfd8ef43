"""The service owns the transaction: a failure half-way through leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import uuid
from dataclasses import replace

import aiosqlite
import asyncpg
import pytest

from definewtf import db
from definewtf.db import ReusingSQLiteEngine, current_engine, write_transaction
from definewtf.errors import Conflict
from definewtf.principals import CLI_ACTOR
from definewtf.services import audit, tenants, users
from definewtf.services.users import IndexedValue, UserData
from definewtf.tables import AuditEvent, Role, Tenant, User
from definewtf.writes import Insert, write_together


class Boom(Exception):
    pass


async def test_a_failure_half_way_through_create_tenant_leaves_nothing(client, monkeypatch) -> None:
    """create_tenant inserts the tenant, then its roles, then the audit event; the audit
    write fails: neither the tenant nor its roles may remain."""

    async def failing_record(**_: object) -> None:
        assert await Tenant.count().where(Tenant.slug == "halfway") == 1  # written so far
        raise Boom

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(Boom):
        await tenants.create_tenant(slug="halfway", actor=CLI_ACTOR)
    assert await Tenant.count() == 0
    assert await Role.count() == 0


async def test_a_failure_half_way_through_create_user_leaves_nothing(
    client, acme, security, sql_log
) -> None:
    """create_user writes the user, its audit event, then its searchable values (one
    statement on PostgreSQL, three in a transaction on SQLite); the values' write fails in
    the database: neither the user nor the event may remain."""
    events = await AuditEvent.count()
    # No attribute name: user_value.attr is NOT NULL.
    broken = IndexedValue(attr=None, entry=0, sub="", value="x", value_ci="x")  # type: ignore[arg-type]
    with pytest.raises((sqlite3.IntegrityError, asyncpg.NotNullViolationError)):
        await users.create_user(
            tenant_id=acme.id,
            data=UserData(user_name="ghost", values=(broken,)),
            actor=CLI_ACTOR,
            security=security,
        )
    [values_write] = [sql for sql in sql_log if "user_value" in sql]
    # The user's row was written before the values (SQLite) or by the same statement.
    before = sql_log[: sql_log.index(values_write) + 1]
    assert any('INSERT INTO "app_user"' in sql for sql in before), sql_log
    assert await User.count() == 0
    assert await AuditEvent.count() == events


async def test_nested_write_transactions_join_the_outer_one(client, acme, security) -> None:
    with pytest.raises(Boom):  # noqa: PT012 - the block is the transaction under test
        async with write_transaction():
            await users.create_user(
                tenant_id=acme.id,
                data=UserData(user_name="inner"),
                actor=CLI_ACTOR,
                security=security,
            )
            raise Boom
    assert await User.count() == 0


async def test_concurrent_write_transactions_all_commit(client, acme, security) -> None:
    """Read-then-write transactions under concurrency: no "database is locked" on SQLite, no
    lost write on PostgreSQL."""

    async def create(i: int) -> None:
        await users.create_user(
            tenant_id=acme.id, data=UserData(user_name=f"c{i}"), actor=CLI_ACTOR, security=security
        )

    await asyncio.gather(*(create(i) for i in range(40)))
    assert await User.count() == 40
    assert await AuditEvent.count().where(AuditEvent.action == "user.create") == 40


async def test_sqlite_reads_reuse_connections(client, acme, engine_name, monkeypatch) -> None:
    """Piccolo's SQLite engine opens a connection (and a thread) per query outside a
    transaction; ours keeps a few open: 200 reads, 8 at a time, open at most a handful."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL uses asyncpg's pool")
    engine = current_engine()
    opened = _count_opened(engine, monkeypatch)

    async def reader() -> None:
        for _ in range(25):
            assert await tenants.find_tenant_by_slug("acme") is not None

    await asyncio.gather(*(reader() for _ in range(8)))
    assert opened[0] <= 8
    # Every connection is either idle (kept, at most IDLE_CONNECTIONS) or closed: a leaked
    # one is a thread that keeps the process from exiting.
    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    assert len(workers) <= engine.IDLE_CONNECTIONS
    # A failed query does not poison the connection the next query gets.
    with pytest.raises(sqlite3.OperationalError):
        await engine.run_ddl("SELECT * FROM no_such_table")
    assert await tenants.find_tenant_by_slug("acme") is not None


async def test_sqlite_write_transactions_reuse_connections(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """Piccolo's SQLite transaction opened a connection (a thread, the file, the schema parsed
    again) per transaction and closed it after: 1 ms of a PATCH's 3.4. Ours takes a kept
    one; a transaction that fails part-way hands back no connection left inside it."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL uses asyncpg's pool")
    engine = current_engine()
    await _create(acme, security, "first@x.test")  # the connections a write needs, opened
    opened = _count_opened(engine, monkeypatch)
    for index in range(20):
        await _create(acme, security, f"u{index}@x.test")
    assert opened[0] == 0
    # A failure inside the transaction rolls it back; the next transaction is clean.
    with pytest.raises(RuntimeError):
        await _fail_half_way(acme)
    assert await Role.count().where(Role.name == "half") == 0
    assert all(not connection.in_transaction for connection in engine._idle)
    await _create(acme, security, "after@x.test")
    assert await User.count().where(User.tenant == acme.id) == 22


async def test_sqlite_statements_of_a_transaction_take_one_hop_each(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """Each call into aiosqlite wakes its connection's thread and then the event loop. In a
    transaction Piccolo made four per statement (`PRAGMA foreign_keys = 1`, the statement,
    its fetch, the cursor's close); ours make one, plus BEGIN and COMMIT."""
    if engine_name != "sqlite":
        pytest.skip("aiosqlite is SQLite's")
    hops = _count_hops(monkeypatch)
    async with write_transaction():
        for index in range(5):
            await Role.insert(Role(tenant=acme.id, name=f"r{index}", name_ci=f"r{index}"))
    assert hops == [5 + 2]
    assert await Role.count().where(Role.name.like("r%")) == 5


async def test_sqlite_writes_together_on_the_loop_and_commit_on_the_writer_thread(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """A user's create and update outside a transaction (`write_together`) run their
    statements on the event loop and hand only the COMMIT to the writer thread. Statement by
    statement through aiosqlite, a PATCH held the process's write lock for seven round trips
    between threads."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")
    created = await users.create_user(
        tenant_id=acme.id, data=UserData(user_name="first"), actor=CLI_ACTOR, security=security
    )
    endings: list[tuple[str, str]] = []
    real_finish = ReusingSQLiteEngine._finish

    def recorded(self, connection, ending):  # type: ignore[no-untyped-def]
        endings.append((ending, threading.current_thread().name.rsplit("_", 1)[0]))
        return real_finish(self, connection, ending)

    hops = _count_hops(monkeypatch)
    monkeypatch.setattr(ReusingSQLiteEngine, "_finish", recorded)
    await _create(acme, security, "second@x.test")
    await users.update_user(
        tenant_id=acme.id,
        user_id=created.id,
        change=lambda data: replace(
            data, display_name="Ada", attributes={**data.attributes, "displayName": "Ada"}
        ),
        actor=CLI_ACTOR,
        security=security,
    )
    assert hops == [0]
    assert endings == [("COMMIT", "sqlite-writer")] * 2
    stored = await users.get_user(tenant_id=acme.id, user_id=created.id, actor=CLI_ACTOR)
    assert stored.display_name == "Ada"
    assert await User.count().where(User.tenant == acme.id) == 2


async def test_sqlite_the_writer_keeps_a_page_cache_for_a_large_tenant(
    client, acme, security, engine_name
) -> None:
    """The connection every write runs on keeps `SQLITE_WRITER_CACHE_KIB` of pages (SQLite's
    2,000 KiB made a POST at 100,000 users read its b-tree paths from the file again: 2.5x
    its CPU); readers keep SQLite's default, their cache being dropped at every commit."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")
    await _create(acme, security, "first@x.test")
    engine = current_engine()
    assert isinstance(engine, ReusingSQLiteEngine)
    writer = engine._writer_connection
    assert writer is not None
    [(writer_cache,)] = writer.execute("PRAGMA cache_size").fetchall()
    [(reader_cache,)] = engine._reader().execute("PRAGMA cache_size").fetchall()
    assert writer_cache == -db.SQLITE_WRITER_CACHE_KIB
    assert db.SQLITE_WRITER_CACHE_KIB >= 16 * 1024
    with contextlib.closing(sqlite3.connect(":memory:")) as fresh:
        [(default_cache,)] = fresh.execute("PRAGMA cache_size").fetchall()
    assert reader_cache == default_cache


async def test_sqlite_a_write_waits_for_another_process_off_the_loop(
    client, acme, security, engine_name
) -> None:
    """Another process (an operator's CLI) holds SQLite's write lock: a write waits for it on
    the writer thread, as long as any connection of ours would, while the event loop goes on
    serving; then it is written."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's write lock")
    await _create(acme, security, "first@x.test")  # the writer connection is open
    other = sqlite3.connect(current_engine().connection_kwargs["database"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def commit_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker, releaser = asyncio.create_task(ticking()), asyncio.create_task(commit_later())
    started = time.monotonic()
    try:
        await _create(acme, security, "second@x.test")
    finally:
        ticker.cancel()
        await releaser
        other.close()
    # The loop ran while the write waited: a wait on the loop itself would have lasted the
    # whole busy timeout (30 s), the other process's commit never getting its turn.
    assert time.monotonic() - started < 5
    assert ticks >= 10
    assert await User.count().where(User.tenant == acme.id) == 2


async def test_sqlite_concurrent_writes_share_a_commit(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """Writes that wait for the write lock while another runs join its transaction and its
    COMMIT (one sync of the WAL for them all); each is answered once that COMMIT is done.
    Each committing alone, the lock was held from BEGIN until the loop came back after the
    COMMIT, and 16 clients wrote about 230 PATCHes a second with the loop 60% busy."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")
    endings = _count_endings(monkeypatch)
    created = await asyncio.gather(*(_create(acme, security, f"u{i}@x.test") for i in range(16)))
    assert len({user.id for user in created}) == 16
    assert set(endings) == {"COMMIT"}
    assert len(endings) < 4, endings
    assert await User.count().where(User.tenant == acme.id) == 16
    assert await AuditEvent.count().where(AuditEvent.action == "user.create") == 16


def role(name: str, tenant: uuid.UUID) -> Insert:
    values = {Role.id: uuid.uuid4(), Role.tenant: tenant, Role.name: name, Role.name_ci: name}
    return Insert.row(Role, values)


async def test_sqlite_a_failing_write_in_a_shared_commit_is_undone_alone(
    client, acme, engine_name
) -> None:
    """A write whose second statement fails is undone (its first row too) and reports the
    error; the writes sharing its transaction commit."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")

    nowhere = uuid.uuid4()  # no such tenant: the foreign key refuses the row
    outcomes = await asyncio.gather(
        write_together(role("first", acme.id)),
        write_together(role("doomed", acme.id), role("orphan", nowhere)),
        write_together(role("last", acme.id)),
        return_exceptions=True,
    )
    assert outcomes[0] is True
    assert outcomes[2] is True
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    names = {row["name"] for row in await Role.select(Role.name).where(Role.tenant == acme.id)}
    assert {"first", "last"} <= names
    assert not {"doomed", "orphan"} & names


async def test_sqlite_a_shared_commit_an_ended_loop_left_open_is_made_by_the_next_write(
    client, acme, engine_name
) -> None:
    """An event loop that ends between a write joining the shared transaction and its
    COMMIT (its committer cancelled: tests end loops so) leaves the transaction open on the
    writer connection. The next loop's first write commits it before it writes: both rows
    are there, and that write is answered (without it, it joined the old transaction, which
    no committer would ever end, and waited for ever)."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")
    engine = current_engine()
    assert isinstance(engine, ReusingSQLiteEngine)

    async def write_then_end() -> None:
        async with db._sqlite_write_lock():
            [first, *rest] = role("left open", acme.id).statements()
            await engine.write_at_once(first, rest)
            for committer in engine._committers:
                committer.cancel()  # the loop ends before the COMMIT

    def on_a_loop_that_ends() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(write_then_end())
            loop.run_until_complete(asyncio.sleep(0))  # the committer sees its cancel
        finally:
            loop.close()

    await asyncio.to_thread(on_a_loop_that_ends)
    assert engine._batch is not None
    assert await asyncio.wait_for(write_together(role("next", acme.id)), timeout=10) is True
    assert engine._batch is None
    names = {row["name"] for row in await Role.select(Role.name).where(Role.tenant == acme.id)}
    assert {"left open", "next"} <= names


async def test_sqlite_a_refused_write_answers_after_the_write_that_refused_it(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """Two creates of one userName at once: the second's insert finds the first's row in
    their shared transaction; it is answered after the COMMIT, so the read of the owner it
    then makes sees the first user and it is refused (409), not retried against nothing."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's writer connection")
    writes: list[int] = []
    real_write = ReusingSQLiteEngine.write_at_once

    async def counted(self, first, rest):  # type: ignore[no-untyped-def]
        writes.append(1)
        return await real_write(self, first, rest)

    monkeypatch.setattr(ReusingSQLiteEngine, "write_at_once", counted)
    outcomes = await asyncio.gather(
        _create(acme, security, "same@x.test"),
        _create(acme, security, "same@x.test"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], users.UserRecord)
    assert isinstance(outcomes[1], Conflict)
    # One insert each: answered at once, the second would have found no owner and retried.
    assert len(writes) == 2
    assert await User.count().where(User.tenant == acme.id) == 1


async def test_write_transactions_and_shared_commits_take_turns(client, acme, security) -> None:
    """A write transaction (another connection on SQLite) waits for the open shared
    transaction to commit before it begins: neither waits for the other until the busy
    timeout, and everything is written."""

    async def role(i: int) -> None:
        async with write_transaction():
            await Role.insert(Role(tenant=acme.id, name=f"r{i}", name_ci=f"r{i}"))

    started = time.monotonic()
    await asyncio.gather(
        *(_create(acme, security, f"u{i}@x.test") for i in range(10)),
        *(role(i) for i in range(10)),
        *(_create(acme, security, f"v{i}@x.test") for i in range(10)),
    )
    assert time.monotonic() - started < 10
    assert await User.count().where(User.tenant == acme.id) == 20
    names = {row["name"] for row in await Role.select(Role.name).where(Role.tenant == acme.id)}
    assert {f"r{i}" for i in range(10)} <= names


async def test_sqlite_foreign_keys_hold_inside_transactions(client, acme, engine_name) -> None:
    """Foreign keys are switched on when a connection opens, not before every statement."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL always enforces them")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await _role_of_no_tenant()
    assert await Role.count().where(Role.name == "orphan") == 0


async def _role_of_no_tenant() -> None:
    async with write_transaction():
        await Role.insert(Role(tenant=uuid.uuid4(), name="orphan", name_ci="orphan"))


def _count_hops(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """[calls into aiosqlite from now on]: each wakes a connection's thread, then the loop."""
    hops = [0]
    real_execute = aiosqlite.Connection._execute

    async def counting(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops[0] += 1
        return await real_execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return hops


def _count_opened(engine, monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """[connections the SQLite engine opens from now on]."""
    opened = [0]
    real_open = type(engine).get_connection

    async def counting(self):  # type: ignore[no-untyped-def]
        opened[0] += 1
        return await real_open(self)

    monkeypatch.setattr(type(engine), "get_connection", counting)
    return opened


async def _fail_half_way(acme) -> None:
    async with write_transaction():
        await Role.insert(Role(tenant=acme.id, name="half", name_ci="half"))
        raise RuntimeError("half-way")


async def _create(acme, security, user_name: str) -> users.UserRecord:
    return await users.create_user(
        tenant_id=acme.id, data=UserData(user_name=user_name), actor=CLI_ACTOR, security=security
    )


def _count_endings(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """[COMMIT or ROLLBACK of the writer connection, from now on]."""
    endings: list[str] = []
    real_finish = ReusingSQLiteEngine._finish

    def recorded(self, connection, ending):  # type: ignore[no-untyped-def]
        endings.append(ending)
        return real_finish(self, connection, ending)

    monkeypatch.setattr(ReusingSQLiteEngine, "_finish", recorded)
    return endings


async def test_postgres_connections_go_back_to_the_pool_without_a_reset_round_trip(
    client, acme, engine_name, monkeypatch
) -> None:
    """asyncpg's default release runs RESET ALL & co. on every connection (a round trip per
    query, as Piccolo takes one per query); ours only rolls back a transaction left open."""
    if engine_name != "postgresql":
        pytest.skip("SQLite has no pool")
    resets = 0
    real_reset = asyncpg.Connection.reset

    async def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal resets
        resets += 1
        return await real_reset(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "reset", counting)
    for _ in range(20):
        assert await tenants.find_tenant_by_slug("acme") is not None
    assert resets == 0

    pool = current_engine().pool
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")  # left open, as a failure half-way could
        await connection.execute("SET LOCAL statement_timeout = 1")
    for _ in range(4):  # whichever pooled connection each gets, none is mid-transaction
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SHOW statement_timeout") == "0"
