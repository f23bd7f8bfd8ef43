"""Whether anything was committed to a SQLite database, read from its WAL index.

A SQLite connection in WAL mode learns of a commit from one place: the header of the WAL index,
the first bytes of the database's `-shm` file, which every commit rewrites (its `iChange`
counter moves) and which every read transaction reads first
(https://www.sqlite.org/walformat.html, "The WAL-Index Header"). `PRAGMA data_version` answers
the same question by beginning and ending a read transaction, which takes and releases a lock
on that shared memory (two `fcntl` calls): about 4.5 us a call among the work of a request,
against 0.2 us for reading the header with one `pread`. The token check reads it for every
SCIM request (`definewtf.revocations`).

The layout is the one every SQLite process sharing a database must agree on, whatever its
version (the unix and windows VFSes; a WAL database cannot be shared otherwise). The file
stays the same while this process keeps a connection open on the database, as the engine's
readers do: SQLite truncates or deletes it only when no connection holds it.
"""

from __future__ import annotations

import itertools
import os

#: The first of the header's two copies, the one a commit writes last.
HEADER_BYTES = 48
#: The numbers every watch of the process hands out: a watch opened again (an engine closed
#: and used again, as tests do) never repeats a number an older one gave for another header.
_numbers = itertools.count(1)


class WalIndexWatch:
    """A number that moves whenever the WAL index's header changes: at every commit of any
    connection (of this process or another), and at the WAL's resets. Shared by the threads
    of a process: the number moves before the header it stands for is stored, so a thread
    that sees the stored header sees the number that goes with it."""

    def __init__(self, database_path: str) -> None:
        self._fd = os.open(f"{database_path}-shm", os.O_RDONLY)
        self._header = b""
        self._version = next(_numbers)

    @classmethod
    def open(cls, database_path: str) -> WalIndexWatch | None:
        """The watch, or None where the header cannot be read (no `pread`, no `-shm` file:
        the database is not in WAL mode)."""
        if not hasattr(os, "pread"):
            return None
        try:
            watch = cls(database_path)
        except OSError:
            return None
        if len(os.pread(watch._fd, HEADER_BYTES, 0)) < HEADER_BYTES:
            watch.close()
            return None
        return watch

    def version(self) -> int:
        header = os.pread(self._fd, HEADER_BYTES, 0)
        if header != self._header or len(header) < HEADER_BYTES:
            # A short read cannot say that nothing changed: counted as a change.
            self._version = next(_numbers)
            self._header = header
        return self._version

    def close(self) -> None:
        os.close(self._fd)
