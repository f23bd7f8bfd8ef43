"""The WAL index's header as SQLite's data version (definewtf.wal_index): it must move whenever
`PRAGMA data_version` would, for every kind of change, or a revoked token would be trusted."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from definewtf.db import ReusingSQLiteEngine
from definewtf.wal_index import HEADER_BYTES, WalIndexWatch


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection, sqlite3.Connection]]:
    """A WAL database, a writer, and a reader that has read (so the WAL index is mapped)."""
    path = str(tmp_path / "db.sqlite3")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (a INTEGER)")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("SELECT count(*) FROM t").fetchone()
    yield path, writer, reader
    reader.close()
    writer.close()


def _in_another_process(path: str, sql: str) -> None:
    script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None)"
    script += "; c.execute(sys.argv[2]); c.close()"
    subprocess.run([sys.executable, "-c", script, path, sql], check=True, timeout=60)


def test_the_header_moves_whenever_data_version_does(database) -> None:
    path, writer, reader = database
    watch = WalIndexWatch.open(path)
    assert watch is not None

    def pragma() -> int:
        return int(reader.execute("PRAGMA data_version").fetchone()[0])

    changes: list[tuple[str, Callable[[], object]]] = [
        ("a commit of this process", lambda: writer.execute("INSERT INTO t VALUES (1)")),
        ("a read", lambda: writer.execute("SELECT count(*) FROM t").fetchall()),
        ("a commit of another process", lambda: _in_another_process(path, "DELETE FROM t")),
        ("a passive checkpoint", lambda: writer.execute("PRAGMA wal_checkpoint(PASSIVE)")),
        ("the WAL restarted by a commit", lambda: writer.execute("INSERT INTO t VALUES (2)")),
        ("a truncating checkpoint", lambda: writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")),
        ("a commit after it", lambda: writer.execute("UPDATE t SET a = a + 1")),
        ("a rolled-back write", lambda: writer.executescript("BEGIN; DELETE FROM t; ROLLBACK;")),
        (
            "a transaction of many pages",
            lambda: writer.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
                " INSERT INTO t SELECT i FROM n"
            ),
        ),
    ]
    before = (watch.version(), pragma())
    for name, change in changes:
        change()
        after = (watch.version(), pragma())
        if after[1] != before[1]:
            assert after[0] != before[0], f"{name}: data_version moved, the header did not"
        if name == "a read":
            assert after[0] == before[0], "a read changed nothing"
        before = after
    assert watch.version() == watch.version()
    watch.close()


def test_the_header_of_every_commit_is_new(database) -> None:
    """Commits in a row, by this process and another, each move the number, and it never comes
    back to a number given before (a remembered row's stamp is never matched again)."""
    path, writer, _ = database
    watch = WalIndexWatch.open(path)
    assert watch is not None
    seen = [watch.version()]
    for i in range(20):
        if i % 5 == 4:
            _in_another_process(path, "INSERT INTO t VALUES (0)")
        else:
            writer.execute("INSERT INTO t VALUES (?)", (i,))
        seen.append(watch.version())
    assert len(set(seen)) == len(seen)
    again = WalIndexWatch.open(path)  # opened anew (an engine closed and used again)
    assert again is not None
    assert again.version() not in seen
    watch.close()
    again.close()


def test_a_header_that_cannot_be_read_whole_counts_as_a_change(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    shm = tmp_path / "db.sqlite3-shm"
    shm.write_bytes(bytes(HEADER_BYTES))
    watch = WalIndexWatch.open(str(path))
    assert watch is not None
    steady = watch.version()
    assert watch.version() == steady
    shm.write_bytes(b"")
    first, second = watch.version(), watch.version()
    assert steady != first != second
    watch.close()


def test_a_database_not_in_wal_mode_is_read_by_pragma(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (a INTEGER)")  # a rollback journal: no -shm file
    assert WalIndexWatch.open(path) is None
    engine = ReusingSQLiteEngine(path=path)
    first = engine.data_version()
    assert engine.data_version() == first
    other.execute("INSERT INTO t VALUES (1)")
    assert engine.data_version() != first
    other.close()


def test_the_engine_numbers_a_wal_database_from_its_first_call(database) -> None:
    """The engine's first number comes from the header too: a row stamped then is trusted
    while nothing changes, and never under a number given later for another header."""
    path, writer, _ = database
    for _ in range(10):  # the process's watches have handed out numbers before
        watch = WalIndexWatch.open(path)
        assert watch is not None
        watch.close()
    engine = ReusingSQLiteEngine(path=path)
    first = engine.data_version()
    assert engine.data_version() == first
    numbers = {first}
    for i in range(5):
        writer.execute("INSERT INTO t VALUES (?)", (i,))
        numbers.add(engine.data_version())
    assert len(numbers) == 6
