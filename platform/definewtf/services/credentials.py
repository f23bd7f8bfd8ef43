"""What SCIM tokens, API keys and sessions share: issue a secret, check one on a request.

A credential table has `tenant`, `prefix`, `secret_hash`, `expires_at`, `revoked_at` and
`last_used_at`. Checking a presented secret costs one indexed read on `(tenant, prefix)`;
revocation and expiry are checked on that row on every request, so they take effect on the
next request on every worker. A SCIM token's row may instead be remembered by the process until
PostgreSQL notifies a change of the tenant's tokens (`definewtf.revocations`): the read was a
third of the cost of the cheapest SCIM request. It is remembered under the digest of the secret
that opened it, with the instants its verdict and its liveness end. argon2 runs only for a
well-formed secret whose row is live, and then at most once per process and cache period
(`definewtf.security.VerifiedSecrets`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
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
from definewtf.security import Security, Verdict, is_well_formed, new_secret, prefix_of
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


@dataclass(frozen=True, slots=True)
class _Admitted:
    """A secret let in on a feed's table: the row it opened, and until when that holds without
    checking again."""

    row: dict[str, Any]
    credential_id: UUID
    #: `time.monotonic()` at which the secret's verdict is forgotten (`VerifiedSecrets`).
    verified_until: float
    #: `live_until(row)`.
    live_until: float


def live_until(row: dict[str, Any]) -> float:
    """The first POSIX second at which `is_live(row, now)` is false for a `now` of
    `definewtf.clock` (whole seconds): comparing it with the clock costs a tenth of building
    the datetime and comparing two."""
    ends = [end.timestamp() for end in (row["revoked_at"], row["expires_at"]) if end is not None]
    return min(ends, default=math.inf)


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
    With a `feed` (whose notifications cover `table`), what was let in is remembered while the
    feed lets: a known secret then costs a digest, a lookup and the feed's stamp (SCIM's
    cheapest request spent 7% of its time here, and half of that on checks whose answers
    were already known).

    Every refusal says the same thing: a caller learns nothing about which check failed.
    """
    digest = security.verified.digest(secret)
    # One stamp for both: what a remembered admission must match, and (taken before the read)
    # what one made now is remembered under. On SQLite a stamp is a PRAGMA.
    stamp = None if feed is None else feed.stamp(tenant_id)
    known: _Admitted | None = None if feed is None else feed.recall(tenant_id, digest, stamp)
    if (
        known is not None
        and int(time.time()) < known.live_until
        and time.monotonic() < known.verified_until
    ):
        row, credential_id = known.row, known.credential_id
    else:
        row, verdict = await _admit(table, tenant_id, secret, digest, security, columns)
        credential_id = as_uuid(row["id"])
        if feed is not None and stamp is not None:
            admitted = _Admitted(row, credential_id, verdict.expires, live_until(row))
            feed.remember(tenant_id, digest, admitted, stamp)
    if security.usage.due(credential_id):
        t: Any = table
        async with write_transaction():
            await table.update({t.last_used_at: utcnow()}).where(t.id == credential_id)
    return row


async def _admit(
    table: type[Table],
    tenant_id: UUID,
    secret: str,
    digest: bytes,
    security: Security,
    columns: tuple[Any, ...],
) -> tuple[dict[str, Any], Verdict]:
    """The row `secret` opens, read, and the (positive) verdict on it; or Unauthenticated."""
    if not is_well_formed(secret):
        raise _refused()
    prefix = prefix_of(secret)
    rows = await fetch(_credential_sql(table, *columns), tenant_id, prefix)
    row = rows[0] if rows else None
    if row is None or not is_live(row, utcnow()):
        raise _refused()
    credential_id = as_uuid(row["id"])
    # Guessing secrets for a known prefix costs an argon2 run per guess: throttled per prefix,
    # for the secrets without a remembered verdict (every request of a known client has one).
    failures = security.failed_secrets
    guesses = (table._meta.tablename, tenant_id, prefix)
    verdict = security.verified.remembered(credential_id=credential_id, digest=digest)
    if verdict is None:
        wait = failures.retry_after(guesses)
        if wait:
            raise RateLimited(math.ceil(wait), "too many wrong secrets for this credential")
        verdict = await security.verified.verify(
            credential_id=credential_id,
            secret_hash=row["secret_hash"],
            secret=secret,
            digest=digest,
        )
    if not verdict.ok:
        with contextlib.suppress(RateLimited):
            failures.take(guesses)
        raise _refused()
    return row, verdict
