"""Piccolo tables: DESIGN.md §3. Every row carries its tenant.

Conventions that hold for every table:

- Primary keys are UUIDs generated in Python (the SCIM `id` of users and groups).
- Timestamps are written from Python as aware UTC datetimes, never by a database default:
  SQLite stores them as text and compares them as strings, so one format must be used.
- Case-insensitive keys (userName, group displayName, role name) have a `*_ci` column holding
  `definewtf.text.fold(value)`; the unique index is on `(tenant, *_ci)`. SQLite's `lower()`
  folds ASCII only, so folding in Python is what makes both engines agree.
- Composite indexes (all beginning with `tenant`) are created in the migrations with raw SQL,
  since Piccolo columns only declare single-column indexes.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table


class Tenant(Table):
    id = UUID(primary_key=True, default=UUID4())
    slug = Varchar(length=63, unique=True)
    name = Text()
    #: The platform tenant holds the platform operators; no host resolves to it.
    is_platform = Boolean(default=False)
    scim_settings = JSONB(default={})
    created_at = Timestamptz(null=True, default=None)


class User(Table, tablename="app_user"):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    user_name = Text()
    user_name_ci = Text()
    external_id = Text(null=True, default=None)
    given_name = Text(null=True, default=None)
    family_name = Text(null=True, default=None)
    display_name = Text(null=True, default=None)
    #: The primary (or first) email, folded, for lookups by email.
    email = Text(null=True, default=None)
    email_ci = Text(null=True, default=None)
    active = Boolean(default=True)
    #: Soft delete (SCIM DELETE): the row and its history stay, SCIM no longer sees it.
    deleted_at = Timestamptz(null=True, default=None)
    password_hash = Text(null=True, default=None)
    #: Incremented on every change; the SCIM ETag is derived from it.
    version = Integer(default=1)
    #: The full SCIM representation (core + extensions) as last written, minus id, meta and
    #: password. Columns above are projections of it for indexing; nothing an IdP sends is lost.
    attributes = JSONB(default={})
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


class UserValue(Table):
    """One value of a user attribute, for filtering and sorting in SQL.

    The `attributes` JSON is what is returned; these rows are what is searched. A simple
    attribute has one row (`sub` = ""); a complex one a row per sub-attribute; a multi-valued
    one a row per sub-attribute of each `entry`, so that `emails[type eq "work" and value co
    "@x"]` can require both on the same entry. `attr` is the lower-cased attribute name, with
    its schema URN for extension attributes. Rewritten whenever the user changes.
    """

    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(User, on_delete=OnDelete.cascade, null=False)
    attr = Text()
    entry = Integer(default=0)
    sub = Text(default="")
    #: The value as sent (strings), "true"/"false" (booleans).
    value = Text()
    #: `definewtf.text.fold(value)`, for case-insensitive attributes.
    value_ci = Text()


class Group(Table, tablename="app_group"):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    display_name = Text()
    display_name_ci = Text()
    external_id = Text(null=True, default=None)
    version = Integer(default=1)
    attributes = JSONB(default={})
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


class GroupMember(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    group = ForeignKey(Group, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(User, on_delete=OnDelete.cascade, null=False)
    #: The member's `display` as the client sent it (readWrite in the Group schema); when
    #: absent, the user's displayName or userName is shown.
    display = Text(null=True, default=None)
    created_at = Timestamptz(null=True, default=None)


class Role(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    name = Text()
    name_ci = Text()
    description = Text(default="")
    #: A list of permission names, e.g. ["tenant:admin"].
    permissions = JSONB(default=[])
    #: Built-in roles (created with the tenant) cannot be deleted.
    builtin = Boolean(default=False)
    created_at = Timestamptz(null=True, default=None)


class UserRole(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(User, on_delete=OnDelete.cascade, null=False)
    role = ForeignKey(Role, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz(null=True, default=None)


class GroupRole(Table):
    """SCIM group → role mapping: membership of the group grants the role."""

    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    group = ForeignKey(Group, on_delete=OnDelete.cascade, null=False)
    role = ForeignKey(Role, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz(null=True, default=None)


class ScimToken(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    #: The first characters of the token, in clear: one indexed read finds the row.
    prefix = Varchar(length=16)
    #: argon2id hash of the whole token. The plaintext is never stored.
    secret_hash = Text()
    created_by = UUID(null=True, default=None)
    created_by_label = Text(default="")
    created_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class ApiKey(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(User, on_delete=OnDelete.cascade, null=False)
    name = Text(default="")
    prefix = Varchar(length=16)
    secret_hash = Text()
    created_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class Session(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(User, on_delete=OnDelete.cascade, null=False)
    prefix = Varchar(length=16)
    secret_hash = Text()
    created_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class AuditEvent(Table):
    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    occurred_at = Timestamptz(null=True, default=None)
    #: "user", "api_key", "scim_token", "cli" or "system".
    actor_type = Varchar(length=32)
    actor_id = UUID(null=True, default=None)
    actor_label = Text(default="")
    action = Varchar(length=64)
    target_type = Varchar(length=32, default="")
    target_id = Text(default="")
    before = JSONB(null=True, default=None)
    after = JSONB(null=True, default=None)
    request_id = Text(default="")


class ScimActivity(Table):
    """SCIM requests of a tenant in one hour, as counted by one server process (`worker`):
    each process adds to its own rows only, so flushes never contend. `scimStatus` sums them."""

    id = UUID(primary_key=True, default=UUID4())
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=False)
    hour = Timestamptz(null=True, default=None)
    worker = Varchar(length=36)
    requests = Integer(default=0)
    errors = Integer(default=0)
    last_request_at = Timestamptz(null=True, default=None)
    last_success_at = Timestamptz(null=True, default=None)
    last_error_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)


#: Every table in dependency order (parents first): binding, truncation, migrations.
ALL_TABLES: tuple[type[Table], ...] = (
    Tenant,
    User,
    UserValue,
    Group,
    GroupMember,
    Role,
    UserRole,
    GroupRole,
    ScimToken,
    ApiKey,
    Session,
    AuditEvent,
    ScimActivity,
)
