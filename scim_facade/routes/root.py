"""Endpoints at the root of the SCIM base URL (RFC 7644 §3.4.3)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency

from scim_facade.context import ScimContext
from scim_facade.requests import list_query, read_json
from scim_facade.routes.users import search_users


@post("/.search", status_code=200)
async def search_root(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """A search across resource types. Users are the only type served so far, so this is
    the Users search; Groups join it when /Groups exists."""
    return await search_users(scim, list_query(await read_json(request)))


ROUTES = [search_root]
