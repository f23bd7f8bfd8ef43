"""`/Groups` (RFC 7644 §3; RFC 7643 §4.2)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from scim2_models import Context, Group, SearchRequest

from definewtf.services import groups
from definewtf.services.groups import GroupRecord
from scim_facade.context import ScimContext
from scim_facade.filters import GroupFilterCompiler
from scim_facade.mapping import (
    from_scim_group,
    group_data_of,
    project,
    scim_group_of,
    to_scim_group,
)
from scim_facade.patch import parse_group_patch
from scim_facade.requests import (
    POLICY,
    if_match_version,
    read_json,
    resource_id,
    resource_projection,
    validate,
)
from scim_facade.responses import scim_response
from scim_facade.search import ResourceKind, search_routes


def wants_members(projection: SearchRequest[Any] | None) -> bool:
    """Whether the response shows members: not when excluded, nor when `attributes` leaves
    them out. A group of 50,000 is then answered without reading its members."""
    if projection is None:
        return True
    if projection.excluded_attributes:
        return not any(str(a).lower().startswith("members") for a in projection.excluded_attributes)
    if projection.attributes:
        return any(str(a).lower().startswith("members") for a in projection.attributes)
    return True


async def render_groups(
    scim: ScimContext, records: list[GroupRecord], projection: SearchRequest[Any] | None
) -> list[dict[str, Any]]:
    members = (
        await groups.members_of(tenant_id=scim.tenant.id, group_ids=[r.id for r in records])
        if wants_members(projection)
        else {}
    )
    users_url = f"{scim.base_url}/Users"
    return [
        project(
            to_scim_group(
                record, scim.location("Groups", record.id), users_url, members.get(record.id)
            ),
            projection,
            Group,
        )
        for record in records
    ]


async def _resource(
    scim: ScimContext, record: GroupRecord, request: Request[Any, Any, Any], status: int = 200
) -> Response[Any]:
    [body] = await render_groups(scim, [record], resource_projection(request))
    headers = {"Location": body["meta"]["location"]} if status == 201 else None
    return scim_response(body, status=status, headers=headers, version=record.version)


@post("/Groups", status_code=201)
async def create_group(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    resource = validate(Group, await read_json(request), Context.RESOURCE_CREATION_REQUEST)
    data, members = from_scim_group(resource)
    record = await groups.create_group(
        tenant_id=scim.tenant.id, data=data, members=members, actor=scim.actor
    )
    return await _resource(scim, record, request, status=201)


@get("/Groups/{group_id:str}")
async def get_group(
    request: Request[Any, Any, Any], group_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    record = await groups.get_group(
        tenant_id=scim.tenant.id, group_id=resource_id(group_id, "Group"), actor=scim.actor
    )
    if if_match_version(request, "if-none-match") == record.version:
        return scim_response(None, status=304, version=record.version)
    return await _resource(scim, record, request)


@put("/Groups/{group_id:str}")
async def replace_group(
    request: Request[Any, Any, Any], group_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """RFC 7644 §3.5.1: attributes and the member list are replaced."""
    resource = validate(Group, await read_json(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    data, members = from_scim_group(resource)
    record = await groups.update_group(
        tenant_id=scim.tenant.id,
        group_id=resource_id(group_id, "Group"),
        actor=scim.actor,
        change=lambda _: data,
        members=[members],
        if_match=if_match_version(request),
    )
    return await _resource(scim, record, request)


@patch("/Groups/{group_id:str}")
async def patch_group(
    request: Request[Any, Any, Any], group_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    """RFC 7644 §3.5.2. Answers 204 unless `attributes` asks for the resource: a member
    change then costs the same in a group of 10 and of 50,000."""
    operations = parse_group_patch(await read_json(request))
    other = operations.other

    def change(current: groups.GroupData) -> groups.GroupData:
        if other is None:
            return current
        resource = scim_group_of(current)
        other.patch(resource, scim_policy=POLICY)
        return group_data_of(resource)

    record = await groups.update_group(
        tenant_id=scim.tenant.id,
        group_id=resource_id(group_id, "Group"),
        actor=scim.actor,
        change=change,
        members=operations.members,
        if_match=if_match_version(request),
    )
    if resource_projection(request) is None:
        return scim_response(None, status=204, version=record.version)
    return await _resource(scim, record, request)


@delete("/Groups/{group_id:str}", status_code=204)
async def delete_group(
    request: Request[Any, Any, Any], group_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> None:
    await groups.delete_group(
        tenant_id=scim.tenant.id,
        group_id=resource_id(group_id, "Group"),
        actor=scim.actor,
        if_match=if_match_version(request),
    )


GROUPS = ResourceKind(GroupFilterCompiler, groups.list_groups, render_groups)

ROUTES = [
    create_group,
    get_group,
    replace_group,
    patch_group,
    delete_group,
    *search_routes("/Groups", GROUPS),
]
