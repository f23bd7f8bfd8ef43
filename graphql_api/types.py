"""GraphQL object types: thin views of service records."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from definewtf.clock import utcnow
from definewtf.errors import Invalid
from definewtf.services import api_keys, audit, groups, roles
from definewtf.services.roles import RoleGrant as Grant
from definewtf.services.tenants import TenantRecord
from definewtf.services.tokens import ROTATION_DUE_DAYS, ScimTokenInfo
from definewtf.services.users import UserRecord

N = TypeVar("N")


@strawberry.type
class Tenant:
    id: strawberry.ID
    slug: str
    name: str
    created_at: datetime | None
    scim_endpoint: str = strawberry.field(description="The SCIM base URL to enter in the IdP.")

    @classmethod
    def of(cls, record: TenantRecord, scim_endpoint: str) -> Tenant:
        return cls(
            id=strawberry.ID(str(record.id)),
            slug=record.slug,
            name=record.name,
            created_at=record.created_at,
            scim_endpoint=scim_endpoint,
        )


@strawberry.type
class ScimToken:
    """Metadata of a SCIM token. The secret is never readable after generation."""

    id: strawberry.ID
    prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool
    age_days: int
    rotation_due: bool

    @classmethod
    def of(cls, info: ScimTokenInfo) -> ScimToken:
        now = utcnow()
        age_days = (now - info.created_at).days
        return cls(
            id=strawberry.ID(str(info.id)),
            prefix=info.prefix,
            created_at=info.created_at,
            created_by=info.created_by,
            last_used_at=info.last_used_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            active=info.active(now),
            age_days=age_days,
            rotation_due=info.active(now) and age_days >= ROTATION_DUE_DAYS,
        )


@strawberry.type
class GeneratedScimToken:
    token: str = strawberry.field(
        description="The plaintext token. Shown this once; store it in the IdP now."
    )
    scim_token: ScimToken


@strawberry.type
class RoleGrant:
    role: str
    permissions: list[str]
    source: str = strawberry.field(description='"direct", or the name of the granting group.')

    @classmethod
    def of(cls, grant: roles.RoleGrant) -> RoleGrant:
        return cls(role=grant.role, permissions=list(grant.permissions), source=grant.source)


@strawberry.type
class GroupRef:
    id: strawberry.ID
    display_name: str

    @classmethod
    def of(cls, group_id: uuid.UUID, display_name: str) -> GroupRef:
        return cls(id=strawberry.ID(str(group_id)), display_name=display_name)


@strawberry.type
class User:
    id: strawberry.ID
    user_name: str
    active: bool
    external_id: str | None
    display_name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    created_at: datetime
    updated_at: datetime
    #: Read with the page (`Query.users`). A resolver that has them answers at once: awaiting a
    #: loader for each of a page's 100 users was most of a `users { roles groups }` page.
    known_roles: strawberry.Private[list[RoleGrant] | None] = None
    known_groups: strawberry.Private[list[GroupRef] | None] = None

    @strawberry.field(description="Roles held, directly or through SCIM groups (batched).")
    def roles(self, info: Info[Any, Any]) -> list[RoleGrant]:
        if self.known_roles is not None:
            return self.known_roles
        return self._load_roles(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_roles(self, info: Info[Any, Any]) -> list[RoleGrant]:
        grants = await info.context.loaders.roles.load(uuid.UUID(str(self.id)))
        return [RoleGrant.of(grant) for grant in grants]

    @strawberry.field(description="SCIM groups the user is in (batched).")
    def groups(self, info: Info[Any, Any]) -> list[GroupRef]:
        if self.known_groups is not None:
            return self.known_groups
        return self._load_groups(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_groups(self, info: Info[Any, Any]) -> list[GroupRef]:
        refs = await info.context.loaders.groups.load(uuid.UUID(str(self.id)))
        return [GroupRef.of(ref.id, ref.display_name) for ref in refs]

    @classmethod
    def of(
        cls,
        record: UserRecord,
        grants: list[Grant] | None = None,
    ) -> User:
        groups = record.groups
        return cls(
            id=strawberry.ID(str(record.id)),
            user_name=record.user_name,
            active=record.active,
            external_id=record.external_id,
            display_name=record.display_name,
            given_name=record.given_name,
            family_name=record.family_name,
            email=record.email,
            created_at=record.created_at,
            updated_at=record.updated_at,
            known_roles=None if grants is None else [RoleGrant.of(grant) for grant in grants],
            known_groups=None if groups is None else [GroupRef.of(*group) for group in groups],
        )


@strawberry.type
class AuditEvent:
    """One change, with who made it; values are JSON (never a secret)."""

    id: strawberry.ID
    occurred_at: datetime
    actor_type: str
    actor: str
    actor_id: strawberry.ID | None
    action: str
    target_type: str
    target_id: str
    before: JSON | None
    after: JSON | None
    request_id: str

    @classmethod
    def of(cls, record: audit.AuditRecord) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(record.id)),
            occurred_at=record.occurred_at,
            actor_type=record.actor_type,
            actor=record.actor_label,
            actor_id=None if record.actor_id is None else strawberry.ID(str(record.actor_id)),
            action=record.action,
            target_type=record.target_type,
            target_id=record.target_id,
            before=cast(JSON, record.before),
            after=cast(JSON, record.after),
            request_id=record.request_id,
        )


@strawberry.type
class Role:
    id: strawberry.ID
    name: str
    description: str
    permissions: list[str]
    builtin: bool

    @classmethod
    def of(cls, record: roles.RoleRecord) -> Role:
        return cls(
            id=strawberry.ID(str(record.id)),
            name=record.name,
            description=record.description,
            permissions=list(record.permissions),
            builtin=record.builtin,
        )


@strawberry.type
class ApiKey:
    """API key metadata; the secret is shown once, by createApiKey."""

    id: strawberry.ID
    prefix: str
    name: str
    user_id: strawberry.ID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: api_keys.ApiKeyInfo) -> ApiKey:
        return cls(
            id=strawberry.ID(str(info.id)),
            prefix=info.prefix,
            name=info.name,
            user_id=strawberry.ID(str(info.user_id)),
            created_at=info.created_at,
            last_used_at=info.last_used_at,
            revoked_at=info.revoked_at,
        )


@strawberry.type
class CreatedApiKey:
    key: str = strawberry.field(description="The plaintext key. Shown this once.")
    api_key: ApiKey


@strawberry.type
class Group:
    id: strawberry.ID
    display_name: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Members, oldest first (a page at a time: groups can be large).")
    async def members(
        self, info: Info[Any, Any], first: int = 50, after: str | None = None
    ) -> Connection[GroupMember]:
        offset, first = page_window(first, after)
        context = info.context
        page = await groups.member_page(
            tenant_id=context.require_tenant().id,
            group_id=uuid.UUID(str(self.id)),
            actor=context.require_actor(),
            offset=offset,
            limit=first,
        )
        nodes = [
            GroupMember(user_id=strawberry.ID(str(m.user_id)), display=m.display)
            for m in page.items
        ]
        return connection(nodes, offset=offset, total=page.total)

    @classmethod
    def of(cls, record: groups.GroupRecord) -> Group:
        return cls(
            id=strawberry.ID(str(record.id)),
            display_name=record.display_name,
            external_id=record.external_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


@strawberry.type
class GroupMember:
    user_id: strawberry.ID
    display: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    #: None where the resolver did not count, which it does only if `totalCount` is asked
    #: for (`schema._selects`).
    total: strawberry.Private[int | None]

    @strawberry.field
    def total_count(self) -> int:
        if self.total is None:
            raise RuntimeError("totalCount was asked for, and not counted")
        return self.total


# Cursors are opaque to clients: an offset, or an audit event's place in the trail.
#: A cursor past this offset is invalid: no tenant has that many rows, and an offset near 2**63
#: overflows the databases' OFFSET (PostgreSQL "bigint out of range", SQLite "datatype
#: mismatch"), which would reach the client as a raw database error.
MAX_CURSOR_OFFSET = 2**53


def encode_cursor(offset: int) -> str:
    return _encoded(f"o:{offset}")


def event_cursor(offset: int, key: audit.AuditKey) -> str:
    """An audit event's cursor: its offset (for `hasPreviousPage`) and its place in the trail,
    which the next page is read from."""
    return _encoded(f"e:{offset}:{key.id}:{key.occurred_at.isoformat()}")


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decoded(cursor: str) -> tuple[int, audit.AuditKey | None] | None:
    """(offset, the event's place for an event cursor), or None if `cursor` is neither."""
    try:
        kind, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o":
            offset, key = int(rest), None
        elif kind == "e":
            position, event_id, occurred_at = rest.split(":", 2)
            offset = int(position)
            at = datetime.fromisoformat(occurred_at)
            if at.tzinfo is None:
                return None
            key = audit.AuditKey(occurred_at=at, id=uuid.UUID(event_id))
        else:
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    return (offset, key) if 0 <= offset <= MAX_CURSOR_OFFSET else None


#: The largest page a GraphQL list returns.
MAX_PAGE_SIZE = 100


def page_window(first: int, after: str | None) -> tuple[int, int]:
    """(offset, limit) of a `first` / `after` page; out-of-range values are Invalid."""
    offset, limit, key = event_window(first, after)
    if key is not None:
        raise Invalid("invalid cursor", attribute="after")
    return offset, limit


def event_window(first: int, after: str | None) -> tuple[int, int, audit.AuditKey | None]:
    """(offset, limit, event to read after) of a page of the audit trail: `after` is an
    event's cursor, or an offset cursor (as every list gave before event cursors)."""
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise Invalid(f"first must be between 0 and {MAX_PAGE_SIZE}", attribute="first")
    if after is None:
        return 0, first, None
    decoded = _decoded(after)
    if decoded is None:
        raise Invalid("invalid cursor", attribute="after")
    offset, key = decoded
    return offset + 1, first, key


def connection(
    nodes: list[N],
    *,
    offset: int,
    total: int | None,
    cursors: list[str] | None = None,
    has_next: bool | None = None,
) -> Connection[N]:
    """A page of `nodes` at `offset`. `cursors` (one per node) default to offset cursors, and
    `has_next` to what `total` says (one of the two is given)."""
    if cursors is None:
        cursors = [encode_cursor(offset + i) for i in range(len(nodes))]
    if has_next is None:
        assert total is not None
        has_next = offset + len(nodes) < total
    edges = [Edge(cursor=cursor, node=node) for cursor, node in zip(cursors, nodes, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )
