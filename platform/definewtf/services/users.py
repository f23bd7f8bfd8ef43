"""Users: create (or restore a soft-deleted one), read, list with compiled criteria.

The stored representation is the `attributes` JSON (what the IdP sent, minus id, meta and
password) plus indexed projection columns. Callers give both in `UserData`; this module never
parses a wire format.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable

from definewtf.clock import utcnow
from definewtf.db import (
    current_engine,
    fetch,
    in_transaction,
    planned_each_time,
    unique_violation_as,
    write_transaction,
)
from definewtf.errors import Conflict, Invalid, NotFound, PreconditionFailed
from definewtf.ids import as_uuid, uuid7
from definewtf.principals import SCIM_PROVISION, TENANT_ADMIN, Actor, require_admin, require_any
from definewtf.security import Security
from definewtf.services import audit
from definewtf.services.groups import memberships, memberships_of_user
from definewtf.services.paging import Extra, fetch_page, select_rows
from definewtf.sql import SortKey, compare, json_rows, like
from definewtf.statistics import STATISTICS
from definewtf.tables import GroupMember, User, UserValue
from definewtf.text import fold
from definewtf.writes import Delete, Insert, Update, write_together

MAX_USER_NAME_LENGTH = 256

#: What a member may change on their own profile (`update_user`); the rest is the admins' or
#: the IdP's.
SELF_EDITABLE = frozenset({"name", "displayName"})


@dataclass(frozen=True, slots=True)
class IndexedValue:
    """One searchable value of an attribute (a `user_value` row); the caller decides which
    attributes are indexed and how they are named."""

    attr: str
    entry: int
    sub: str
    value: str
    value_ci: str


@dataclass(frozen=True, slots=True)
class UserData:
    """What a caller may set on a user."""

    user_name: str
    #: None leaves the account's state as it is (a new account starts active).
    active: bool | None = True
    external_id: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    #: The full representation to keep (SCIM attributes the columns don't model).
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Plaintext; hashed with argon2 before storage, never kept or returned.
    password: str | None = field(default=None, repr=False)
    #: What filters and sorting search (see `definewtf.tables.UserValue`); None keeps the
    #: stored ones (a change that does not touch the representation).
    values: tuple[IndexedValue, ...] | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: UUID
    tenant_id: UUID
    user_name: str
    active: bool
    external_id: str | None
    given_name: str | None
    family_name: str | None
    display_name: str | None
    email: str | None
    attributes: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    #: (group id, displayName) of the user's groups, when the read asked for them
    #: (`with_groups`); None when it did not.
    groups: list[tuple[UUID, str]] | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    total: int
    items: list[UserRecord]


_COLUMNS = (
    User.id,
    User.tenant,
    User.user_name,
    User.active,
    User.external_id,
    User.given_name,
    User.family_name,
    User.display_name,
    User.email,
    User.attributes,
    User.version,
    User.created_at,
    User.updated_at,
)


_RECORD_FIELDS = frozenset(f.name for f in fields(UserRecord))


def _record_fields(values: dict[Any, Any]) -> dict[str, Any]:
    """The `UserRecord` fields among the column values a write stores."""
    return {c._meta.name: v for c, v in values.items() if c._meta.name in _RECORD_FIELDS}


def _record(row: dict[str, Any]) -> UserRecord:
    return UserRecord(
        id=as_uuid(row["id"]),
        tenant_id=as_uuid(row["tenant"]),
        user_name=row["user_name"],
        active=bool(row["active"]),
        external_id=row["external_id"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        display_name=row["display_name"],
        email=row["email"],
        attributes=row["attributes"] or {},
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        groups=memberships(row["groups"]) if "groups" in row else None,
    )


def _groups(with_groups: bool) -> Extra:
    """The user's groups read in the user's own row (one statement less), if asked for."""
    return (memberships_of_user(current_engine().engine_type),) if with_groups else ()


#: The visible users of each tenant in page order (m0009): what `_visible` names, and nothing
#: more.
_LIVE_BY_CREATION = "app_user_tenant_live_created_at"


def _visible(tenant_id: UUID) -> Combinable:
    """Rows of this tenant that SCIM and the API see: not soft-deleted."""
    return WhereRaw('"app_user"."tenant" = {} AND "app_user"."deleted_at" IS NULL', tenant_id)


def _columns_of(data: UserData) -> dict[Any, Any]:
    user_name = data.user_name.strip()
    if not user_name:
        raise Invalid("userName is required", attribute="userName")
    if len(user_name) > MAX_USER_NAME_LENGTH:
        raise Invalid(
            f"userName is longer than {MAX_USER_NAME_LENGTH} characters", attribute="userName"
        )
    values: dict[Any, Any] = {} if data.active is None else {User.active: data.active}
    return values | {
        User.user_name: user_name,
        User.user_name_ci: fold(user_name),
        User.external_id: data.external_id,
        User.given_name: data.given_name,
        User.family_name: data.family_name,
        User.display_name: data.display_name,
        User.email: data.email,
        User.email_ci: None if data.email is None else fold(data.email),
        User.attributes: data.attributes,
    }


async def create_user(
    *, tenant_id: UUID, data: UserData, actor: Actor, security: Security
) -> UserRecord:
    """Create a user. userName is unique per tenant case-insensitively (by the database).

    Re-creating the userName of a soft-deleted user restores that user (same id, history
    kept) with the new attributes: DESIGN.md §5.
    """
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    # A new (or restored) account whose state is not given starts active.
    values = {User.active: True} | _columns_of(data)
    if data.password is not None:
        values[User.password_hash] = await security.hasher.hash(data.password)
    for _ in range(_CREATE_ATTEMPTS):
        # An IdP's sync is one POST per user: the insert is tried first (one statement on
        # PostgreSQL, with its event and values), and only a taken userName reads its owner.
        record = await _insert(tenant_id, values, data, actor)
        if record is not None:
            STATISTICS.users_created()
            return record
        found = await fetch(
            "SELECT id, deleted_at, version, created_at FROM app_user "
            "WHERE tenant = {} AND user_name_ci = {}",
            tenant_id,
            values[User.user_name_ci],
        )
        if found and found[0]["deleted_at"] is None:
            break
        if found:
            record = await _restore(tenant_id, found[0], values, data, actor)
            if record is not None:
                return record
        # Else the owner of the name changed between the two statements: try again.
    raise Conflict("User", "userName", f"userName {data.user_name!r} is already taken")


async def _insert(
    tenant_id: UUID, values: dict[Any, Any], data: UserData, actor: Actor
) -> UserRecord | None:
    """The new user, or None if the userName is taken (nothing written)."""
    user_id, now = uuid7(), utcnow()
    # What is about to be written, not read back. A new user is in no group yet.
    record = UserRecord(
        id=user_id,
        tenant_id=tenant_id,
        version=1,
        created_at=now,
        updated_at=now,
        groups=[],
        **_record_fields(values),
    )
    row = {
        **values,
        User.id: user_id,
        User.tenant: tenant_id,
        User.version: 1,
        User.created_at: now,
        User.updated_at: now,
    }
    written = await write_together(
        Insert.row(User, row, unless_taken=(User.tenant, User.user_name_ci)),
        _event(tenant_id, actor, "user.create", user_id, after=_audit_view(record)),
        _new_values(tenant_id, user_id, data.values or ()),
    )
    return record if written else None


async def _restore(
    tenant_id: UUID, found: dict[str, Any], values: dict[Any, Any], data: UserData, actor: Actor
) -> UserRecord | None:
    """The soft-deleted user `found` back, with `data`; None if it changed since it was read
    (nothing written)."""
    user_id, now = as_uuid(found["id"]), utcnow()
    version = found["version"] + 1
    # Its memberships are read with the response.
    record = UserRecord(
        id=user_id,
        tenant_id=tenant_id,
        version=version,
        created_at=found["created_at"],
        updated_at=now,
        **_record_fields(values),
    )
    row = {
        User.password_hash: None,
        **values,
        User.deleted_at: None,
        User.version: version,
        User.updated_at: now,
    }
    written = await write_together(
        Update(User, row, _at_version(tenant_id, user_id, found["version"], deleted=True)),
        _event(tenant_id, actor, "user.restore", user_id, after=_audit_view(record)),
        # The deleted user's values go, if the new representation has its own.
        *(() if data.values is None else (_all_values(tenant_id, user_id),)),
        _new_values(tenant_id, user_id, data.values or ()),
    )
    return record if written else None


#: Tries of a create before it gives up (409): each fails only if the owner of the userName
#: changed between the insert that found it taken and the read of its owner.
_CREATE_ATTEMPTS = 3


def _at_version(
    tenant_id: UUID, user_id: UUID, version: int, *, deleted: bool = False
) -> Combinable:
    """The user, if it is still at `version` (and visible, or soft-deleted if `deleted`)."""
    deleted_at = "IS NOT NULL" if deleted else "IS NULL"
    return WhereRaw(
        f'"app_user"."tenant" = {{}} AND "app_user"."id" = {{}} AND "app_user"."version" = {{}} '
        f'AND "app_user"."deleted_at" {deleted_at}',
        tenant_id,
        user_id,
        version,
    )


def _event(
    tenant_id: UUID, actor: Actor, action: str, user_id: UUID, **change: dict[str, Any] | None
) -> Insert:
    return audit.event(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target_type="user",
        target_id=user_id,
        **change,
    )


_VALUE_COLUMNS = (
    UserValue.id,
    UserValue.tenant,
    UserValue.user,
    UserValue.attr,
    UserValue.entry,
    UserValue.sub,
    UserValue.value,
    UserValue.value_ci,
)


def _new_values(tenant_id: UUID, user_id: UUID, values: Iterable[IndexedValue]) -> Insert:
    """Rows for `values`, as tuples: Piccolo built an object per value (5% of a PATCH's CPU
    in py-spy)."""
    rows = [
        (uuid7(), tenant_id, user_id, v.attr, v.entry, v.sub, v.value, v.value_ci) for v in values
    ]
    return Insert(UserValue, _VALUE_COLUMNS, rows)


def _all_values(tenant_id: UUID, user_id: UUID) -> Delete:
    return Delete(UserValue, compare(UserValue.tenant, "=", tenant_id), UserValue.user, [user_id])


@functools.cache
def _values_of_user(engine_type: str) -> tuple[str, str]:
    """The user's stored searchable values as a value of the user's own row: ("stored", a
    JSON array of [id, attr, entry, sub, value], or NULL), for `paging.Extra`. The locked read
    of an update brings them, so that the update writes only the values that changed."""
    rows = json_rows(engine_type, "v.id", "v.attr", "v.entry", "v.sub", "v.value")
    return (
        "stored",
        f"(SELECT {rows} FROM user_value v "  # noqa: S608 -- our names
        'WHERE v.tenant = "app_user".tenant AND v."user" = "app_user".id)',
    )


#: The user's version as the statement's snapshot sees it: it differs from the locked row's
#: when `FOR UPDATE` waited for another writer (see `_current`).
_SEEN_VERSION = ("seen_version", '(SELECT s.version FROM app_user s WHERE s.id = "app_user".id)')


def _values_change(
    tenant_id: UUID, user_id: UUID, stored: list[list[Any]], values: tuple[IndexedValue, ...] | None
) -> tuple[Delete, Insert] | tuple[()]:
    """What makes the user's values `values` (None: as they are), given the rows `stored`
    now: delete the rows no longer wanted, insert the missing ones. A PATCH of a title
    rewrites one row, not all of them and their three indexes' entries; a deactivation (a
    column) none."""
    if values is None:
        return ()
    wanted = {(v.attr, v.entry, v.sub, v.value): v for v in values}
    kept: set[tuple[str, int, str, str]] = set()
    stale: list[UUID] = []
    for row_id, attr, entry, sub, value in stored:
        key = (attr, entry, sub, value)
        if key in wanted and key not in kept:
            kept.add(key)
        else:
            stale.append(as_uuid(row_id))
    missing = (v for k, v in wanted.items() if k not in kept)
    # The user's rows, then those of them: `id = ANY(…)` with the tenant alone let PostgreSQL
    # pick the tenant's index and filter every value of the tenant (seen in EXPLAIN).
    owned = compare(UserValue.tenant, "=", tenant_id) & compare(UserValue.user, "=", user_id)
    return Delete(UserValue, owned, UserValue.id, stale), _new_values(tenant_id, user_id, missing)


async def get_user(
    *, tenant_id: UUID, user_id: UUID, actor: Actor, with_groups: bool = False
) -> UserRecord:
    """A user (and their groups, `with_groups`); members may read their own profile."""
    if not (actor.user_id == user_id and actor.tenant_id == tenant_id):
        require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    return await _get(tenant_id, user_id, with_groups=with_groups)


async def _get(tenant_id: UUID, user_id: UUID, *, with_groups: bool = False) -> UserRecord:
    where = _visible(tenant_id) & compare(User.id, "=", user_id)
    rows = await select_rows(User, _COLUMNS, where, extra=_groups(with_groups))
    if not rows:
        raise NotFound("User", user_id)
    return _record(rows[0])


async def list_users(
    *,
    tenant_id: UUID,
    actor: Actor,
    criteria: Combinable | None = None,
    sort: SortKey | None = None,
    offset: int = 0,
    limit: int = 100,
    with_groups: bool = False,
) -> UserPage:
    """One page of the tenant's users matching `criteria` (a compiled Piccolo clause), in a
    stable order, with the exact total (and each user's groups, `with_groups`). Filtering,
    ordering and counting happen in SQL."""
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    where = _visible(tenant_id) if criteria is None else _visible(tenant_id) & criteria
    total, rows = await fetch_page(
        User,
        _COLUMNS,
        where,
        sort=sort,
        offset=offset,
        limit=limit,
        extra=_groups(with_groups),
        count_ahead=criteria is None,
        count_index=_LIVE_BY_CREATION if criteria is None else None,
    )
    return UserPage(total=total, items=[_record(row) for row in rows])


def _audit_view(record: UserRecord) -> dict[str, Any]:
    return {"userName": record.user_name, "active": record.active, "externalId": record.external_id}


def data_of(record: UserRecord) -> UserData:
    """The writable state of a stored user (the password is never read back)."""
    return UserData(
        user_name=record.user_name,
        active=record.active,
        external_id=record.external_id,
        given_name=record.given_name,
        family_name=record.family_name,
        display_name=record.display_name,
        email=record.email,
        attributes=record.attributes,
    )


async def _current(
    tenant_id: UUID, user_id: UUID, if_match: int | None, *, locked: bool
) -> tuple[UserRecord, list[list[Any]]]:
    """The visible user with their groups, at the version the caller expects (`if_match`,
    the ETag it last saw) if it names one; and its stored searchable values
    (`_values_of_user`). `locked`: row-locked for the rest of the write transaction."""
    extra = (*_groups(True), _values_of_user(current_engine().engine_type))
    if locked:
        extra += (_SEEN_VERSION,)
    where = _visible(tenant_id) & compare(User.id, "=", user_id)
    rows = await select_rows(User, _COLUMNS, where, for_update=locked, extra=extra)
    if rows and locked and rows[0]["seen_version"] != rows[0]["version"]:
        # On PostgreSQL, a lock waited for hands over the row as the other writer left it,
        # but the statement's subqueries (values, groups) still read the snapshot from
        # before the wait. The lock is held now: read again, in a statement that sees it all.
        rows = await select_rows(User, _COLUMNS, where, extra=extra)
    if not rows:
        raise NotFound("User", user_id)
    record = _record(rows[0])
    if if_match is not None and if_match != record.version:
        raise PreconditionFailed(
            f"the user is at version {record.version}, not {if_match}: read it again"
        )
    return record, rows[0]["stored"] or []


def _changes(before: UserData, after: UserData) -> dict[str, tuple[Any, Any]]:
    """Top-level attributes that differ, as (before, after); the password only by name."""
    changed: dict[str, tuple[Any, Any]] = {}
    keys = set(before.attributes) | set(after.attributes)
    for key in sorted(keys):
        old, new = before.attributes.get(key), after.attributes.get(key)
        if old != new:
            changed[key] = (old, new)
    for name in ("user_name", "active", "external_id"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new and not (name == "active" and new is None):
            changed[name] = (old, new)
    if after.password is not None:
        changed["password"] = ("***", "***")
    return changed


async def update_user(
    *,
    tenant_id: UUID,
    user_id: UUID,
    change: Callable[[UserData], UserData],
    actor: Actor,
    security: Security,
    if_match: int | None = None,
) -> UserRecord:
    """Apply `change` to the user's current state, atomically.

    Concurrent updates apply one after the other and none is lost: the write names the
    version `change` saw, and a user that moved meanwhile is read again under a row lock and
    changed again (`change` may run twice: it must depend only on what it is given).
    `change` may raise: nothing is written. `if_match` is the version the caller last saw
    (ETag); a different current version is PreconditionFailed. An update that changes nothing
    keeps the version.

    Outside a caller's transaction, the first try reads without a lock and then writes,
    atomically alone (`write_together`). On PostgreSQL that is two statements and no
    transaction: locking first (BEGIN, SELECT … FOR UPDATE, the write, COMMIT) writes the
    row's lock to its page too; in turns on one worker the locked PATCH served 754 and 930/s
    (2,000 and 100,000 users) against 862 and 1,177/s, with 15% and 71% more PostgreSQL CPU.
    On SQLite the read and the write's statements run on the event loop, and only the
    COMMIT on the engine's writer thread; a locked update held the process's write lock for
    BEGIN, the read, the writes and COMMIT, each a round trip to another thread.

    Members may change their own name and display name (`SELF_EDITABLE`), nothing else.
    """
    self_service = actor.user_id == user_id and actor.tenant_id == tenant_id
    if not self_service:
        require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    if not in_transaction():
        current, stored = await _current(tenant_id, user_id, if_match, locked=False)
        updated = await _apply(current, stored, change, actor, security)
        if updated is not None:
            return updated
        # Another writer moved the user between the read and the write: lock it and redo.
    async with write_transaction():
        current, stored = await _current(tenant_id, user_id, if_match, locked=True)
        updated = await _apply(current, stored, change, actor, security)
        if updated is None:
            raise AssertionError("the version of a locked user moved")  # pragma: no cover
        return updated


async def _apply(
    current: UserRecord,
    stored: list[list[Any]],
    change: Callable[[UserData], UserData],
    actor: Actor,
    security: Security,
) -> UserRecord | None:
    """Write `change` of `current` (whose searchable values are `stored`) at its version:
    the user as written, `current` if nothing changes, None if the user is no longer at that
    version (nothing written)."""
    tenant_id = current.tenant_id
    before = data_of(current)
    after = change(before)
    changed = _changes(before, after)
    if not changed:
        return current
    if not set(changed) <= SELF_EDITABLE:
        require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    values = _columns_of(after)
    if after.password is not None:
        values[User.password_hash] = await security.hasher.hash(after.password)
    now = utcnow()
    action = "user.update"
    if before.active and after.active is False:
        action = "user.deactivate"
    elif not before.active and after.active is True:
        action = "user.reactivate"
    row = {**values, User.version: current.version + 1, User.updated_at: now}
    with unique_violation_as(Conflict("User", "userName", "userName is already taken")):
        written = await write_together(
            Update(User, row, _at_version(tenant_id, current.id, current.version)),
            _event(
                tenant_id,
                actor,
                action,
                current.id,
                before={key: old for key, (old, _) in changed.items()},
                after={key: new for key, (_, new) in changed.items()},
            ),
            *_values_change(tenant_id, current.id, stored, after.values),
        )
    if not written:
        return None
    # What was just written, without reading it back: the write named the version it was
    # computed from, so nothing else changed the row in between.
    return replace(current, **_record_fields(values), version=current.version + 1, updated_at=now)


async def set_active(
    *, tenant_id: UUID, user_id: UUID, active: bool, actor: Actor, security: Security
) -> UserRecord:
    """Deactivate (login, keys and sessions refused at once) or reactivate a user, by hand."""
    require_admin(actor, tenant_id)
    return await update_user(
        tenant_id=tenant_id,
        user_id=user_id,
        change=lambda data: replace(
            data, active=active, attributes={**data.attributes, "active": active}
        ),
        actor=actor,
        security=security,
    )


async def delete_user(
    *, tenant_id: UUID, user_id: UUID, actor: Actor, if_match: int | None = None
) -> None:
    """Soft delete (SCIM DELETE): the user is gone for SCIM, deactivated (no login, keys and
    sessions refused), and its row and history stay for admins. Re-creating the same userName
    restores it."""
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    async with write_transaction():
        current, _ = await _current(tenant_id, user_id, if_match, locked=True)
        await User.update(
            {
                User.deleted_at: utcnow(),
                User.active: False,
                User.version: current.version + 1,
                User.updated_at: utcnow(),
            }
        ).where(User.id == user_id)
        # Gone for SCIM means gone from its groups too (and from the roles they grant).
        await GroupMember.delete().where(
            (GroupMember.tenant == tenant_id) & (GroupMember.user == user_id)
        )
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="user.delete",
            target_type="user",
            target_id=user_id,
            before=_audit_view(current),
        )


@dataclass(frozen=True, slots=True)
class UserQuery:
    """The admin console's user search (GraphQL `users(filter:)`); every part is optional."""

    search: str | None = None
    active: bool | None = None
    email: str | None = None
    role: str | None = None
    group_id: UUID | None = None


def planning_of(criteria: Combinable | None) -> contextlib.AbstractContextManager[None]:
    """How a console's search by `criteria_of` is to be planned on PostgreSQL
    (`definewtf.db`): for its values, each time. How many users it names is the values'
    (a search everyone matches, a group of 50,000): left to PostgreSQL, at 100,000 users a
    search everyone matches counted its total in 93 ms by the plan kept after five, against
    44 ms planned for the pattern. Planning costs a fraction of a millisecond, which the
    console's requests can spare (an IdP's SCIM searches are planned once:
    `scim_facade.filters`)."""
    return contextlib.nullcontext() if criteria is None else planned_each_time()


def criteria_of(tenant_id: UUID, query: UserQuery) -> Combinable | None:
    """SQL criteria for a UserQuery: `search` is a case-insensitive substring of userName or
    the primary email; `role` matches direct grants and grants through groups."""
    parts: list[Combinable] = []
    if query.search:
        needle = fold(query.search.strip())
        parts.append(like(User.user_name_ci, "co", needle) | like(User.email_ci, "co", needle))
    if query.active is not None:
        parts.append(User.active == query.active)
    if query.email:
        parts.append(User.email_ci == fold(query.email.strip()))
    if query.group_id is not None:
        parts.append(
            WhereRaw(
                '"app_user"."id" IN (SELECT m."user" FROM group_member m '
                'WHERE m.tenant = {} AND m."group" = {})',
                tenant_id,
                query.group_id,
            )
        )
    if query.role:
        parts.append(
            WhereRaw(
                '"app_user"."id" IN ('
                'SELECT ur."user" FROM user_role ur JOIN role r ON r.id = ur.role '
                "WHERE ur.tenant = {} AND r.name_ci = {} "
                'UNION SELECT m."user" FROM group_member m JOIN group_role gr '
                'ON gr."group" = m."group" AND gr.tenant = m.tenant '
                "JOIN role r2 ON r2.id = gr.role "
                "WHERE m.tenant = {} AND r2.name_ci = {})",
                tenant_id,
                fold(query.role),
                tenant_id,
                fold(query.role),
            )
        )
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined
