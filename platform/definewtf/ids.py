"""Ids: time-ordered ones (the UUIDv7 layout of RFC 9562) for rows whose order matters, and
the UUID of an id column as either engine returns it."""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, counter) of the last id made by this process


def uuid7() -> uuid.UUID:
    """48 bits of Unix milliseconds, then a 12-bit counter (RFC 9562 §6.2, method 1), then
    random bits: ids sort by creation time, and strictly within a process, on both engines
    (PostgreSQL compares uuid bytes; SQLite the hex text — the same order)."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, counter = _last
        if millis <= last_millis:
            millis, counter = last_millis, counter + 1
            if counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                millis, counter = millis + 1, 0
        else:
            counter = 0
        _last = (millis, counter)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | counter << 64
    value |= 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)


def as_uuid(value: object) -> uuid.UUID:
    """An id column's value as a UUID: asyncpg already gives one (a subclass of uuid.UUID),
    SQLite gives text. Parsing asyncpg's again (`UUID(str(…))`) cost a page of 100 users
    200 parse calls."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
