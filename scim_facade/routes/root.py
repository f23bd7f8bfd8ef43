"""Endpoints at the root of the SCIM base URL (RFC 7644 §3.4.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from scim2_models import InvalidFilterException

from definewtf.services import groups, users
from scim_facade.context import ScimContext
from scim_facade.filters import (
    FilterCompiler,
    GroupFilterCompiler,
    UserFilterCompiler,
    compile_query,
)
from scim_facade.requests import list_query, read_json
from scim_facade.responses import list_body, scim_response
from scim_facade.routes.groups import render_groups
from scim_facade.routes.users import render_users

Lister = Callable[..., Awaitable[Any]]
Renderer = Callable[[ScimContext, list[Any], Any], Awaitable[list[dict[str, Any]]]]

#: Every resource type, in the order a root search lists them.
RESOURCE_TYPES: tuple[tuple[type[FilterCompiler], Lister, Renderer], ...] = (
    (UserFilterCompiler, users.list_users, render_users),
    (GroupFilterCompiler, groups.list_groups, render_groups),
)


@post("/.search", status_code=200)
async def search_root(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """A search across every resource type (RFC 7644 §3.4.3): Users, then Groups, paged as
    one list. A filter naming an attribute one type does not declare matches none of that
    type (§3.4.2.1); a filter no type understands is invalidFilter. sortBy orders within
    each type."""
    query = list_query(await read_json(request))
    compiled: list[tuple[dict[str, Any], Lister, Renderer]] = []
    first_error: InvalidFilterException | None = None
    for compiler, lister, renderer in RESOURCE_TYPES:
        try:
            compiled.append((compile_query(compiler(scim.tenant.id), query), lister, renderer))
        except InvalidFilterException as exc:
            first_error = first_error or exc
    if not compiled and first_error is not None:
        raise first_error
    offset, remaining = query.start_index - 1, query.count
    resources: list[dict[str, Any]] = []
    total = 0
    for kwargs, lister, renderer in compiled:
        counted = await lister(tenant_id=scim.tenant.id, actor=scim.actor, **{**kwargs, "limit": 0})
        mine = max(0, min(remaining, counted.total - offset))
        if mine:
            page = await lister(
                tenant_id=scim.tenant.id,
                actor=scim.actor,
                **{**kwargs, "offset": offset, "limit": mine},
            )
            resources += await renderer(scim, page.items, query.projection)
            remaining -= mine
        offset = max(0, offset - counted.total)
        total += counted.total
    return scim_response(list_body(resources, total=total, start_index=query.start_index))


ROUTES = [search_root]
