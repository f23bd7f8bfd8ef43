"""The database: engine from a URL, binding the tables, and the one write transaction.

Piccolo binds a table to an engine lazily (`Table._meta.db`); `Database.bind()` assigns ours
to every table so that the engine is built from settings at start-up, never at import.

`write_transaction()` is the only way services write several statements (a single statement,
and `definewtf.writes.write_together`, need none on PostgreSQL). It is correct on both
engines:

- SQLite: a DEFERRED transaction that reads then writes fails at once with "database is
  locked" when another connection holds the write lock, whatever the busy timeout. So every
  write transaction is `BEGIN IMMEDIATE`, behind a process-wide `asyncio.Lock` (one writer at
  a time; SQLite therefore means one worker process), on a WAL database with a 30 s timeout.
  Writes of `write_together` that wait for that lock share one transaction and its COMMIT
  (`ReusingSQLiteEngine.write_at_once`); a write transaction commits them before it begins.
- PostgreSQL: an ordinary transaction (READ COMMITTED). Services that read-modify-write a row
  lock it (`SELECT … FOR UPDATE`, see `lock_for_update`), use single atomic statements, or
  write only if the row is still at the version they read (`write_together`).

A nested `write_transaction()` joins the outer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sqlite3
import string
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import aiosqlite
import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import (
    SQLiteEngine,
    SQLiteTransaction,
    TransactionType,
)
from piccolo.query.base import Query
from piccolo.querystring import QueryString
from piccolo.table import Table

from definewtf import sqlite_converters
from definewtf.errors import Conflict, Unavailable
from definewtf.tables import ALL_TABLES, Tenant
from definewtf.wal_index import WalIndexWatch

SQLITE_TIMEOUT_SECONDS = 30.0

#: The page cache of the connection every `write_at_once` runs on, in KiB (SQLite's default
#: is 2,000). A user's creation makes some 60 insertions into 18 b-trees (the user's row and
#: indexes, ten searchable values under four indexes each, the audit event's, the trigram
#: index), most of them where no recent write was (random ids, external ids, emails). At
#: 100,000 users (a 790 MB file) the pages on those paths no longer fit in 2 MB, and every
#: write read them from the file again: a POST cost 4.9-5.2 ms of CPU, 2.9-3.0 of it in the
#: kernel, against 1.8-2.0 with 16 or 64 MiB (bench/results/notes.md). The writer's cache
#: survives its own commits (a reader's is dropped whenever another connection commits, so
#: readers keep the default); SQLite fills it only as pages are read, so a small database
#: never takes it all.
SQLITE_WRITER_CACHE_KIB = 64 * 1024

_T = TypeVar("_T")

sqlite_converters.install()


def _run_gated(connection: sqlite3.Connection, statements: list[tuple[str, list[Any]]]) -> bool:
    """The first statement, then the others if it changed a row; whether it did."""
    (sql, args), *rest = statements
    if connection.execute(sql, args).rowcount < 1:
        return False
    for sql, args in rest:
        connection.execute(sql, args)
    return True


@dataclass(slots=True)
class _Batch:
    """Writes run in the writer connection's open transaction, waiting for its COMMIT: each
    one's future and its outcome (whether its first statement changed a row, or the error
    that undid it)."""

    loop: asyncio.AbstractEventLoop
    waiting: list[tuple[asyncio.Future[bool], bool | Exception]] = field(default_factory=list)

    def settle(self, commit: asyncio.Future[None]) -> None:
        """Tell each write the COMMIT's outcome."""
        if not commit.done() or commit.cancelled():
            self.fail(asyncio.CancelledError())
            return
        error = commit.exception()
        if error is not None:
            self.fail(error)
            return
        for waiter, outcome in self.waiting:
            if isinstance(outcome, Exception):
                _tell(waiter, waiter.set_exception, outcome)
            else:
                _tell(waiter, waiter.set_result, outcome)

    def fail(self, error: BaseException) -> None:
        for waiter, _ in self.waiting:
            if isinstance(error, asyncio.CancelledError):
                _tell(waiter, waiter.cancel)
            else:
                _tell(waiter, waiter.set_exception, error)


async def _to_the_end(future: asyncio.Future[_T]) -> _T:
    """Await a call on the writer thread. Should the caller be cancelled meanwhile, it still
    waits for the call to end: the write lock it holds keeps the connection to this call
    until then."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


def _tell(waiter: asyncio.Future[bool], how: Callable[..., object], *args: Any) -> None:
    """Resolve `waiter` unless its writer gave up waiting, or its event loop has ended (a
    batch an ended loop left open is committed by the next loop that writes)."""
    if not waiter.done():
        with contextlib.suppress(RuntimeError):  # "Event loop is closed"
            how(*args)


class ReusingSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine opens a connection (and a thread) for every query outside a
    transaction and closes it after; this one keeps a few open and hands each query one that
    no other query is using. Transactions take one of them too (`_ReusingTransaction`).

    A SELECT outside a transaction runs on the event loop itself, on a read-only connection
    of the loop's thread (`_read_inline`): an indexed read takes SQLite tens of microseconds,
    and the hops to and from aiosqlite's thread (four per statement) cost more than that.

    A write of statements known up front (`write_at_once`) runs on the loop too, on the
    engine's writer connection, and only its COMMIT (the sync to disk) on a thread.

    No asyncio primitive is held, so one engine serves every event loop (tests run many).
    """

    IDLE_CONNECTIONS = 4

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._idle: list[aiosqlite.Connection] = []
        self._readers = threading.local()
        self._tables: set[str] = set()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        #: `write_at_once`'s connection, used by one write at a time (the write lock), on the
        #: loop or on the writer thread.
        self._writer_connection: sqlite3.Connection | None = None
        #: The writes in the writer connection's open transaction, waiting for its COMMIT.
        self._batch: _Batch | None = None
        self._committers: set[asyncio.Task[None]] = set()
        #: What `data_version` reads: the WAL index's header; False where it cannot be read
        #: (`PRAGMA data_version` instead), None until the first call.
        self._wal_index: WalIndexWatch | Literal[False] | None = None

    async def write_at_once(
        self, first: QueryString, rest: Sequence[QueryString]
    ) -> bool | asyncio.Future[bool]:
        """`first`, then `rest` if `first` changed a row, all or nothing; whether `first`
        changed a row, or a future of it that resolves once the transaction holding the
        write has committed. The caller holds the process's write lock
        (`sqlite_write_at_once`), which is what keeps the writer connection to one user, and
        awaits the future after letting go of the lock.

        The statements run on the event loop, as reads do (`_read_inline`): tens to hundreds
        of microseconds of SQLite, no waiting, since nobody else in the process writes and
        the lock is taken without a busy wait (another process writing: the whole
        transaction goes to the writer thread, which may wait for it). The COMMIT, which
        syncs the WAL to disk, runs on the writer thread.

        Writes share COMMITs (group commit): the first write opens the writer connection's
        transaction and queues its COMMIT behind the writes already waiting for the lock;
        those run their statements in the same transaction, each in a savepoint of its own
        (a write that fails or changes nothing is undone alone), and all learn the outcome
        of the one COMMIT. Committing each write alone, the lock was held from BEGIN until
        the loop came back to the writer after its COMMIT: 3.8-3.9 ms a PATCH on one busy
        worker (the statements 0.38 ms, the COMMIT 1.1 ms, the rest waiting for the loop's
        turn), so 16 clients wrote about 230 PATCHes a second with the loop 60% busy.

        Statement by statement through aiosqlite, a PATCH held the write lock for about seven
        round trips between threads, each waiting its turn for the GIL and the event loop
        while the loop served the other requests: SQLite wrote 200 PATCHes a second at any
        concurrency with the process half idle. All on the writer thread, the statements
        still waited for the GIL after each call: 280 a second. One event loop writes at a
        time: the engine is not shared by loops running at once (tests run theirs one after
        the other)."""
        statements = [compile_querystring(q, self.engine_type) for q in (first, *rest)]
        loop = asyncio.get_running_loop()
        if self._batch is not None and self._batch.loop is not loop:
            await self.commit_batch()  # left open by an event loop that ended before its COMMIT
        connection = self._writer_connection or self._open_writer()
        if self._batch is None:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                return await self._on_writer_thread(self._write_waiting, statements)
            self._batch = _Batch(loop)
            committer = loop.create_task(self._commit_in_turn(self._batch))
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        batch = self._batch
        outcome: bool | Exception
        try:
            outcome = self._run_in_savepoint(connection, statements)
        except Exception as exc:
            if self._writer_connection is not connection or not connection.in_transaction:
                self._abandon_batch(exc)  # the other writes of the transaction are lost too
                raise
            outcome = exc
        # Every write is answered after the COMMIT, the refused and the failed ones too: what
        # refused it may be a write of the batch, which a read made after the answer must see.
        waiter: asyncio.Future[bool] = loop.create_future()
        batch.waiting.append((waiter, outcome))
        return waiter

    async def _commit_in_turn(self, batch: _Batch) -> None:
        """The batch's COMMIT, once the writes waiting for the lock when it was opened have
        joined it (asyncio's lock serves its waiters in order)."""
        async with _sqlite_write_lock():
            if self._batch is batch:  # else a write transaction committed it first
                await self.commit_batch()

    async def commit_batch(self) -> None:
        """COMMIT the writes of `write_at_once` waiting for it (the caller holds the write
        lock); each learns the outcome. Before anything else uses SQLite's write lock."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        connection = self._writer_connection
        assert connection is not None, "a batch is opened on the writer connection"
        commit = self._on_writer(self._finish, connection, "COMMIT")
        try:
            await _to_the_end(commit)
        except Exception:  # noqa: S110 -- the outcome is the writes', told below
            pass
        finally:
            batch.settle(commit)  # cancelled or not: the COMMIT has ended

    def _abandon_batch(self, error: BaseException) -> None:
        """The open transaction is gone (SQLite rolls a whole transaction back on some
        errors): every write in it fails with `error`."""
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.fail(error)

    def _open_writer(self) -> sqlite3.Connection:
        # No busy timeout: a lock another process holds must not stall the event loop.
        connection: sqlite3.Connection = sqlite3.connect(
            **{**self.connection_kwargs, "timeout": 0.0, "check_same_thread": False}
        )
        connection.execute("PRAGMA foreign_keys = 1")
        connection.execute(f"PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}")  # KiB when < 0
        self._writer_connection = connection
        return connection

    def _run_in_savepoint(
        self, connection: sqlite3.Connection, statements: list[tuple[str, list[Any]]]
    ) -> bool:
        """The statements of one write inside the open transaction: undone if the first
        changes nothing (False) or any fails."""
        connection.execute("SAVEPOINT write_at_once")
        try:
            written = _run_gated(connection, statements)
        except BaseException:
            try:
                connection.execute("ROLLBACK TO write_at_once")
                connection.execute("RELEASE write_at_once")
            except sqlite3.Error:
                # The transaction went with the error, or cannot be trusted: all of it goes
                # (`_finish` closes a connection that cannot end it).
                with contextlib.suppress(sqlite3.Error):
                    self._finish(connection, "ROLLBACK")
            raise
        if not written:
            connection.execute("ROLLBACK TO write_at_once")
        connection.execute("RELEASE write_at_once")
        return written

    def _run_begun(
        self, connection: sqlite3.Connection, statements: list[tuple[str, list[Any]]]
    ) -> bool:
        """The statements of a begun transaction: rolled back if the first changes nothing
        (False) or any fails."""
        try:
            written = _run_gated(connection, statements)
        except BaseException:
            self._finish(connection, "ROLLBACK")
            raise
        if not written:
            connection.execute("ROLLBACK")
        return written

    def _write_waiting(self, statements: list[tuple[str, list[Any]]]) -> bool:
        """On the writer thread: the whole transaction, waiting as long as a connection of
        the engine would for another process's write to end."""
        connection = self._writer_connection or self._open_writer()
        connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_TIMEOUT_SECONDS * 1000)}")
        try:
            connection.execute("BEGIN IMMEDIATE")
            written = self._run_begun(connection, statements)
            if written:
                self._finish(connection, "COMMIT")
            return written
        finally:
            if self._writer_connection is connection:
                connection.execute("PRAGMA busy_timeout = 0")

    def _finish(self, connection: sqlite3.Connection, ending: str) -> None:
        """COMMIT or ROLLBACK; a transaction that cannot end leaves a connection nobody uses
        again."""
        try:
            connection.execute(ending)
        except BaseException:
            try:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            except sqlite3.Error:
                self._close_writer()
            raise

    async def _on_writer_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        """`fn(*args)` on the writer thread (`_to_the_end`)."""
        return await _to_the_end(self._on_writer(fn, *args))

    def _on_writer(self, fn: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        return asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    def _close_writer(self) -> None:
        connection, self._writer_connection = self._writer_connection, None
        if connection is not None:
            connection.close()

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        """Piccolo's, compiling with `compile_querystring` (see `CompilingPostgresEngine`)."""
        if self.log_queries or self.log_responses or querystring._frozen_compiled_strings:
            return await super().run_querystring(querystring, in_pool)
        query, args = compile_querystring(querystring, self.engine_type)
        kind, table = querystring.query_type, querystring.table
        transaction = self.current_transaction.get()
        if transaction:
            return await self._run_in_existing_connection(
                transaction.connection, query, args, kind, table
            )
        return await self._run_in_new_connection(query, args, kind, table)

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        if query_type == "insert" and sqlite3.sqlite_version_info < (3, 35):
            # No RETURNING before 3.35: Piccolo's own path reads the row back.
            return await super()._run_in_new_connection(query, args, query_type, table)
        if query_type == "select" or query.lstrip()[:6].upper() == "SELECT":
            with contextlib.suppress(_Busy):
                return self._read_inline(query, args or [])
        connection = await self.borrow()
        try:
            rows = await connection.execute_fetchall(query, args or [])
            await connection.commit()
        except BaseException:
            # The connection may be mid-transaction or broken: don't hand it to anyone else.
            await connection.close()
            raise
        await self.give_back(connection)
        return rows

    async def _run_in_existing_connection(
        self,
        connection: aiosqlite.Connection,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        """A statement of a transaction, in one hop to the connection's thread and back;
        Piccolo's made four (`PRAGMA foreign_keys = 1`, the statement, its fetch, the cursor's
        close), each a wake-up of another thread: a PATCH's 7 statements took 0.8 ms of
        kernel time. Foreign keys are on since `get_connection` opened the connection."""
        if query_type == "insert" and sqlite3.sqlite_version_info < (3, 35):
            return await super()._run_in_existing_connection(
                connection, query, args, query_type, table
            )
        return await connection.execute_fetchall(query, args or [])

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return _ReusingTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def borrow(self) -> aiosqlite.Connection:
        """A connection no other query is using: an idle one, else a new one."""
        return self._idle.pop() if self._idle else await self.get_connection()

    async def give_back(self, connection: aiosqlite.Connection) -> None:
        """Keep a connection for the next query, unless enough are kept or it was left
        inside a transaction."""
        if connection.in_transaction or len(self._idle) >= self.IDLE_CONNECTIONS:
            await connection.close()
        else:
            self._idle.append(connection)

    def _read_inline(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        """The rows of a SELECT, read on this thread without waiting: in WAL mode a reader
        is never blocked by the writer. Should the database still be busy (a checkpoint,
        recovery), `_Busy` sends the read to aiosqlite's thread, which may wait."""
        reader = self._reader()
        try:
            cursor = reader.execute(query, args)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise _Busy from exc
            raise
        try:
            rows = cursor.fetchall()
            names = [column[0] for column in cursor.description or ()]
        finally:
            cursor.close()
        # Tuples made dicts here, in C: Piccolo's `dict_factory`, a comprehension per row, was
        # a sixth of fetching a page of users.
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection."""
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            kwargs = {**self.connection_kwargs, "timeout": 0.0}
            reader = sqlite3.connect(**kwargs)
            reader.execute("PRAGMA query_only = 1")  # a write slipped in here fails loudly
            self._readers.connection = reader
        return reader

    def has_table(self, name: str) -> bool:
        """Whether the table (a virtual one too) exists; remembered once it does."""
        if name not in self._tables:
            row = self._reader().execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            )
            if row.fetchone() is not None:
                self._tables.add(name)
        return name in self._tables

    def data_version(self) -> int:
        """A number that changes whenever any other connection — this process's writers,
        another process — commits a change to the database (definewtf.revocations): read from
        the WAL index's header (`WalIndexWatch`), or where that cannot be read, SQLite's
        `PRAGMA data_version` on this thread's reader."""
        if self._wal_index is None:
            # The reader's read transaction maps the WAL index, which then stays while the
            # reader is open; a database not in WAL mode has none (`False`: PRAGMA it is).
            self._pragma_data_version()
            self._wal_index = WalIndexWatch.open(self.path) or False
        return self._wal_index.version() if self._wal_index else self._pragma_data_version()

    def _pragma_data_version(self) -> int:
        (version,) = self._reader().execute("PRAGMA data_version").fetchone()
        return int(version)

    async def close_idle(self) -> None:
        await self.commit_batch()
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
        if self._writer_connection is not None:  # no thread started for an engine that never wrote
            await self._on_writer_thread(self._close_writer)
        if self._wal_index:
            self._wal_index.close()
        self._wal_index = None
        reader = getattr(self._readers, "connection", None)
        if reader is not None:
            reader.close()
            del self._readers.connection


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class _Busy(Exception):
    """SQLite could not start the read at once."""


class _ReusingTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction, on a connection the engine keeps rather than a new one
    per transaction: opening one (a thread, the file, the schema parsed again) and closing it
    was most of a write's cost (a PATCH: 3.4 ms of CPU, 1.2 ms of it in the kernel). A
    connection that fails, or is left inside a transaction, is closed, never kept."""

    async def get_connection(self) -> aiosqlite.Connection:
        engine: ReusingSQLiteEngine = self.engine  # type: ignore[assignment]
        return await engine.borrow()

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            await self.connection.close()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        engine: ReusingSQLiteEngine = self.engine  # type: ignore[assignment]
        try:
            if exception:
                if not self._rolled_back:  # the block may have rolled back itself
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
        except BaseException:
            await self.connection.close()
            raise
        finally:
            self.engine.current_transaction.reset(self.context)
        await engine.give_back(self.connection)
        return exception is None


#: How the statements run inside `planned_once()` / `planned_each_time()` are planned on
#: PostgreSQL: on connections of a pool of their own with these settings (nothing changes on
#: SQLite, which plans at prepare). Left to choose ("auto"), PostgreSQL plans a prepared
#: statement for the values bound five times, then keeps its generic plan (made without them)
#: if that is estimated no dearer.
#:
#: "once": a `userName sw` / `co` page (a range or a pattern, whose generic estimate is 0.5%
#: of the tenant) was planned at every search, its correlated groups subquery included:
#: 240 us a statement against 133 us with its plan kept (10,000 users). Not for every
#: statement: a `LIMIT $n` or `OFFSET $n` planned without its value is taken for a tenth of
#: the rows; when every connection planned once, at 100,000 users the page at startIndex
#: 90,001 took 29 ms against 11 ms (3.18x the first page, item 3 of issue 6 asks <= 2x) and
#: a GraphQL page after 90% of the users 59 ms against 35.
#:
#: "each time": a filter on a value kept in `user_value` (`title eq "Engineer"`). Planned
#: without the value, `value_ci = $n` is taken for one user's (nearly every value there is
#: distinct), so from the sixth search on a title everyone has was read whole and sorted:
#: 0.44 s for the page and 0.48 s for its count at 100,000 users, against 10 ms and 94 ms
#: planned for the value. Planning each time costs a fraction of a millisecond.
_PLANNING = {
    "once": {"plan_cache_mode": "force_generic_plan"},
    "each time": {"plan_cache_mode": "force_custom_plan"},
}
_planning: contextvars.ContextVar[str | None] = contextvars.ContextVar("planning", default=None)


@contextmanager
def _planned(how: str) -> Iterator[None]:
    token = _planning.set(how)
    try:
        yield
    finally:
        _planning.reset(token)


def planned_once() -> contextlib.AbstractContextManager[None]:
    """Statements run inside (outside a transaction) go to connections that plan each
    statement once (`_PLANNING`)."""
    return _planned("once")


def planned_each_time() -> contextlib.AbstractContextManager[None]:
    """Statements run inside (outside a transaction) go to connections that plan each
    statement for the values bound, every time it runs (`_PLANNING`)."""
    return _planned("each time")


def planned_once_here() -> bool:
    """Whether a statement run now is planned once, without its values (`planned_once()`,
    on PostgreSQL, outside a transaction)."""
    return _planning.get() == "once" and concurrent_reads()


class CompilingPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine, compiling a statement with `compile_querystring`: Piccolo
    splits every template of a statement's tree with `string.Formatter` on every run, a
    tenth of a PATCH's server CPU (py-spy); ours are the same few templates again and again.
    Otherwise the same: the transaction's connection, else one of the pool's, or of the
    pool planning as `planned_once()` or `planned_each_time()` asks."""

    __slots__ = ("planning_pools",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.planning_pools: dict[str, asyncpg.Pool] = {}

    async def start_pools(self, **options: Any) -> None:
        await self.start_connection_pool(**options)
        for how, settings in _PLANNING.items():
            self.planning_pools[how] = await asyncpg.create_pool(
                **self.config,
                **{**options, "min_size": 1, "max_size": options["max_size"] // 2},
                server_settings=settings,
            )

    async def close_pools(self) -> None:
        pools, self.planning_pools = self.planning_pools, {}
        for pool in pools.values():
            await pool.close()
        if self.pool is not None:
            await self.close_connection_pool()

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        if self.log_queries or querystring._frozen_compiled_strings is not None:
            return await super().run_querystring(querystring, in_pool)
        query, args = compile_querystring(querystring)
        transaction = self.current_transaction.get()
        if transaction:
            return await transaction.connection.fetch(query, *args)
        planning = self.planning_pools.get(_planning.get() or "") if in_pool else None
        if planning is not None:
            async with planning.acquire() as connection:
                return await connection.fetch(query, *args)
        if in_pool and self.pool:
            return await self._run_in_pool(query, args)
        return await self._run_in_new_connection(query, args)


@functools.lru_cache(maxsize=4096)
def _literals(template: str) -> tuple[str, ...]:
    """The text around a template's `{}` placeholders, as Piccolo reads it."""
    return tuple(literal for literal, *_ in string.Formatter().parse(template))


def compile_querystring(
    querystring: QueryString, engine_type: str = "postgres"
) -> tuple[str, list[Any]]:
    """The text (`$1`, `$2` … on PostgreSQL, `?` on SQLite) and arguments of a QueryString
    tree: what Piccolo's `QueryString.compile_string(engine_type)` returns
    (tests/test_query_compilation.py)."""
    numbered = engine_type != "sqlite"
    parts: list[str] = []
    args: list[Any] = []

    def add(node: QueryString) -> None:
        values = node.args
        for index, literal in enumerate(_literals(node.template)):
            parts.append(literal)
            if index < len(values):
                value = values[index]
                if isinstance(value, QueryString):
                    add(value)
                else:
                    args.append(value)
                    parts.append(f"${len(args)}" if numbered else "?")

    add(querystring)
    return "".join(parts), args


def engine_from_url(url: str) -> Engine[Any]:
    """Build a Piccolo engine: `sqlite:///relative/path`, `sqlite:////abs/path`, or
    `postgresql://user[:password]@host[:port]/dbname`."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:///x → "x"
        if not path:
            raise ValueError("DATABASE_URL sqlite:/// needs a file path")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return ReusingSQLiteEngine(path=path, timeout=SQLITE_TIMEOUT_SECONDS)
    if scheme in {"postgres", "postgresql"}:
        parts = urlsplit(url)
        config: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "database": unquote(parts.path.lstrip("/")) or "postgres",
        }
        if parts.password:
            config["password"] = unquote(parts.password)
        return CompilingPostgresEngine(config=config)
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r} (use sqlite or postgresql)")


def current_engine() -> Engine[Any]:
    return Tenant._meta.db


def is_sqlite(engine: Engine[Any] | None = None) -> bool:
    return (engine or current_engine()).engine_type == "sqlite"


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of one statement of ours (`{}` for each argument), as dicts, in the current
    transaction if there is one.

    Straight to the engine: `Table.raw()` wraps the same statement in a query object whose
    layers cost a third of the time of the statements every request runs (py-spy).
    """
    engine = current_engine()
    rows = await engine.run_querystring(QueryString(sql, *args))
    return engine.transform_response_to_dicts(rows) if rows else []


async def _release_connection(connection: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool. asyncpg's default reset is a round
    trip on every release (`RESET ALL`, `UNLISTEN *`, advisory unlock, `CLOSE ALL`) and Piccolo
    takes a pooled connection per query, so it doubled the statements of every request; we
    never LISTEN, take advisory locks, keep cursors or change session settings. A transaction
    a failure left open is still rolled back."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class Database:
    """The engine of one process, bound to every table, with its lifecycle."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_from_url(url)

    def bind(self) -> None:
        for table in ALL_TABLES:
            table._meta.db = self.engine

    async def start(self) -> None:
        """Bind the tables and open connections; fail loudly if the database is unreachable."""
        self.bind()
        if isinstance(self.engine, CompilingPostgresEngine):
            await self.engine.start_pools(min_size=2, max_size=20, reset=_release_connection)
        else:
            await self.engine.run_ddl("PRAGMA journal_mode=WAL")
        await self.ping()

    async def stop(self) -> None:
        """Close every connection the engine holds (also after queries run without start())."""
        if isinstance(self.engine, CompilingPostgresEngine):
            await self.engine.close_pools()
        elif isinstance(self.engine, ReusingSQLiteEngine):
            await self.engine.close_idle()

    async def ping(self) -> None:
        await self.engine.run_ddl("SELECT 1")


# One lock per event loop: asyncio primitives belong to the loop they first wait on, and tests
# run several apps (each on its own loop) in one process.
_sqlite_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_write_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _sqlite_write_locks.get(loop)
    if lock is None:
        lock = _sqlite_write_locks[loop] = asyncio.Lock()
    return lock


async def sqlite_write_at_once(first: QueryString, rest: Sequence[QueryString]) -> bool:
    """`ReusingSQLiteEngine.write_at_once`, behind the process's write lock (the writer
    thread's transaction and `write_transaction()`'s take turns)."""
    engine = current_engine()
    assert isinstance(engine, ReusingSQLiteEngine), "SQLite only"
    with database_errors():
        async with _sqlite_write_lock():
            outcome = await engine.write_at_once(first, rest)
        return outcome if isinstance(outcome, bool) else await outcome


def in_transaction() -> bool:
    """Whether the caller runs inside a `write_transaction()`."""
    return current_engine().current_transaction.get() is not None


def concurrent_reads() -> bool:
    """Whether two statements can run at once: on PostgreSQL outside a transaction, each on a
    connection of the pool (a transaction has one connection; SQLite reads on the loop)."""
    return not is_sqlite() and not in_transaction()


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """Run the block in one write transaction; everything in it commits or nothing does."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        yield  # joins the outer transaction
        return
    with database_errors():
        if isinstance(engine, SQLiteEngine):
            async with _sqlite_write_lock():
                if isinstance(engine, ReusingSQLiteEngine):
                    await engine.commit_batch()  # its transaction holds SQLite's write lock
                async with engine.transaction(transaction_type=TransactionType.immediate):
                    yield
        else:
            async with engine.transaction():
                yield


async def lock_for_update(query: Query[Any, Any]) -> Any:
    """Run a SELECT with row locks on PostgreSQL; on SQLite the IMMEDIATE transaction
    already excludes every other writer, so the plain SELECT is just as safe."""
    if is_sqlite():
        return await query
    return await query.lock_rows()  # type: ignore[attr-defined]


def unique_violation_index(exc: BaseException) -> str | None:
    """The index (PostgreSQL) or column list (SQLite) a unique violation names, else None."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return str(exc.constraint_name or "")
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc):
        return str(exc).split("UNIQUE constraint failed:", 1)[1].strip()
    return None


@contextmanager
def unique_violation_as(conflict: Conflict) -> Iterator[None]:
    """Turn the database's unique violation into the domain's Conflict: the database, not
    Python, decides uniqueness, and both engines' errors map here, in one place."""
    try:
        yield
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        if unique_violation_index(exc) is None:
            raise
        raise conflict from exc


#: What a database that is down, restarting or unreachable raises: connection refused or
#: reset (OSError), a connection that died (asyncpg's connection errors, and the
#: InterfaceError "connection is closed"; other InterfaceErrors are our own mistakes, such as
#: too many parameters, and must not tell a client to retry), the server shutting down or
#: starting up (operator intervention: AdminShutdown, CannotConnectNow), no free connection in
#: time (TimeoutError).
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means the database cannot answer now: a client should
    retry later (503), not report a bug (500)."""
    while exc is not None:
        if isinstance(exc, (Unavailable, *_UNAVAILABLE)):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
            return True
        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "unable to open" in str(exc)
        ):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


@contextmanager
def database_errors() -> Iterator[None]:
    """A lost connection or a database that is down becomes the domain's Unavailable."""
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc) and not isinstance(exc, Unavailable):
            raise Unavailable("the database is unavailable; retry shortly") from exc
        raise


def current_engine_or_none() -> Engine[Any] | None:
    """The engine `Database.bind()` assigned, if any (Piccolo's own lookup otherwise)."""
    return Tenant._meta._db
