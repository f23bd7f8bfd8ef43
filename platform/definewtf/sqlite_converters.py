"""Leaner converters for the SQLite column types our tables read back.

Piccolo registers `sqlite3` converters for its column types when `piccolo.engine.sqlite` is
imported; SQLite calls one per column per row. Each takes bytes or str (its arrays' elements
come as str), so each decodes through a wrapper, and INTEGER goes through `Decimal` to accept
`1.0`: a page of 100 users (read from the benchmark's database) spent about 7 µs of its 30 µs
per user in them. These give the same values for what we store and defer to Piccolo's for
anything else. `sqlite3` keeps one converter per type name for the whole process: `install()`
replaces Piccolo's.
"""

from __future__ import annotations

import datetime
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from piccolo.engine import sqlite as piccolo_sqlite

_UTC = datetime.UTC
#: `str(uuid)`: 8-4-4-4-12 hex digits, the text Piccolo's adapter stores. value[8::5] starts
#: with its four hyphens (at 8, 13, 18 and 23).
_CANONICAL_LENGTH = 36
_HYPHENS = b"----"
_new = object.__new__
_set = object.__setattr__


def uuid_out(value: bytes) -> uuid.UUID:
    """A stored id. `uuid.UUID(text)` accepts every spelling a UUID may have (braces, urn:,
    no hyphens); the text we store is always `str(uuid)`'s, whose hex digits are the number:
    two thirds of the constructor's time. Any other text goes to the constructor (Piccolo's)."""
    digits = value.replace(b"-", b"")
    if len(value) != _CANONICAL_LENGTH or value[8::5][:4] != _HYPHENS or not digits.isalnum():
        converted: uuid.UUID = piccolo_sqlite.convert_uuid_out(value)
        return converted
    parsed = _new(uuid.UUID)
    _set(parsed, "int", int(digits, 16))  # a non-hex letter raises, as the constructor does
    _set(parsed, "is_safe", uuid.SafeUUID.unknown)
    return parsed


def int_out(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:  # "1.0" and other text SQLite lets into an INTEGER column
        converted: int = piccolo_sqlite.convert_int_out(value)
        return converted


def timestamptz_out(value: bytes) -> datetime.datetime:
    """Piccolo's sets UTC on whatever the text says; ours are stored in UTC ("+00:00"), which
    `fromisoformat` already reads as `datetime.UTC`, and `replace()` was four fifths of the
    conversion."""
    parsed = datetime.datetime.fromisoformat(value.decode())
    return parsed if parsed.tzinfo is _UTC else parsed.replace(tzinfo=_UTC)


def boolean_out(value: bytes) -> bool:
    return value == b"1"


CONVERTERS: dict[str, Callable[[bytes], Any]] = {
    "UUID": uuid_out,
    "INTEGER": int_out,
    "TIMESTAMPTZ": timestamptz_out,
    "BOOLEAN": boolean_out,
}


def install() -> None:
    for type_name, converter in CONVERTERS.items():
        sqlite3.register_converter(type_name, converter)
