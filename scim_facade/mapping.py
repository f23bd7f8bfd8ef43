"""Stored users ↔ SCIM User resources: the one pair of mapping functions.

`from_scim_user` keeps the whole validated representation (core + extensions) in `attributes`
and projects the indexed columns out of it; `to_scim_user` renders a response from the stored
row without a model round-trip.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import ValidationError
from scim2_models import (
    Context,
    EnterpriseUser,
    Group,
    InvalidValueException,
    SearchRequest,
    User,
)

from definewtf.registry import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_ATTRIBUTES,
    USER_SCHEMA,
    AttributeSpec,
    user_values,
)
from definewtf.services.groups import GroupData, GroupRecord, Member, MemberOp
from definewtf.services.users import UserData, UserRecord
from scim_facade.requests import POLICY, scim_error_of
from scim_facade.responses import etag

ScimUser = User[EnterpriseUser]

#: Never stored in `attributes`: server-assigned (id, meta), hashed separately (password), or
#: held by a column (userName, externalId), so that there is one source for each. `active`
#: stays in the representation as the mark that it is assigned; its value is the column's.
_NOT_STORED = {"id", "meta", "password", "userName", "externalId"}


def from_scim_user(resource: ScimUser) -> UserData:
    return from_representation(resource.model_dump(scim_policy=POLICY), resource.password)


def from_representation(body: dict[str, Any], password: str | None = None) -> UserData:
    """A user from its representation as scim2-models dumps it (canonical names)."""
    attributes = {key: value for key, value in body.items() if key not in _NOT_STORED}
    name = body.get("name") or {}
    return UserData(
        user_name=body.get("userName") or "",
        # Unassigned (never sent, or removed by PATCH) leaves the account's state as it is:
        # removing `active` must not silently reactivate anyone.
        active=body.get("active"),
        external_id=body.get("externalId"),
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        display_name=body.get("displayName"),
        email=_primary_email(body.get("emails") or []),
        attributes=attributes,
        password=password,
        values=user_values(attributes),
    )


def _primary_email(emails: list[dict[str, Any]]) -> str | None:
    emails = [e for e in emails if e.get("value")]
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    return None if primary is None else str(primary["value"])


@dataclass(frozen=True, slots=True)
class EntryAssignment:
    """`value` into `spec` (a sub-attribute the registry marks `entry_settable`) of the
    entries whose `type` is `kind`: `emails[type eq "work"].value`."""

    spec: AttributeSpec
    kind: str
    value: str


#: An attribute set in place, or a sub-attribute set in the entries a `type` selects.
Assignment = tuple[AttributeSpec, Any] | EntryAssignment


def assign(data: UserData, assignments: Sequence[Assignment]) -> UserData | None:
    """`data` with each assignment made in its representation, in order: what PATCH `replace`
    and `add` do to single strings and booleans (`AttributeSpec.settable`), to the entries a
    `type` filter selects and to the enterprise `manager`, without a model round-trip
    (scim2-models' parse, patch and dump were 38% of a PATCH's CPU, and half of Entra's PATCH
    of a work email or of its `"active": "False"`). None when the stored entries hold what
    only scim2-models decides (keys of no schema, several primary values): the caller applies
    the PATCH with it then."""
    body = _representation(data)
    for assignment in assignments:
        if isinstance(assignment, EntryAssignment):
            if not _assign_in_entries(body, assignment):
                return None
            continue
        spec, value = assignment
        *parents, name = spec.location
        container = body
        for parent in parents:
            inner = container.get(parent)
            container[parent] = inner = dict(inner) if isinstance(inner, dict) else {}
            container = inner
        if isinstance(value, dict):  # a complex value is written key by key (RFC 7644 §3.5.2.3)
            inner = container.get(name)
            value = {**inner, **value} if isinstance(inner, dict) else value
        container[name] = value
        extension = parents[:1] == [ENTERPRISE_USER_SCHEMA]
        if extension and ENTERPRISE_USER_SCHEMA not in body["schemas"]:
            body["schemas"] = [*body["schemas"], ENTERPRISE_USER_SCHEMA]
    return from_representation(body)


def _assign_in_entries(body: dict[str, Any], assignment: EntryAssignment) -> bool:
    """Set the sub-attribute in every entry of the assignment's `type`, or else add an entry of
    that type holding it (the policy's `unmatched_path_filter=create`, what Entra expects of a
    first work phone). Entries keep the model's key order. False, with nothing changed, where
    the entries are not ours to decide.

    The kind is one of the schema's values for `type`, which every write stores in that very
    form (scim2-models folds `Work` and `WORK` to it), so equality is the filter's match."""
    attribute, name = assignment.spec.location
    entries = body.get(attribute) or []
    order = _entry_keys(attribute)
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and set(entry) <= set(order) for entry in entries
    ):
        return False
    if sum(1 for entry in entries if entry.get("primary") is True) > 1:
        return False  # scim2-models refuses to change such a list: let it say so
    matched = [entry.get("type") == assignment.kind for entry in entries]
    if any(matched):
        written = [
            {**entry, name: assignment.value} if hit else entry
            for entry, hit in zip(entries, matched, strict=True)
        ]
    else:
        written = [*entries, {"type": assignment.kind, name: assignment.value}]
    body[attribute] = [{k: entry[k] for k in order if k in entry} for entry in written]
    return True


@functools.cache
def _entry_keys(attribute: str) -> tuple[str, ...]:
    """The sub-attributes of a multi-valued attribute, in the order the model dumps them (the
    schema's)."""
    parent = USER_ATTRIBUTES[attribute.lower()]
    return tuple(USER_ATTRIBUTES[f"{parent.key}.{child}"].location[-1] for child in parent.children)


def _representation(data: UserData | UserRecord) -> dict[str, Any]:
    """The stored representation with the column-held attributes on top (they win). A record
    is read as is: making it `UserData` first was a fifth of rendering a listed user."""
    body: dict[str, Any] = dict(data.attributes)
    schemas = list(body.get("schemas") or [])
    if USER_SCHEMA not in schemas:
        schemas.insert(0, USER_SCHEMA)
    body.update(schemas=schemas, userName=data.user_name)
    if "active" in data.attributes and data.active is not None:
        body["active"] = data.active  # the column: the state that login enforces
    else:
        body.pop("active", None)
    if data.external_id is None:
        body.pop("externalId", None)
    else:
        body["externalId"] = data.external_id
    return body


def scim_user_of(data: UserData) -> ScimUser:
    """The stored state as a scim2-models resource, for PATCH to apply operations to."""
    try:
        return ScimUser.model_validate(_representation(data), scim_policy=POLICY)
    except ValidationError as exc:
        raise scim_error_of(exc) from exc


def to_scim_user(
    record: UserRecord, location: str, groups: list[tuple[UUID, str]] | None = None
) -> dict[str, Any]:
    """`groups`: (id, displayName) of the user's groups, the read-only `groups` attribute."""
    body = {"id": str(record.id), **_representation(record)}
    if groups:
        groups_url = location.rsplit("/Users/", 1)[0] + "/Groups"
        body["groups"] = [_group_of_user(str(gid), name, groups_url) for gid, name in groups]
    body["meta"] = {
        "resourceType": "User",
        "created": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "location": location,
        "version": etag(record.version),
    }
    return body


def _group_of_user(group_id: str, name: str, groups_url: str) -> dict[str, str]:
    # The id's text once: `str(UUID)` is Python code, and a user may be in dozens of groups.
    return {
        "value": group_id,
        "$ref": f"{groups_url}/{group_id}",
        "display": name,
        "type": "direct",
    }


def project(
    body: dict[str, Any],
    projection: SearchRequest[Any] | None,
    model: type[ScimUser] | type[Group] = ScimUser,
) -> dict[str, Any]:
    """Apply attributes / excludedAttributes (RFC 7644 §3.4.2.5) with scim2-models, which
    knows `returned: always / never / request`. Without them the body is returned as is."""
    if projection is None:
        return body
    resource = model.model_validate(
        body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE, scim_policy=POLICY
    )
    return resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=projection, scim_policy=POLICY
    )


# -- groups ---------------------------------------------------------------------------------

#: Held by columns or by group_member, never in the stored representation.
_GROUP_NOT_STORED = {"id", "meta", "displayName", "externalId", "members"}


def from_scim_group(resource: Group) -> tuple[GroupData, MemberOp]:
    """The group's own data, and its members as a `replace` of the membership set."""
    dumped = resource.model_dump(scim_policy=POLICY)
    attributes = {k: v for k, v in dumped.items() if k not in _GROUP_NOT_STORED}
    data = GroupData(
        display_name=resource.display_name or "",
        external_id=resource.external_id,
        attributes=attributes,
    )
    return data, member_op("replace", resource.members or [])


def member_op(kind: Literal["add", "remove", "replace"], members: Any) -> MemberOp:
    """A membership change from SCIM member values: objects (`{"value": id, "display": …}`)
    or models, a single one or a list; ids must be UUIDs (else no such user: 400)."""
    items = members if isinstance(members, list) else [] if members is None else [members]
    ids: set[UUID] = set()
    displays: dict[UUID, str] = {}
    for member in items:
        if not isinstance(member, dict):
            member = (
                member.model_dump(scim_policy=POLICY)
                if hasattr(member, "model_dump")
                else {"value": member}
            )
        raw = member.get("value")
        try:
            user_id = UUID(str(raw))
        except ValueError:
            raise InvalidValueException(detail=f"no such user: {raw!r}") from None
        ids.add(user_id)
        if isinstance(member.get("display"), str):
            displays[user_id] = member["display"]
    return MemberOp(kind, frozenset(ids), displays)


def to_scim_group(
    record: GroupRecord, location: str, users_url: str, members: list[Member] | None
) -> dict[str, Any]:
    """`members` None: not loaded (excluded by the request), so not rendered."""
    body: dict[str, Any] = {"id": str(record.id), **record.attributes}
    schemas = list(body.get("schemas") or [])
    if GROUP_SCHEMA not in schemas:
        schemas.insert(0, GROUP_SCHEMA)
    body["schemas"] = schemas
    body["displayName"] = record.display_name
    if record.external_id is not None:
        body["externalId"] = record.external_id
    if members:
        body["members"] = [
            {
                "value": str(m.user_id),
                "$ref": f"{users_url}/{m.user_id}",
                "display": m.display,
                "type": "User",
            }
            for m in members
        ]
    body["meta"] = {
        "resourceType": "Group",
        "created": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "location": location,
        "version": etag(record.version),
    }
    return body


def scim_group_of(data: GroupData) -> Group:
    """The group's own attributes (members left out) as a resource, for PATCH."""
    body = {**data.attributes, "displayName": data.display_name}
    if data.external_id is not None:
        body["externalId"] = data.external_id
    body.setdefault("schemas", [GROUP_SCHEMA])
    try:
        return Group.model_validate(body, scim_policy=POLICY)
    except ValidationError as exc:
        raise scim_error_of(exc) from exc


def group_data_of(resource: Group) -> GroupData:
    return from_scim_group(resource)[0]
