"""The revocation feed: when a process may trust a SCIM token's row without reading it again.

Every SCIM request used to read its token's row, so that a revocation took effect on the next
request on every worker (DESIGN.md §4). That read was a third of the cost of the cheapest SCIM
request. DESIGN.md §4 allows a *revocation generation* instead, and this is it:

- On PostgreSQL a trigger on `scim_token` (migration m0012) sends `NOTIFY definewtf_credentials`
  with the tenant's id whenever a token's revocation, expiry, secret, prefix or tenant changes,
  or a token is deleted or the table truncated. However the change is made (a service, the CLI,
  an operator's SQL, a tenant's cascade), the notification leaves PostgreSQL when the change
  commits, to every listening connection at once.
- Each process LISTENs on a connection of its own. A notification bumps the tenant's
  generation; a row remembered under an older generation is not trusted again.
- A row is remembered with the *stamp* taken before it was read (the listening connection's
  epoch and the tenant's generation), so a change that commits while the row is being read
  invalidates it even though the row read predates it.
- Rows are trusted only while the feed is live: connected, LISTENing, and its heartbeat
  answered within `STALE_AFTER_S`. A lost connection (PostgreSQL restarted, the backend
  terminated) ends trust at once and bumps the epoch, so nothing remembered before survives
  the reconnection; a connection that hangs silently is distrusted within `STALE_AFTER_S`.
  Until the feed is live again, every request reads its row, as before.
- The process that makes the change through a service also bumps the generation itself after
  the commit (`tokens_changed`), so its own next request never depends on the notification's
  arrival.

What "at once" means here: another worker stops accepting a revoked token as soon as its event
loop has handled the notification, which PostgreSQL sends at the commit — the same order of
time as a request already in flight when the revocation committed (tests/test_two_instances.py
measures it).

SQLite has no notifications but needs none: its `PRAGMA data_version` changes whenever another
connection commits anything, so a row is trusted only while nothing at all has been committed
since it was read (`definewtf.db.ReusingSQLiteEngine.data_version`). Read-only traffic reuses
rows; while users are being written, every request reads its row, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from definewtf.db import ReusingSQLiteEngine

log = logging.getLogger(__name__)

CHANNEL = "definewtf_credentials"
#: The payload of a notification that concerns every tenant (TRUNCATE).
EVERY_TENANT = "*"
APPLICATION_NAME = "definewtf-revocations"
HEARTBEAT_S = 1.0
#: A feed whose heartbeat has not been answered for this long is not trusted.
STALE_AFTER_S = 3.0
RECONNECT_MAX_S = 5.0

#: Process-wide generations, bumped by notifications and by the services of this process;
#: shared by every feed of the process (tests run several apps in one).
_generations: Counter[UUID] = Counter()
_every_tenant = 0


def tokens_changed(tenant_id: UUID | None) -> None:
    """Forget, in this process, what was remembered of `tenant_id`'s tokens (None: every
    tenant's). Called by the services after a commit that changed tokens, and for each
    notification."""
    global _every_tenant
    if tenant_id is None:
        _every_tenant += 1
    else:
        _generations[tenant_id] += 1


#: (feed epoch or SQLite data_version, every-tenant generation, the tenant's generation).
Stamp = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Remembered:
    stamp: Stamp
    row: dict[str, Any]


class RevocationFeed:
    """One process's LISTENing connection and the token rows it lets the process reuse."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._connected = False
        self._last_beat = 0.0
        self._epoch = 0
        self._rows: dict[tuple[UUID, str], _Remembered] = {}
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        #: One query at a time on the listening connection (the heartbeat, `settled`).
        self._lock = asyncio.Lock()
        self._went_live: asyncio.Event | None = None
        self._stopping = False
        self._sqlite: ReusingSQLiteEngine | None = None
        #: Notifications handled, observable by tests.
        self.notifications = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, engine: Engine[Any], *, wait_s: float = 5.0) -> None:
        """LISTEN on PostgreSQL (and wait up to `wait_s` to be live); on SQLite, watch
        `data_version`."""
        if isinstance(engine, ReusingSQLiteEngine):
            self._sqlite = engine
        if not isinstance(engine, PostgresEngine):
            return
        self._went_live = asyncio.Event()
        self._task = asyncio.create_task(self._listen_forever(dict(engine.config)))
        # Not live in time (PostgreSQL slow or refusing): serve anyway, reading every row.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._went_live.wait(), wait_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def live(self) -> bool:
        if self._sqlite is not None:
            return True
        return self._connected and time.monotonic() - self._last_beat < STALE_AFTER_S

    async def _listen_forever(self, config: dict[str, Any]) -> None:
        delay = 0.1
        while True:
            try:
                connection = await asyncpg.connect(
                    **config,
                    timeout=RECONNECT_MAX_S,
                    # Named, so that an operator sees (and tests find) each process's listener.
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("revocation feed cannot connect (%s); retrying in %.1f s", exc, delay)
            else:
                try:
                    await self._listen(connection)
                    delay = 0.1
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                    log.warning("revocation feed lost its connection; reconnecting", exc_info=True)
                finally:
                    self._lost()
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1.0)
            await asyncio.sleep(delay)
            delay = min(2 * delay, RECONNECT_MAX_S)

    async def _listen(self, connection: asyncpg.Connection) -> None:
        connection.add_termination_listener(lambda _connection: self._lost())
        await connection.add_listener(CHANNEL, self._notified)
        self._last_beat = time.monotonic()
        self._connected = True
        self._connection = connection
        if self._went_live is not None:
            self._went_live.set()
        while not connection.is_closed():
            await asyncio.sleep(HEARTBEAT_S)
            async with self._lock:
                await connection.fetchval("SELECT 1", timeout=HEARTBEAT_S)
            self._last_beat = time.monotonic()

    def _lost(self) -> None:
        if self._connected and not self._stopping:
            log.warning("revocation feed is down: SCIM tokens are read on every request")
        self._connected = False
        self._connection = None
        self._epoch += 1
        self._rows.clear()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        try:
            tokens_changed(None if payload == EVERY_TENANT else UUID(payload))
        except ValueError:
            tokens_changed(None)  # not ours to parse: forget everything rather than guess

    # -- the rows ----------------------------------------------------------------------------

    def stamp(self, tenant_id: UUID) -> Stamp | None:
        """Take before reading a row: what the row will be remembered under (None: don't)."""
        if self._sqlite is not None:
            return (self._sqlite.data_version(), _every_tenant, _generations[tenant_id])
        if not self.live:
            return None
        return (self._epoch, _every_tenant, _generations[tenant_id])

    def recall(self, tenant_id: UUID, prefix: str) -> dict[str, Any] | None:
        """The row remembered for this token, if nothing has changed since it was read."""
        remembered = self._rows.get((tenant_id, prefix))
        if remembered is None or remembered.stamp != self.stamp(tenant_id):
            return None
        return remembered.row

    def remember(self, tenant_id: UUID, prefix: str, row: dict[str, Any], stamp: Stamp) -> None:
        if len(self._rows) >= self.MAX_ENTRIES:
            self._rows.clear()
        self._rows[(tenant_id, prefix)] = _Remembered(stamp, row)

    async def settled(self) -> None:
        """Return once every notification sent before this call has been handled: PostgreSQL
        sends a listener its notifications before it answers the listener's next query, and
        asyncpg schedules their callbacks before it resolves that answer. For changes made
        behind the services' back (tests, an operator's SQL) by whoever must see them next."""
        connection = self._connection
        if connection is None or not self.live:
            return
        async with self._lock:
            await connection.fetchval("SELECT 1", timeout=HEARTBEAT_S)
        await asyncio.sleep(0)
