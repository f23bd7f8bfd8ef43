"""`/Users` (RFC 7644 §3.3, §3.4.1, §3.4.2)."""

from __future__ import annotations

import uuid
from typing import Any

from definewtf.errors import NotFound
from definewtf.services import users
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from scim2_models import Context, ListResponse

from scim_facade.context import ScimContext
from scim_facade.filters import FilterCompiler
from scim_facade.mapping import ScimUser, from_scim_user, to_scim_user
from scim_facade.registry import USER_FILTER_ATTRIBUTES, USER_SCHEMA
from scim_facade.requests import list_params, read_json, validate
from scim_facade.responses import scim_response

USER_FILTERS = FilterCompiler(USER_FILTER_ATTRIBUTES, default_urn=USER_SCHEMA)


def _user_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("User", None) from None


@post("/Users", status_code=201)
async def create_user(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    resource = validate(ScimUser, await read_json(request), Context.RESOURCE_CREATION_REQUEST)
    record = await users.create_user(
        tenant_id=scim.tenant.id,
        data=from_scim_user(resource),
        actor=scim.actor,
        security=scim.security,
    )
    location = scim.location("Users", record.id)
    return scim_response(
        to_scim_user(record, location),
        status=201,
        headers={"Location": location},
        version=record.version,
    )


@get("/Users/{user_id:str}")
async def get_user(user_id: FromPath[str], scim: NamedDependency[ScimContext]) -> Response[Any]:
    record = await users.get_user(
        tenant_id=scim.tenant.id, user_id=_user_id(user_id), actor=scim.actor
    )
    location = scim.location("Users", record.id)
    return scim_response(to_scim_user(record, location), version=record.version)


@get("/Users")
async def list_users(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    params = list_params(request)
    criteria = None if params.filter is None else USER_FILTERS.compile(params.filter)
    page = await users.list_users(
        tenant_id=scim.tenant.id,
        actor=scim.actor,
        criteria=criteria,
        offset=params.start_index - 1,
        limit=params.count,
    )
    resources = [to_scim_user(record, scim.location("Users", record.id)) for record in page.items]
    body = ListResponse[ScimUser](
        total_results=page.total,
        start_index=params.start_index,
        items_per_page=len(resources),
    ).model_dump()
    body["Resources"] = resources
    return scim_response(body)


ROUTES = [create_user, get_user, list_users]
