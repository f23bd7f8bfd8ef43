"""Listing and searching resources (RFC 7644 §3.4.2, §3.4.3): one path for `GET /Users`,
`GET /Groups`, their `.search`, and the root `/.search` over every type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from scim2_models import InvalidFilterException

from scim_facade.context import ScimContext
from scim_facade.filters import FilterCompiler, compile_query
from scim_facade.requests import ListQuery, list_query, query_of_request, read_json
from scim_facade.responses import list_body, scim_response


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """How one resource type is filtered (compiler), listed (a service's `list_*`, returning
    a page with `total` and `items`) and rendered (a page of records to SCIM resources)."""

    compiler: type[FilterCompiler]
    lister: Callable[..., Awaitable[Any]]
    renderer: Callable[[ScimContext, list[Any], Any], Awaitable[list[dict[str, Any]]]]


async def search(
    scim: ScimContext, query: ListQuery, kinds: Sequence[ResourceKind]
) -> Response[Any]:
    """One page of the listed types, in order, as one list. A filter naming an attribute a
    type does not declare matches none of that type (§3.4.2.1); a filter no type understands
    is invalidFilter. sortBy orders within each type. One list call per type."""
    compiled: list[tuple[dict[str, Any], ResourceKind, AbstractContextManager[None]]] = []
    first_error: InvalidFilterException | None = None
    for kind in kinds:
        compiler = kind.compiler(scim.tenant.id)
        try:
            compiled.append((compile_query(compiler, query), kind, compiler.planning()))
        except InvalidFilterException as exc:
            first_error = first_error or exc
    if not compiled and first_error is not None:
        raise first_error
    offset, remaining = query.start_index - 1, query.count
    resources: list[dict[str, Any]] = []
    total = 0
    for kwargs, kind, planning in compiled:
        with planning:
            page = await kind.lister(
                tenant_id=scim.tenant.id,
                actor=scim.actor,
                **{**kwargs, "offset": offset, "limit": remaining},
            )
        resources += await kind.renderer(scim, page.items, query.projection)
        remaining -= len(page.items)
        offset = max(0, offset - page.total)
        total += page.total
    return scim_response(list_body(resources, total=total, start_index=query.start_index))


def search_routes(path: str, kind: ResourceKind) -> list[HTTPRouteHandler]:
    """`GET {path}`, the query in the URL (§3.4.2), and `POST {path}/.search`, the query in a
    SearchRequest body (§3.4.3), for one resource type."""
    name = path.strip("/").lower()

    @get(path, name=f"list_{name}")
    async def listing(
        request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
    ) -> Response[Any]:
        return await search(scim, query_of_request(request), [kind])

    @post(f"{path}/.search", status_code=200, name=f"search_{name}")
    async def searching(
        request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
    ) -> Response[Any]:
        return await search(scim, list_query(await read_json(request)), [kind])

    return [listing, searching]
