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
- Rows are trusted only while the feed is live: connected, LISTENing, and its heartbeat — a
  notification it sends itself — received back within `STALE_AFTER_S`. A lost connection
  (PostgreSQL restarted, the backend terminated) ends trust at once and bumps the epoch, so
  nothing remembered before survives the reconnection; a connection that hangs silently, or
  no longer receives the channel (a pooler in transaction mode), is distrusted within
  `STALE_AFTER_S`.
  Until the feed is live again, every request reads its row, as before.
- The process that makes the change through a service also bumps the generation itself after
  the commit (`tokens_changed`), so its own next request never depends on the notification's
  arrival.

What "at once" means here: another worker stops accepting a revoked token as soon as its event
loop has handled the notification, which PostgreSQL sends at the commit — the same order of
time as a request already in flight when the revocation committed, usually well under a
millisecond, longer on a loaded machine (tests/test_two_instances.py gives it two seconds, and a
request that arrives meanwhile is served as one in flight would be).

SQLite has no notifications but needs none: its data version changes whenever another
connection commits anything, so a row is trusted only while nothing at all has been committed
since it was read (`definewtf.db.ReusingSQLiteEngine.data_version`, read for every request
from the WAL index's header). Read-only traffic reuses rows; while users are being written,
every request reads its row, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
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
#: The payloads of the feeds' heartbeats begin so (`RevocationFeed._echo`): never a tenant.
PING = "ping:"
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
    #: What the caller let in (`definewtf.services.credentials`: the token's row and until
    #: when it holds).
    admitted: Any


class RevocationFeed:
    """One process's LISTENing connection and the token rows it lets the process reuse."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._connected = False
        self._last_beat = 0.0
        self._epoch = 0
        #: By tenant and the digest of a secret that opened a token's row.
        self._rows: dict[tuple[UUID, bytes], _Remembered] = {}
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        #: One query at a time on the listening connection (the heartbeat, `settled`).
        self._lock = asyncio.Lock()
        #: This feed's heartbeats: sent, and awaited until they come back.
        self._id = secrets.token_hex(8)
        self._pings = 0
        self._awaited: dict[str, asyncio.Future[None]] = {}
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
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        # Cancelled until it ends: Python 3.11's asyncio.wait_for returns the awaited result
        # and swallows a cancellation that lands in the loop turn the result arrives in (a
        # heartbeat's echo), and the task would listen on: a server's shutdown hung on it.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)

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
        self._connection = connection
        await self._echo(connection)  # live only once a notification is seen to arrive
        self._last_beat = time.monotonic()
        self._connected = True
        if self._went_live is not None:
            self._went_live.set()
        while not connection.is_closed():
            await asyncio.sleep(HEARTBEAT_S)
            await self._echo(connection)
            self._last_beat = time.monotonic()

    async def _echo(self, connection: asyncpg.Connection) -> None:
        """Notify the channel and wait for that notification to come back. It proves what a
        `SELECT 1` would not: that this connection still receives what the channel carries
        (behind a pooler in transaction mode, the session that LISTENed is not the one
        answering). PostgreSQL delivers notifications in commit order, so every one sent
        before has been handled too. TimeoutError if it does not come back in time."""
        self._pings += 1
        payload = f"{PING}{self._id}:{self._pings}"
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._awaited[payload] = arrived
        try:
            async with self._lock:  # one query at a time on a connection
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            await asyncio.wait_for(arrived, HEARTBEAT_S)
        finally:
            del self._awaited[payload]

    def _lost(self) -> None:
        if self._connected and not self._stopping:
            log.warning("revocation feed is down: SCIM tokens are read on every request")
        self._connected = False
        self._connection = None
        self._epoch += 1
        self._rows.clear()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(PING):  # a heartbeat: ours, or another process's
            arrived = self._awaited.get(payload)
            if arrived is not None and not arrived.done():
                arrived.set_result(None)
            return
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

    def recall(self, tenant_id: UUID, digest: bytes, stamp: Stamp | None) -> Any:
        """What was remembered for the secret of this `digest`, if nothing has changed since
        its row was read: if it was remembered under `stamp`, the tenant's stamp now
        (`stamp()`). None otherwise."""
        remembered = self._rows.get((tenant_id, digest))
        if remembered is None or stamp is None or remembered.stamp != stamp:
            return None
        return remembered.admitted

    def remember(self, tenant_id: UUID, digest: bytes, admitted: Any, stamp: Stamp) -> None:
        if len(self._rows) >= self.MAX_ENTRIES:
            self._rows.clear()
        self._rows[(tenant_id, digest)] = _Remembered(stamp, admitted)

    async def settled(self) -> None:
        """Return once every notification sent before this call has been handled (an echo,
        see `_echo`); on SQLite at once (every stamp reads the data version). For changes
        made behind the services' back (tests, an operator's SQL) by whoever must see them
        next. A served request does not wait for it: one that arrives before the notification
        is handled races the change as a request in flight at the commit would
        (tests/test_two_instances.py)."""
        connection = self._connection
        if connection is not None and self.live:
            await self._echo(connection)
