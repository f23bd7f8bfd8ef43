"""The per-request GraphQL context: runtime, tenant (from the Host), principal (from the
Bearer credential). Built by a Litestar dependency; resolvers only read it."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    TooManyRequestsException,
)
from strawberry.litestar import BaseContext
from strawberry.types import Info

from definewtf import request_context
from definewtf.errors import Invalid, RateLimited, Unauthenticated
from definewtf.principals import Actor
from definewtf.services import api_keys
from definewtf.services.tenants import TenantRecord
from definewtf.web import Runtime, bearer_credential, scope_of_host
from graphql_api.loaders import Loaders, make_loaders


class GraphQLContext(BaseContext, kw_only=True):
    runtime: Runtime
    tenant: TenantRecord | None
    actor: Actor | None
    loaders: Loaders
    #: `scheme://` and `:port` the client used, to render URLs it can reach (SCIM endpoint).
    origin_scheme: str
    origin_port: str

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated("send an API key or session token as `Authorization: Bearer …`")
        return self.actor

    def require_tenant(self) -> TenantRecord:
        if self.tenant is None:
            raise Invalid(
                "this operation needs a tenant host ({slug}."
                + self.runtime.settings.base_domain
                + ")"
            )
        return self.tenant

    def scim_endpoint(self, slug: str) -> str:
        return f"{self.origin_scheme}://{slug}.{self.runtime.settings.base_domain}{self.origin_port}/api/scim"


def ctx(info: Info[Any, Any]) -> GraphQLContext:
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context


async def provide_context(request: Request[Any, Any, Any]) -> GraphQLContext:
    runtime: Runtime = request.app.state.runtime
    host = request.headers.get("host")
    scope = scope_of_host(host, runtime.settings.base_domain)
    if scope is None:
        raise NotFoundException("unknown host")
    tenant = None
    if scope.slug is not None:
        tenant = await runtime.tenants.find(scope.slug)
        if tenant is None:
            raise NotFoundException("unknown tenant")
        request_context.note_tenant(tenant.id, tenant.slug)
    try:
        if tenant is not None:
            runtime.security.tenant_requests.take(tenant.id)
        actor = await _authenticate(request, tenant, runtime)
        if actor is not None:
            runtime.security.credential_requests.take(actor.credential_id)
    except RateLimited as exc:
        raise TooManyRequestsException(
            exc.detail, headers={"Retry-After": str(exc.retry_after)}
        ) from exc
    port = (host or "").rpartition(":")[2] if ":" in (host or "") else ""
    return GraphQLContext(
        loaders=make_loaders(None if tenant is None else tenant.id),
        runtime=runtime,
        tenant=tenant,
        actor=actor,
        origin_scheme=request.url.scheme,
        origin_port=f":{port}" if port else "",
    )


async def _authenticate(
    request: Request[Any, Any, Any], tenant: TenantRecord | None, runtime: Runtime
) -> Actor | None:
    """The principal of the Bearer credential, None without one; a bad one is a 401."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    secret = bearer_credential(authorization)
    try:
        if secret is None:
            raise Unauthenticated("malformed Authorization header")
        actor = await api_keys.authenticate_bearer(
            tenant_id=None if tenant is None else tenant.id,
            secret=secret,
            security=runtime.security,
        )
    except Unauthenticated as exc:
        raise NotAuthorizedException(exc.detail, headers={"WWW-Authenticate": "Bearer"}) from exc
    request_context.note_credential(actor.credential_prefix)
    return actor
