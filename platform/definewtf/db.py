"""The database: engine from a URL, binding the tables, and the one write transaction.

Piccolo binds a table to an engine lazily (`Table._meta.db`); `Database.bind()` assigns ours
to every table so that the engine is built from settings at start-up, never at import.

`write_transaction()` is the only way services write. It is correct on both engines:

- SQLite: a DEFERRED transaction that reads then writes fails at once with "database is
  locked" when another connection holds the write lock, whatever the busy timeout. So every
  write transaction is `BEGIN IMMEDIATE`, behind a process-wide `asyncio.Lock` (one writer at
  a time; SQLite therefore means one worker process), on a WAL database with a 30 s timeout.
- PostgreSQL: an ordinary transaction (READ COMMITTED). Services that read-modify-write a row
  lock it (`SELECT … FOR UPDATE`, see `lock_for_update`) or use single atomic statements.

A nested `write_transaction()` joins the outer one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.base import Query

from definewtf.errors import Conflict, Unavailable
from definewtf.tables import ALL_TABLES, Tenant

SQLITE_TIMEOUT_SECONDS = 30.0


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
        return SQLiteEngine(path=path, timeout=SQLITE_TIMEOUT_SECONDS)
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
        return PostgresEngine(config=config)
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r} (use sqlite or postgresql)")


def current_engine() -> Engine[Any]:
    return Tenant._meta.db


def is_sqlite(engine: Engine[Any] | None = None) -> bool:
    return (engine or current_engine()).engine_type == "sqlite"


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
        if isinstance(self.engine, PostgresEngine):
            await self.engine.start_connection_pool(min_size=2, max_size=20)
        else:
            await self.engine.run_ddl("PRAGMA journal_mode=WAL")
        await self.ping()

    async def stop(self) -> None:
        if isinstance(self.engine, PostgresEngine):
            await self.engine.close_connection_pool()

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


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """Run the block in one write transaction; everything in it commits or nothing does."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        yield  # joins the outer transaction
        return
    with database_errors():
        if isinstance(engine, SQLiteEngine):
            async with (
                _sqlite_write_lock(),
                engine.transaction(transaction_type=TransactionType.immediate),
            ):
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


@contextmanager
def database_errors() -> Iterator[None]:
    """A lost connection or a database that is down becomes the domain's Unavailable."""
    try:
        yield
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise Unavailable("the database is unreachable") from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "unable to open" in str(exc):
            raise Unavailable(f"the database is unavailable: {exc}") from exc
        raise


def current_engine_or_none() -> Engine[Any] | None:
    """The engine `Database.bind()` assigned, if any (Piccolo's own lookup otherwise)."""
    return Tenant._meta._db
