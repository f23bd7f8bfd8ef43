"""What SCIM tokens, API keys and sessions share: issue a secret, check one on a request.

A credential table has `tenant`, `prefix`, `secret_hash`, `expires_at`, `revoked_at` and
`last_used_at`. Checking a presented secret costs one indexed read on `(tenant, prefix)`;
revocation and expiry are checked on that row on every request, so they take effect on the
next request on every worker. A SCIM token's row may instead be remembered by the process until
PostgreSQL notifies a change of the tenant's tokens (`definewtf.revocations`): the read was a
third of the cost of the cheapest SCIM request. argon2 runs only for a well-formed secret whose
row is live, and then at most once per process and cache period
(`definewtf.security.VerifiedSecrets`).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns import Column
from piccolo.table import Table

from definewtf.clock import utcnow
from definewtf.db import fetch, write_transaction
from definewtf.errors import RateLimited, Unauthenticated
from definewtf.ids import as_uuid
from definewtf.revocations import RevocationFeed
from definewtf.security import Security, is_well_formed, new_secret, prefix_of
from definewtf.services.paging import select_list


@dataclass(frozen=True, slots=True)
class NewSecret:
    plaintext: str
    prefix: str
    secret_hash: str


async def issue_secret(security: Security) -> NewSecret:
    """A fresh secret and its argon2 hash. Call it *before* opening the write transaction:
    argon2 takes ~150 ms and must not hold the write lock."""
    plaintext = new_secret()
    return NewSecret(plaintext, prefix_of(plaintext), await security.hasher.hash(plaintext))


def is_live(row: dict[str, Any], now: datetime) -> bool:
    revoked_at = row["revoked_at"]
    expires_at = row["expires_at"]
    if revoked_at is not None and revoked_at <= now:
        return False
    return expires_at is None or expires_at > now


def _refused() -> Unauthenticated:
    return Unauthenticated("invalid or expired credential")


@functools.cache
def _credential_sql(table: type[Table], *columns: Column) -> str:
    """The credential read of `check_secret`, built once per table: it runs on every request,
    and composing its WHERE with Piccolo's builder too cost a fifth of a
    `/ServiceProviderConfig` request (3,308 vs 2,588/s on one worker)."""
    t: Any = table
    selected = select_list(table, (t.id, t.secret_hash, t.expires_at, t.revoked_at, *columns))
    return f"{selected} WHERE tenant = {{}} AND prefix = {{}}"


async def check_secret(
    table: type[Table],
    *,
    tenant_id: UUID,
    secret: str,
    security: Security,
    columns: tuple[Any, ...] = (),
    feed: RevocationFeed | None = None,
) -> dict[str, Any]:
    """The live row of `table` that `secret` opens in `tenant_id`, or Unauthenticated.
    With a `feed` (whose notifications cover `table`), the row is remembered while it lets.

    Every refusal says the same thing: a caller learns nothing about which check failed.
    """
    if not is_well_formed(secret):
        raise _refused()
    t: Any = table
    prefix = prefix_of(secret)
    # One stamp for both: what a remembered row must match, and (taken before the read) what
    # a row read now is remembered under. On SQLite a stamp is a PRAGMA.
    stamp = None if feed is None else feed.stamp(tenant_id)
    row = None if feed is None else feed.recall(tenant_id, prefix, stamp)
    if row is None:
        rows = await fetch(_credential_sql(table, *columns), tenant_id, prefix)
        row = rows[0] if rows else None
        # Only rows are remembered: an unknown prefix is read again, so a token created a
        # moment ago works at once.
        if row is not None and feed is not None and stamp is not None:
            feed.remember(tenant_id, prefix, row, stamp)
    now = utcnow()
    if row is None or not is_live(row, now):
        raise _refused()
    credential_id = as_uuid(row["id"])
    # Guessing secrets for a known prefix costs an argon2 run per guess: throttled per prefix,
    # for the secrets without a remembered verdict (every request of a known client has one).
    failures = security.failed_secrets
    guesses = (t._meta.tablename, tenant_id, prefix)
    ok = security.verified.remembered(credential_id=credential_id, secret=secret)
    if ok is None:
        wait = failures.retry_after(guesses)
        if wait:
            raise RateLimited(math.ceil(wait), "too many wrong secrets for this credential")
        ok = await security.verified.verify(
            credential_id=credential_id, secret_hash=row["secret_hash"], secret=secret
        )
    if not ok:
        with contextlib.suppress(RateLimited):
            failures.take(guesses)
        raise _refused()
    if security.usage.due(credential_id):
        async with write_transaction():
            await table.update({t.last_used_at: now}).where(t.id == credential_id)
    return row
