"""The GraphQL schema: queries and mutations delegating to the services."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.extensions import ParserCache
from strawberry.types import Info

from definewtf import profiles
from definewtf.errors import Denied, NotFound, Unauthenticated
from definewtf.services import (
    api_keys,
    audit,
    groups,
    roles,
    scim_activity,
    sessions,
    tenants,
    tokens,
    users,
)
from graphql_api import limits
from graphql_api.context import ctx
from graphql_api.errors import (
    EXCEPTION_HANDLERS,
    ConflictError,
    DeniedError,
    InvalidError,
    MaskUnexpectedErrors,
    NotFoundError,
    Schema,
)
from graphql_api.types import (
    ApiKey,
    AuditEvent,
    Connection,
    CreatedApiKey,
    GeneratedScimToken,
    Group,
    Role,
    RoleGrant,
    ScimToken,
    Tenant,
    User,
    connection,
    event_cursor,
    event_window,
    page_window,
)


@strawberry.input
class UserFilter:
    search: str | None = strawberry.field(default=None, description="In userName or email.")
    active: bool | None = None
    email: str | None = None
    role: str | None = strawberry.field(default=None, description="Held directly or via a group.")
    group_id: strawberry.ID | None = None


@strawberry.type(description="SCIM requests on this tenant's endpoint, as the server saw them.")
class ScimStatus:
    last_request_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None = strawberry.field(
        description='e.g. "401 GET /api/scim/Users: the token was revoked"'
    )
    last_error_at: datetime | None
    requests_last_24h: int = strawberry.field(
        description="Counted by the hour: the current hour and the 23 before it."
    )
    errors_last_24h: int = strawberry.field(description="Answers with a status of 400 or more.")
    users_provisioned: int = strawberry.field(
        description="Users of the tenant now (deleted ones excluded)."
    )


@strawberry.input(description="Every part is optional; they combine with AND.")
class AuditEventFilter:
    action: str | None = strawberry.field(default=None, description="e.g. user.deactivate")
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="The user (or credential, for SCIM tokens) who acted."
    )
    actor_type: str | None = strawberry.field(
        default=None, description="session, api_key, scim_token, cli or system."
    )
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input(description="A user as the admin console edits it.")
class CreateUserInput:
    user_name: str
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    email: str | None = strawberry.field(default=None, description="The primary email.")
    active: bool = True
    password: str | None = strawberry.field(
        default=None, description="For manual login; hashed, never returned."
    )


@strawberry.input(
    description="Only the fields given change; an empty string clears a name, the display "
    "name or the email. Members may change their own name and display name."
)
class UpdateUserInput:
    user_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None


@strawberry.type
class GroupRoleMapping:
    group_id: strawberry.ID
    role: str
    mapped: bool = strawberry.field(description="False after unmapGroupToRole.")


@strawberry.type
class Viewer:
    user_id: strawberry.ID | None
    label: str
    roles: list[RoleGrant]


@strawberry.type
class LoginSession:
    token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; shown once."
    )
    expires_at: datetime


@strawberry.type
class LoginFailed:
    message: str


@strawberry.type
class Done:
    ok: bool


LoginResult = Annotated[LoginSession | LoginFailed | InvalidError, strawberry.union("LoginResult")]
SetPasswordResult = Annotated[
    Done | NotFoundError | InvalidError | DeniedError, strawberry.union("SetPasswordResult")
]

RoleResult = Annotated[
    Role | NotFoundError | ConflictError | InvalidError | DeniedError,
    strawberry.union("RoleResult"),
]
UserResult = Annotated[User | NotFoundError | DeniedError, strawberry.union("UserResult")]
WriteUserResult = Annotated[
    User | NotFoundError | ConflictError | InvalidError | DeniedError,
    strawberry.union("WriteUserResult"),
]
DoneResult = Annotated[
    Done | NotFoundError | InvalidError | DeniedError, strawberry.union("DoneResult")
]

GroupResult = Annotated[Group | NotFoundError | DeniedError, strawberry.union("GroupResult")]
UpdateTenantResult = Annotated[
    Tenant | NotFoundError | InvalidError | DeniedError, strawberry.union("UpdateTenantResult")
]

CreateApiKeyResult = Annotated[
    CreatedApiKey | NotFoundError | DeniedError, strawberry.union("CreateApiKeyResult")
]
RevokeApiKeyResult = Annotated[
    ApiKey | NotFoundError | DeniedError, strawberry.union("RevokeApiKeyResult")
]

MapGroupToRoleResult = Annotated[
    GroupRoleMapping | NotFoundError | DeniedError, strawberry.union("MapGroupToRoleResult")
]

CreateTenantResult = Annotated[
    Tenant | ConflictError | InvalidError | DeniedError, strawberry.union("CreateTenantResult")
]
GenerateScimTokenResult = Annotated[
    GeneratedScimToken | InvalidError | DeniedError, strawberry.union("GenerateScimTokenResult")
]
RevokeScimTokenResult = Annotated[
    ScimToken | NotFoundError | DeniedError, strawberry.union("RevokeScimTokenResult")
]


def _uuid(raw: str, resource: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(resource, raw) from None


async def _set_active(info: Info[Any, Any], user_id: strawberry.ID, *, active: bool) -> User:
    context = ctx(info)
    record = await users.set_active(
        tenant_id=context.require_tenant().id,
        user_id=_uuid(user_id, "User"),
        active=active,
        actor=context.require_actor(),
        security=context.runtime.security,
    )
    return User.of(record)


def _selects(info: Info[Any, Any], name: str) -> bool:
    """Whether the field being resolved selects a field `name` anywhere below it."""

    def below(fields: list[Any]) -> bool:
        return any(
            getattr(field, "name", None) == name or below(getattr(field, "selections", []))
            for field in fields
        )

    return below(info.selected_fields)


@strawberry.type
class Query:
    @strawberry.field(
        description="API keys (metadata): all of the tenant's for admins, else one's own."
    )
    async def api_keys(self, info: Info[Any, Any]) -> list[ApiKey]:
        context = ctx(info)
        keys = await api_keys.list_api_keys(
            tenant_id=context.require_tenant().id, actor=context.require_actor()
        )
        return [ApiKey.of(key) for key in keys]

    @strawberry.field(description="Every customer tenant (platform operators).")
    async def tenants(
        self, info: Info[Any, Any], first: int = 50, after: str | None = None
    ) -> Connection[Tenant]:
        context = ctx(info)
        offset, limit = page_window(first, after)
        total, records = await tenants.list_tenants(
            actor=context.require_actor(), offset=offset, limit=limit
        )
        nodes = [Tenant.of(r, context.scim_endpoint(r.slug)) for r in records]
        return connection(nodes, offset=offset, total=total)

    @strawberry.field(description="SCIM groups of this tenant, oldest first.")
    async def groups(
        self, info: Info[Any, Any], first: int = 50, after: str | None = None
    ) -> Connection[Group]:
        context = ctx(info)
        offset, limit = page_window(first, after)
        page = await groups.list_groups(
            tenant_id=context.require_tenant().id,
            actor=context.require_actor(),
            offset=offset,
            limit=limit,
        )
        return connection([Group.of(r) for r in page.items], offset=offset, total=page.total)

    @strawberry.field(description="One SCIM group, with its members as a connection.")
    async def group(self, info: Info[Any, Any], id: strawberry.ID) -> GroupResult:
        context = ctx(info)
        record = await groups.get_group(
            tenant_id=context.require_tenant().id,
            group_id=_uuid(id, "Group"),
            actor=context.require_actor(),
        )
        return Group.of(record)

    @strawberry.field(description="The tenant's roles (admins).")
    async def roles(self, info: Info[Any, Any]) -> list[Role]:
        context = ctx(info)
        records = await roles.list_roles(
            tenant_id=context.require_tenant().id, actor=context.require_actor()
        )
        return [Role.of(record) for record in records]

    @strawberry.field(description="One user of this tenant.")
    async def user(self, info: Info[Any, Any], id: strawberry.ID) -> UserResult:
        context = ctx(info)
        record = await users.get_user(
            tenant_id=context.require_tenant().id,
            user_id=_uuid(id, "User"),
            actor=context.require_actor(),
        )
        return User.of(record)

    @strawberry.field(description="Who the credential acts as, and the roles they hold now.")
    async def viewer(self, info: Info[Any, Any]) -> Viewer:
        context = ctx(info)
        actor = context.require_actor()
        grants = []
        if actor.user_id is not None and actor.tenant_id is not None:
            grants = await roles.grants_of(tenant_id=actor.tenant_id, user_id=actor.user_id)
        return Viewer(
            user_id=None if actor.user_id is None else strawberry.ID(str(actor.user_id)),
            label=actor.label,
            roles=[RoleGrant.of(g) for g in grants],
        )

    @strawberry.field(description="The tenant of this host.")
    async def tenant(self, info: Info[Any, Any]) -> Tenant:
        context = ctx(info)
        context.require_actor()
        # Read afresh: the request context's tenant may be a few seconds old (TenantCache).
        tenant = await tenants.get_tenant(tenant_id=context.require_tenant().id)
        return Tenant.of(tenant, context.scim_endpoint(tenant.slug))

    @strawberry.field(description="Users of this tenant, oldest first.")
    async def users(
        self,
        info: Info[Any, Any],
        first: int = 50,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> Connection[User]:
        context = ctx(info)
        offset, limit = page_window(first, after)
        tenant = context.require_tenant()
        criteria = None
        if filter is not None:
            group_id = None if filter.group_id is None else _uuid(filter.group_id, "Group")
            criteria = users.criteria_of(
                tenant.id,
                users.UserQuery(
                    search=filter.search,
                    active=filter.active,
                    email=filter.email,
                    role=filter.role,
                    group_id=group_id,
                ),
            )
        with users.planning_of(criteria):
            page = await users.list_users(
                tenant_id=tenant.id,
                actor=context.require_actor(),
                criteria=criteria,
                offset=offset,
                limit=limit,
                with_groups=True,  # read in the page's own statement
            )
        grants: dict[uuid.UUID, list[roles.RoleGrant]] = {}
        if _selects(info, "roles"):
            grants = await roles.grants_of_users(
                tenant_id=tenant.id, user_ids=[record.id for record in page.items]
            )
        nodes = [User.of(record, grants.get(record.id)) for record in page.items]
        return connection(nodes, offset=offset, total=page.total)

    @strawberry.field(
        description=(
            "The tenant's audit trail, newest first (admins). A page goes on from the event"
            " of `after`, however many events arrived since. Counted (`totalCount`) only if"
            " asked for: the trail only grows."
        )
    )
    async def audit_events(
        self,
        info: Info[Any, Any],
        first: int = 50,
        after: str | None = None,
        filter: AuditEventFilter | None = None,
    ) -> Connection[AuditEvent]:
        context = ctx(info)
        offset, limit, key = event_window(first, after)
        query = audit.AuditQuery()
        if filter is not None:
            actor_id = None if filter.actor_id is None else _uuid(filter.actor_id, "Actor")
            query = audit.AuditQuery(
                action=filter.action,
                actor_id=actor_id,
                actor_type=filter.actor_type,
                target_type=filter.target_type,
                target_id=filter.target_id,
                since=filter.since,
                until=filter.until,
            )
        page = await audit.list_events(
            tenant_id=context.require_tenant().id,
            actor=context.require_actor(),
            query=query,
            offset=0 if key else offset,
            limit=limit,
            after=key,
            count=_selects(info, "totalCount"),
        )
        cursors = [
            event_cursor(offset + i, audit.AuditKey(record.occurred_at, record.id))
            for i, record in enumerate(page.items)
        ]
        nodes = [AuditEvent.of(record) for record in page.items]
        return connection(
            nodes, offset=offset, total=page.total, cursors=cursors, has_next=page.more
        )

    @strawberry.field(description="Is the IdP provisioning? Its last calls and errors (admins).")
    async def scim_status(self, info: Info[Any, Any]) -> ScimStatus:
        context = ctx(info)
        status = await scim_activity.scim_status(
            tenant_id=context.require_tenant().id,
            actor=context.require_actor(),
            activity=context.runtime.activity,
        )
        return ScimStatus(**{f.name: getattr(status, f.name) for f in fields(status)})

    @strawberry.field(description="SCIM tokens of this tenant (metadata only), newest first.")
    async def scim_tokens(self, info: Info[Any, Any]) -> list[ScimToken]:
        context = ctx(info)
        rows = await tokens.list_scim_tokens(
            tenant_id=context.require_tenant().id, actor=context.require_actor()
        )
        return [ScimToken.of(row) for row in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Rename this host's tenant (its admins, or operators).")
    async def update_tenant(self, info: Info[Any, Any], name: str) -> UpdateTenantResult:
        context = ctx(info)
        record = await tenants.update_tenant(
            tenant_id=context.require_tenant().id, name=name, actor=context.require_actor()
        )
        return Tenant.of(record, context.scim_endpoint(record.slug))

    @strawberry.mutation(description="A new API key for a user (oneself, or anyone for admins).")
    async def create_api_key(
        self, info: Info[Any, Any], name: str, user_id: strawberry.ID | None = None
    ) -> CreateApiKeyResult:
        context = ctx(info)
        actor = context.require_actor()
        owner = actor.user_id if user_id is None else _uuid(user_id, "User")
        if owner is None:
            raise Denied("name the user the key acts as")
        issued = await api_keys.create_api_key(
            tenant_id=context.require_tenant().id,
            user_id=owner,
            name=name,
            actor=actor,
            security=context.runtime.security,
        )
        created = api_keys.ApiKeyInfo(
            id=issued.id,
            prefix=issued.prefix,
            name=name[:200],
            user_id=issued.user_id,
            created_at=issued.created_at,
            last_used_at=None,
            revoked_at=None,
        )
        return CreatedApiKey(key=issued.key, api_key=ApiKey.of(created))

    @strawberry.mutation(description="Revoke an API key now.")
    async def revoke_api_key(self, info: Info[Any, Any], id: strawberry.ID) -> RevokeApiKeyResult:
        context = ctx(info)
        revoked = await api_keys.revoke_api_key(
            tenant_id=context.require_tenant().id,
            key_id=_uuid(id, "ApiKey"),
            actor=context.require_actor(),
        )
        return ApiKey.of(revoked)

    @strawberry.mutation(description="Create a role with permissions (admins).")
    async def create_role(
        self, info: Info[Any, Any], name: str, permissions: list[str], description: str = ""
    ) -> RoleResult:
        context = ctx(info)
        record = await roles.create_role(
            tenant_id=context.require_tenant().id,
            name=name,
            permissions=permissions,
            description=description,
            actor=context.require_actor(),
        )
        return Role.of(record)

    @strawberry.mutation(description="Rename a role, change its permissions or description.")
    async def update_role(
        self,
        info: Info[Any, Any],
        id: strawberry.ID,
        name: str | None = None,
        permissions: list[str] | None = None,
        description: str | None = None,
    ) -> RoleResult:
        context = ctx(info)
        record = await roles.update_role(
            tenant_id=context.require_tenant().id,
            role_id=_uuid(id, "Role"),
            name=name,
            permissions=permissions,
            description=description,
            actor=context.require_actor(),
        )
        return Role.of(record)

    @strawberry.mutation(description="Delete a role (not a built-in one); its grants end.")
    async def delete_role(self, info: Info[Any, Any], id: strawberry.ID) -> DoneResult:
        context = ctx(info)
        await roles.delete_role(
            tenant_id=context.require_tenant().id,
            role_id=_uuid(id, "Role"),
            actor=context.require_actor(),
        )
        return Done(ok=True)

    @strawberry.mutation(description="Grant a role by hand (provisioning never touches it).")
    async def assign_role(
        self, info: Info[Any, Any], user_id: strawberry.ID, role: str
    ) -> DoneResult:
        context = ctx(info)
        await roles.assign_role(
            tenant_id=context.require_tenant().id,
            user_id=_uuid(user_id, "User"),
            role=role,
            actor=context.require_actor(),
        )
        return Done(ok=True)

    @strawberry.mutation(description="Take back a role granted by hand.")
    async def unassign_role(
        self, info: Info[Any, Any], user_id: strawberry.ID, role: str
    ) -> DoneResult:
        context = ctx(info)
        await roles.unassign_role(
            tenant_id=context.require_tenant().id,
            user_id=_uuid(user_id, "User"),
            role=role,
            actor=context.require_actor(),
        )
        return Done(ok=True)

    @strawberry.mutation(description="Create a user by hand (admins); SCIM sees it too.")
    async def create_user(self, info: Info[Any, Any], input: CreateUserInput) -> WriteUserResult:
        context = ctx(info)
        change = profiles.ProfileChange(**vars(input))
        record = await users.create_user(
            tenant_id=context.require_tenant().id,
            data=profiles.new_user(change),
            actor=context.require_actor(),
            security=context.runtime.security,
        )
        return User.of(record)

    @strawberry.mutation(description="Change a user's profile; what it does not name stays.")
    async def update_user(
        self, info: Info[Any, Any], id: strawberry.ID, input: UpdateUserInput
    ) -> WriteUserResult:
        context = ctx(info)
        change = profiles.ProfileChange(**vars(input))
        record = await users.update_user(
            tenant_id=context.require_tenant().id,
            user_id=_uuid(id, "User"),
            change=lambda data: profiles.applied(data, change),
            actor=context.require_actor(),
            security=context.runtime.security,
        )
        return User.of(record)

    @strawberry.mutation(
        description="Deactivate a user: login, API keys and sessions stop at once."
    )
    async def deactivate_user(self, info: Info[Any, Any], id: strawberry.ID) -> UserResult:
        return await _set_active(info, id, active=False)

    @strawberry.mutation(description="Reactivate a deactivated user.")
    async def reactivate_user(self, info: Info[Any, Any], id: strawberry.ID) -> UserResult:
        return await _set_active(info, id, active=True)

    @strawberry.mutation(description="Log in with email and password on a tenant's host.")
    async def login(self, info: Info[Any, Any], email: str, password: str) -> LoginResult:
        context = ctx(info)
        try:
            issued = await sessions.login(
                tenant_id=context.require_tenant().id,
                email=email,
                password=password,
                security=context.runtime.security,
            )
        except Unauthenticated as exc:
            return LoginFailed(message=exc.detail)
        return LoginSession(token=issued.token, expires_at=issued.expires_at)

    @strawberry.mutation(description="End the session this request is authenticated with.")
    async def logout(self, info: Info[Any, Any]) -> Done:
        context = ctx(info)
        actor = context.require_actor()
        ended = await sessions.logout(tenant_id=context.require_tenant().id, actor=actor)
        return Done(ok=ended)

    @strawberry.mutation(description="Set a password: one's own, or any user's for an admin.")
    async def set_password(
        self, info: Info[Any, Any], user_id: strawberry.ID, password: str
    ) -> SetPasswordResult:
        context = ctx(info)
        await sessions.set_password(
            tenant_id=context.require_tenant().id,
            user_id=_uuid(user_id, "User"),
            password=password,
            actor=context.require_actor(),
            security=context.runtime.security,
        )
        return Done(ok=True)

    @strawberry.mutation(
        description="Members of the SCIM group hold the role (Okta group-to-role)."
    )
    async def map_group_to_role(
        self, info: Info[Any, Any], group_id: strawberry.ID, role: str
    ) -> MapGroupToRoleResult:
        context = ctx(info)
        await roles.map_group_to_role(
            tenant_id=context.require_tenant().id,
            group_id=_uuid(group_id, "Group"),
            role=role,
            actor=context.require_actor(),
        )
        return GroupRoleMapping(group_id=group_id, role=role, mapped=True)

    @strawberry.mutation(description="The group no longer grants the role; direct grants stay.")
    async def unmap_group_to_role(
        self, info: Info[Any, Any], group_id: strawberry.ID, role: str
    ) -> MapGroupToRoleResult:
        context = ctx(info)
        await roles.unmap_group_to_role(
            tenant_id=context.require_tenant().id,
            group_id=_uuid(group_id, "Group"),
            role=role,
            actor=context.require_actor(),
        )
        return GroupRoleMapping(group_id=group_id, role=role, mapped=False)

    @strawberry.mutation(description="Create a tenant (platform operators).")
    async def create_tenant(
        self, info: Info[Any, Any], slug: str, name: str | None = None
    ) -> CreateTenantResult:
        context = ctx(info)
        record = await tenants.create_tenant(slug=slug, name=name, actor=context.require_actor())
        return Tenant.of(record, context.scim_endpoint(record.slug))

    @strawberry.mutation(
        description="Generate a SCIM token for this tenant; the previous ones are revoked "
        "(after `overlapMinutes`, default at once). The plaintext is returned this once."
    )
    async def generate_scim_token(
        self, info: Info[Any, Any], expires_in_days: int | None = None, overlap_minutes: int = 0
    ) -> GenerateScimTokenResult:
        context = ctx(info)
        issued = await tokens.generate_scim_token(
            tenant_id=context.require_tenant().id,
            actor=context.require_actor(),
            security=context.runtime.security,
            expires_in_days=expires_in_days,
            overlap_minutes=overlap_minutes,
        )
        return GeneratedScimToken(token=issued.token, scim_token=ScimToken.of(issued.info))

    @strawberry.mutation(description="Revoke a SCIM token now.")
    async def revoke_scim_token(
        self, info: Info[Any, Any], id: strawberry.ID
    ) -> RevokeScimTokenResult:
        context = ctx(info)
        revoked = await tokens.revoke_scim_token(
            tenant_id=context.require_tenant().id,
            token_id=_uuid(id, "ScimToken"),
            actor=context.require_actor(),
        )
        return ScimToken.of(revoked)


schema = Schema(
    query=Query,
    mutation=Mutation,
    exception_handlers=EXCEPTION_HANDLERS,
    # The admin console sends the same few documents all day: no need to parse (here) or
    # validate (limits.extensions) each again.
    extensions=[*limits.extensions(), lambda: ParserCache(maxsize=256), MaskUnexpectedErrors],
)
