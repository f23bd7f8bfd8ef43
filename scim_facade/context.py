"""Who and where a SCIM request is: the tenant from the Host, the principal from the token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from definewtf import request_context
from definewtf.errors import NotFound, Unauthenticated
from definewtf.principals import Actor
from definewtf.security import Security
from definewtf.services import tokens
from definewtf.services.tenants import TenantRecord
from definewtf.web import Runtime, bearer_credential, scope_of_host

SCIM_PATH = "/api/scim"


@dataclass(frozen=True, slots=True)
class ScimContext:
    tenant: TenantRecord
    actor: Actor
    security: Security
    #: The service provider's base URL as the client reached it, for `meta.location`.
    base_url: str

    def location(self, resource_type: str, resource_id: object) -> str:
        return f"{self.base_url}/{resource_type}/{resource_id}"


async def provide_scim_context(request: Request[Any, Any, Any]) -> ScimContext:
    """Resolve the tenant (unknown host → 404) then the Bearer token (→ 401)."""
    runtime: Runtime = request.app.state.runtime
    scope = scope_of_host(request.headers.get("host"), runtime.settings.base_domain)
    tenant = None if scope is None or scope.slug is None else await runtime.tenants.find(scope.slug)
    if tenant is None:
        raise NotFound("Tenant")
    request_context.note_tenant(tenant.id, tenant.slug)
    runtime.security.tenant_requests.take(tenant.id)
    secret = bearer_credential(request.headers.get("authorization"))
    if secret is None:
        raise Unauthenticated("a Bearer token is required")
    actor = await tokens.authenticate_scim(
        tenant_id=tenant.id, secret=secret, security=runtime.security
    )
    request_context.note_credential(actor.credential_prefix)
    runtime.security.credential_requests.take(actor.credential_id)
    # The scheme from the scope itself: `request.url` parses the whole URL again (py-spy: 1.4%
    # of a lookup's worker CPU) for the one part needed here.
    scheme = request.scope.get("scheme", "http")
    base_url = f"{scheme}://{request.headers.get('host')}{SCIM_PATH}"
    return ScimContext(tenant=tenant, actor=actor, security=runtime.security, base_url=base_url)
