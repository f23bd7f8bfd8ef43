"""Our app with the SCIM token check taken out: the auth phase's "same endpoint without
authentication" (issue 6, item 4). Everything else is `definewtf serve`'s app — host routing,
the tenant, rate-limit buckets, logging, metrics, the handler — so the ratio of the two
servers' throughput on `/ServiceProviderConfig` is what checking a known token costs.

Benchmark only: it is served by `bench.auth` from this folder, never installed or shipped.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from uuid import UUID

from litestar import Litestar

from definewtf.app import create_served_app
from definewtf.principals import SCIM_PROVISION, Actor
from definewtf.security import Security
from scim_facade import context

_CREDENTIAL = uuid.uuid4()


async def _anyone(*, tenant_id: UUID, secret: str, security: Security) -> Actor:
    """The principal `authenticate_scim` would give, whatever the Bearer token."""
    return Actor(
        kind="scim_token",
        tenant_id=tenant_id,
        label="scim-token:tokenless",
        permissions=frozenset({SCIM_PROVISION}),
        credential_id=_CREDENTIAL,
        credential_prefix="scim_token:tokenless",
    )


def create_app() -> Litestar:
    context.tokens = SimpleNamespace(authenticate_scim=_anyone)  # type: ignore[assignment,attr-defined]
    return create_served_app()
