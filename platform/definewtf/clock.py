"""The one source of "now": aware UTC datetimes, written by Python on both engines."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    # Microseconds dropped: SQLite compares timestamps as text, and a fixed width keeps
    # ordering and equality identical to PostgreSQL's.
    return datetime.now(UTC).replace(microsecond=0)
