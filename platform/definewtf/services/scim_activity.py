"""The SCIM provisioning status of a tenant (GraphQL `scimStatus`): when the IdP last called,
whether it worked, the last error, and counts over the last day.

Fed by the request events the HTTP layer observes (`ActivityLog.record`, no database write
on the request path); each process flushes its counts every few seconds into its own
`scim_activity` rows, one per tenant and hour, and the status sums those rows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from piccolo.columns import Column
from piccolo.query.functions.aggregate import Sum

from definewtf.clock import utcnow
from definewtf.principals import Actor, require_admin
from definewtf.tables import ScimActivity, User

log = logging.getLogger(__name__)

#: Hourly rows older than this are removed when a process flushes.
RETENTION = timedelta(days=30)
#: Error details are cut to this length (they come from the server's own error messages).
MAX_ERROR_LENGTH = 500
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class _Counts:
    requests: int = 0
    errors: int = 0
    last_request_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None

    def count(self, at: datetime, *, ok: bool, error: str | None) -> None:
        """One request, answered at `at`: `add` of a `_Counts` of it, without making one."""
        self.requests += 1
        self.last_request_at = _latest(self.last_request_at, at)
        if ok:
            self.last_success_at = _latest(self.last_success_at, at)
            return
        self.errors += 1
        if self.last_error_at is None or at >= self.last_error_at:
            self.last_error_at, self.last_error = at, (error or "error")[:MAX_ERROR_LENGTH]

    def add(self, other: _Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.last_request_at = _latest(self.last_request_at, other.last_request_at)
        self.last_success_at = _latest(self.last_success_at, other.last_success_at)
        if other.last_error_at is not None and (
            self.last_error_at is None or other.last_error_at >= self.last_error_at
        ):
            self.last_error_at, self.last_error = other.last_error_at, other.last_error


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class ActivityLog:
    """One process's SCIM request counts not yet flushed to the database."""

    worker: str = field(default_factory=lambda: str(uuid.uuid4()))
    _pending: dict[tuple[UUID, datetime], _Counts] = field(default_factory=dict)
    #: The hour `record` last counted in, and the next: every SCIM request is counted, and
    #: an hour computed per request (`datetime.replace`) with a `_Counts` per event was most
    #: of the counting (py-spy).
    _this_hour: datetime = _NEVER
    _next_hour: datetime = _NEVER

    def record(self, tenant_id: UUID, *, ok: bool, error: str | None = None) -> None:
        now = utcnow()
        if not self._this_hour <= now < self._next_hour:
            self._this_hour = _hour(now)
            self._next_hour = self._this_hour + timedelta(hours=1)
        key = (tenant_id, self._this_hour)
        counts = self._pending.get(key)
        if counts is None:
            counts = self._pending[key] = _Counts()
        counts.count(now, ok=ok, error=error)

    async def flush(self) -> None:
        """Add the pending counts to this process's rows. On failure (database down) they stay
        pending for the next flush."""
        pending, self._pending = self._pending, {}
        try:
            for (tenant_id, hour), counts in pending.items():
                await self._add(tenant_id, hour, counts)
        except Exception:
            for key, counts in pending.items():
                self._pending.setdefault(key, _Counts()).add(counts)
            raise
        if pending:
            cutoff = utcnow() - RETENTION
            tenants = list({tenant_id for tenant_id, _ in pending})
            await ScimActivity.delete().where(
                ScimActivity.tenant.is_in(tenants) & (ScimActivity.hour < cutoff)
            )

    async def _add(self, tenant_id: UUID, hour: datetime, counts: _Counts) -> None:
        mine = (
            (ScimActivity.tenant == tenant_id)
            & (ScimActivity.hour == hour)
            & (ScimActivity.worker == self.worker)
        )
        row = await ScimActivity.select(*_COUNT_COLUMNS).where(mine).first()
        if row is None:
            await ScimActivity.insert(
                ScimActivity(
                    tenant=tenant_id,
                    hour=hour,
                    worker=self.worker,
                    **_values(counts),
                )
            )
            return
        stored = _Counts(**row)
        stored.add(counts)
        # Piccolo's `update` accepts column names; its annotation wants Column | str keys.
        await ScimActivity.update(cast(dict[Column | str, Any], _values(stored))).where(mine)


_COUNT_COLUMNS = (
    ScimActivity.requests,
    ScimActivity.errors,
    ScimActivity.last_request_at,
    ScimActivity.last_success_at,
    ScimActivity.last_error_at,
    ScimActivity.last_error,
)


def _values(counts: _Counts) -> dict[str, Any]:
    return {column._meta.name: getattr(counts, column._meta.name) for column in _COUNT_COLUMNS}


@dataclass(frozen=True, slots=True)
class ScimStatus:
    last_request_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    #: Counted by the hour: the current hour and the 23 before it.
    requests_last_24h: int
    errors_last_24h: int
    users_provisioned: int


async def scim_status(*, tenant_id: UUID, actor: Actor, activity: ActivityLog) -> ScimStatus:
    """The tenant's provisioning status (admins), this process's latest requests included.
    A handful of indexed queries on `(tenant, hour, …)`, whatever the traffic."""
    require_admin(actor, tenant_id)
    try:
        await activity.flush()
    except Exception:
        # Other processes' rows are still worth showing; this one's counts stay pending.
        log.warning("could not flush SCIM activity", exc_info=True)
    of_tenant = ScimActivity.tenant == tenant_id
    since = _hour(utcnow()) - timedelta(hours=23)
    day = await (
        ScimActivity.select(
            Sum(ScimActivity.requests).as_alias("requests"),
            Sum(ScimActivity.errors).as_alias("errors"),
        )
        .where(of_tenant & (ScimActivity.hour >= since))
        .first()
    )
    latest = {}
    for column in (ScimActivity.last_request_at, ScimActivity.last_success_at):
        row = await (
            ScimActivity.select(column)
            .where(of_tenant & column.is_not_null())
            .order_by(column, ascending=False)
            .first()
        )
        latest[column._meta.name] = None if row is None else row[column._meta.name]
    error = await ScimActivity.select(ScimActivity.last_error_at, ScimActivity.last_error).where(
        of_tenant & ScimActivity.last_error_at.is_not_null()
    ).order_by(ScimActivity.last_error_at, ascending=False).first() or {
        "last_error_at": None,
        "last_error": None,
    }
    users = await User.count().where((User.tenant == tenant_id) & User.deleted_at.is_null())
    return ScimStatus(
        last_request_at=latest["last_request_at"],
        last_success_at=latest["last_success_at"],
        last_error=error["last_error"],
        last_error_at=error["last_error_at"],
        requests_last_24h=int((day or {}).get("requests") or 0),
        errors_last_24h=int((day or {}).get("errors") or 0),
        users_provisioned=users,
    )
