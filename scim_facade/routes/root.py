"""Endpoints at the root of the SCIM base URL (RFC 7644 §3.4.3)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency

from scim_facade.context import ScimContext
from scim_facade.requests import list_query, read_json
from scim_facade.routes.groups import GROUPS
from scim_facade.routes.users import USERS
from scim_facade.search import search


@post("/.search", status_code=200)
async def search_root(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """A search across every resource type: Users, then Groups, paged as one list."""
    return await search(scim, list_query(await read_json(request)), [USERS, GROUPS])


ROUTES = [search_root]
