"""`/Users` (RFC 7644 §3.3, §3.4.1, §3.4.2)."""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from litestar import Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from scim2_models import Context, SearchRequest

from definewtf.services import groups, users
from definewtf.services.users import UserData
from scim_facade.context import ScimContext
from scim_facade.filters import UserFilterCompiler
from scim_facade.mapping import (
    assign,
    from_scim_user,
    project,
    scim_user_of,
    to_scim_user,
)
from scim_facade.patch import parse_patch, simple_assignments
from scim_facade.plain_users import read_user
from scim_facade.requests import (
    POLICY,
    if_match_version,
    read_json,
    resource_id,
    resource_projection,
)
from scim_facade.responses import scim_response
from scim_facade.search import ResourceKind, search_routes


@post("/Users", status_code=201)
async def create_user(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    data = read_user(await read_json(request), Context.RESOURCE_CREATION_REQUEST)
    record = await users.create_user(
        tenant_id=scim.tenant.id,
        data=data,
        actor=scim.actor,
        security=scim.security,
    )
    return await _resource(scim, record, request, status=201)


@get("/Users/{user_id:str}")
async def get_user(
    request: Request[Any, Any, Any], user_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    record = await users.get_user(
        tenant_id=scim.tenant.id,
        user_id=resource_id(user_id, "User"),
        actor=scim.actor,
        with_groups=True,
    )
    if if_match_version(request, "if-none-match") == record.version:
        return scim_response(None, status=304, version=record.version)
    return await _resource(scim, record, request)


async def _resource(
    scim: ScimContext, record: users.UserRecord, request: Request[Any, Any, Any], status: int = 200
) -> Response[Any]:
    """A single user, with the ETag header and `Location` for a creation (RFC 7644 §3.3)."""
    location = scim.location("Users", record.id)
    [memberships] = await _memberships(scim, [record])
    body = project(to_scim_user(record, location, memberships), resource_projection(request))
    headers = {"Location": location} if status == 201 else None
    return scim_response(body, status=status, headers=headers, version=record.version)


@put("/Users/{user_id:str}")
async def replace_user(
    request: Request[Any, Any, Any], user_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """RFC 7644 §3.5.1: the body replaces the resource; readOnly attributes are ignored."""
    replacement = read_user(await read_json(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    record = await users.update_user(
        tenant_id=scim.tenant.id,
        user_id=resource_id(user_id, "User"),
        change=lambda _: replacement,
        actor=scim.actor,
        security=scim.security,
        if_match=if_match_version(request),
    )
    return await _resource(scim, record, request)


@patch("/Users/{user_id:str}")
async def patch_user(
    request: Request[Any, Any, Any], user_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """RFC 7644 §3.5.2: all operations apply, or none (the service's transaction)."""
    payload = await read_json(request)
    users_url = f"{scim.base_url}/Users"
    assignments = simple_assignments(payload, users_url)
    # Invalid operations fail here, before any read; on the fast path, only once it declines.
    operations = None if assignments is not None else parse_patch(payload, users_url)

    def change(current: UserData) -> UserData:
        if assignments is not None and (assigned := assign(current, assignments)) is not None:
            return assigned
        resource = scim_user_of(current)
        (operations or parse_patch(payload, users_url)).patch(resource, scim_policy=POLICY)
        return from_scim_user(resource)

    record = await users.update_user(
        tenant_id=scim.tenant.id,
        user_id=resource_id(user_id, "User"),
        change=change,
        actor=scim.actor,
        security=scim.security,
        if_match=if_match_version(request),
    )
    return await _resource(scim, record, request)


@delete("/Users/{user_id:str}", status_code=204)
async def delete_user(
    request: Request[Any, Any, Any], user_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> None:
    await users.delete_user(
        tenant_id=scim.tenant.id,
        user_id=resource_id(user_id, "User"),
        actor=scim.actor,
        if_match=if_match_version(request),
    )


async def render_users(
    scim: ScimContext, records: list[users.UserRecord], projection: SearchRequest[Any] | None
) -> list[dict[str, Any]]:
    """A page of users as SCIM resources."""
    return [
        project(to_scim_user(record, scim.location("Users", record.id), found), projection)
        for record, found in zip(records, await _memberships(scim, records), strict=True)
    ]


async def _memberships(
    scim: ScimContext, records: list[users.UserRecord]
) -> list[list[tuple[UUID, str]]]:
    """Each user's groups: read with the user (`with_groups`), or else in one query."""
    unread = [record.id for record in records if record.groups is None]
    found = await groups.groups_of(tenant_id=scim.tenant.id, user_ids=unread) if unread else {}
    return [found[r.id] if r.groups is None else r.groups for r in records]


USERS = ResourceKind(
    UserFilterCompiler, functools.partial(users.list_users, with_groups=True), render_users
)

ROUTES = [
    create_user,
    get_user,
    replace_user,
    patch_user,
    delete_user,
    *search_routes("/Users", USERS),
]
