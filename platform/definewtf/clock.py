"""The one source of "now": aware UTC datetimes, written by Python on both engines."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    # Microseconds dropped: SQLite compares timestamps as text, and a fixed width keeps
    # ordering and equality identical to PostgreSQL's. Whole seconds made so, not by
    # `datetime.now(UTC).replace(microsecond=0)`: `replace` took three times as long as the
    # rest, and every request asks the time more than once (py-spy).
    return datetime.fromtimestamp(int(time.time()), UTC)
