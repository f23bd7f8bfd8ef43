"""`definewtf.sqlite_converters` reads back what SQLite stores exactly as Piccolo's converters
did: the same types and values, edge cases included (they defer to Piccolo's there)."""

from __future__ import annotations

import datetime
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from piccolo.engine import sqlite as piccolo_sqlite

from definewtf import sqlite_converters

PICCOLO = {
    "UUID": piccolo_sqlite.convert_uuid_out,
    "INTEGER": piccolo_sqlite.convert_int_out,
    "TIMESTAMPTZ": piccolo_sqlite.convert_timestamptz_out,
    "BOOLEAN": piccolo_sqlite.convert_boolean_out,
}

UTC = datetime.UTC
STORED: list[tuple[str, Any]] = [
    ("UUID", uuid.uuid4()),
    ("UUID", uuid.UUID(int=0)),
    ("UUID", "{12345678-1234-5678-1234-567812345678}"),  # not the canonical text
    ("UUID", "1234567812345678123456781234567a"),  # digits only would be stored as a number
    ("INTEGER", 0),
    ("INTEGER", -7),
    ("INTEGER", 2**62),
    ("INTEGER", "1.0"),  # text SQLite lets into an INTEGER column
    ("INTEGER", 1.5),
    ("TIMESTAMPTZ", datetime.datetime(2026, 11, 30, 21, 32, 46, tzinfo=UTC)),
    ("TIMESTAMPTZ", datetime.datetime(2026, 11, 30, 21, 32, 46, 123456, tzinfo=UTC)),
    ("TIMESTAMPTZ", "2026-11-30 21:32:46"),  # no offset: Piccolo's sets UTC
    ("TIMESTAMPTZ", "2026-11-30T21:32:46+02:00"),  # Piccolo's replaces the offset by UTC
    ("BOOLEAN", True),
    ("BOOLEAN", False),
]


@pytest.fixture
def stored() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE t (i INTEGER PRIMARY KEY, kind TEXT, u UUID, n INTEGER,"
        " ts TIMESTAMPTZ, b BOOLEAN)"
    )
    column = {"UUID": "u", "INTEGER": "n", "TIMESTAMPTZ": "ts", "BOOLEAN": "b"}
    for i, (kind, value) in enumerate(STORED):
        # Piccolo's adapters (registered on import) store the Python values as it does.
        connection.execute(
            f"INSERT INTO t (i, kind, {column[kind]}) VALUES (?, ?, ?)",  # noqa: S608
            (i, kind, value),
        )
    yield connection
    connection.close()


def test_each_stored_value_reads_back_as_piccolo_read_it(stored: sqlite3.Connection) -> None:
    # The text SQLite hands a converter: a number's as SQLite writes it.
    raw = stored.execute(
        "SELECT kind, CAST(coalesce(u, n, ts, b) AS TEXT) FROM t ORDER BY i"
    ).fetchall()
    assert len(raw) == len(STORED)
    for kind, text in raw:
        stored_bytes = text.encode()
        ours = sqlite_converters.CONVERTERS[kind](stored_bytes)
        theirs = PICCOLO[kind](stored_bytes)
        assert (type(ours), ours) == (type(theirs), theirs), (kind, text)
        if kind == "TIMESTAMPTZ":
            assert ours.tzinfo is UTC
        if kind == "UUID":
            assert str(ours) == str(theirs)
            assert hash(ours) == hash(theirs)
            assert ours.is_safe == theirs.is_safe


def test_definewtf_db_installs_them_over_piccolos() -> None:
    """Installed when `definewtf.db` is imported, after Piccolo registered its own: every
    connection that parses declared types (the engine's) then uses them."""
    import definewtf.db  # noqa: F401 -- the import installs them

    for type_name, converter in sqlite_converters.CONVERTERS.items():
        assert sqlite3.converters[type_name] is converter


@pytest.mark.parametrize(
    "text",
    [
        b"12345678-1234-5678-1234-56781234567g",  # not hex
        b"123456781234-5678-1234-5678-12345678",  # hyphens elsewhere
        b"12345678-1234-5678-1234-5678_1234567",
        b"1234567812345678123456781234567812ab",  # 36 digits, no hyphens
        b"12345678-1234-5678-1234-5678123456",
    ],
)
def test_a_malformed_id_reads_as_piccolo_read_it(text: bytes) -> None:
    """Text we never store, in an id column: the same UUID, or the same ValueError."""
    try:
        theirs: object = PICCOLO["UUID"](text)
    except ValueError as exc:
        theirs = type(exc)
    try:
        ours: object = sqlite_converters.CONVERTERS["UUID"](text)
    except ValueError as exc:
        ours = type(exc)
    assert ours == theirs
