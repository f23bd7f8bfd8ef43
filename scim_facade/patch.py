"""PATCH (RFC 7644 §3.5.2) on scim2-models, plus what IdPs really send (DESIGN.md §5).

scim2-models validates the PatchOp and applies it to the resource model; before that,
`normalize_operations` accepts the IdP dialects the library does not: Entra's and Okta's
`manager` as a plain id string (or an object without `$ref`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from scim2_models import (
    Context,
    Group,
    InvalidFilterException,
    InvalidPathException,
    PatchOp,
)
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator

from definewtf.registry import ENTERPRISE_USER_SCHEMA, USER_ATTRIBUTES
from definewtf.services.groups import MemberOp
from scim_facade.filters import parse_filter
from scim_facade.mapping import Assignment, EntryAssignment, ScimUser, member_op
from scim_facade.plain_users import normalised_email
from scim_facade.requests import POLICY, scim_error_of

MANAGER_PATH = f"{ENTERPRISE_USER_SCHEMA}:manager".lower()


def normalize_manager(value: Any, users_url: str) -> Any:
    """`"id"` or `{"value": "id"}` → `{"value": "id", "$ref": ".../Users/id"}`."""
    if isinstance(value, str):
        value = {"value": value}
    if isinstance(value, dict) and value.get("value") and not value.get("$ref"):
        return {**value, "$ref": f"{users_url}/{value['value']}"}
    return value


def _normalize_operation(operation: Any, users_url: str) -> Any:
    if not isinstance(operation, dict):
        return operation
    path = operation.get("path")
    value = operation.get("value")
    if isinstance(path, str) and path.lower() == MANAGER_PATH:
        return {**operation, "value": normalize_manager(value, users_url)}
    if path is None and isinstance(value, dict):
        fixed = dict(value)
        for key, item in value.items():
            if key.lower() == MANAGER_PATH:
                fixed[key] = normalize_manager(item, users_url)
            elif key.lower() == ENTERPRISE_USER_SCHEMA.lower() and isinstance(item, dict):
                fixed[key] = {
                    k: normalize_manager(v, users_url) if k.lower() == "manager" else v
                    for k, v in item.items()
                }
        return {**operation, "value": fixed}
    return operation


def normalize_operations(payload: dict[str, Any], users_url: str) -> dict[str, Any]:
    operations = payload.get("Operations", payload.get("operations"))
    if not isinstance(operations, list):
        return payload
    return {**payload, "Operations": [_normalize_operation(op, users_url) for op in operations]}


PATCH_OP_SCHEMA = str(PatchOp.__schema__)
_OPERATION_KEYS = frozenset({"op", "path", "value"})


#: `emails[type eq "work"].value`: the only filter in the paths IdPs PATCH users with (Entra's
#: attribute sync of emails, phone numbers and addresses). Any other filter goes to
#: scim2-models.
_ENTRY_PATH = re.compile(r'([A-Za-z][\w-]*)\[type eq "([^"\\]*)"\]\.([A-Za-z][\w-]*)')
#: The sub-attribute of the registry whose values scim2-models validates and normalises
#: (`EmailStr`); every other `entry_settable` one is a plain string.
_EMAIL_VALUE = "emails.value"
#: The booleans IdPs send as strings; scim2-models (pydantic) reads a few more ("no", "0"…),
#: which it is left to.
_BOOLEAN_WORDS = {"true": True, "false": False}


def _assignment(path: Any, value: Any, users_url: str) -> Assignment | None:
    if not isinstance(path, str):
        return None
    if "[" in path:
        return _entry_assignment(path, value)
    if path.lower() == MANAGER_PATH:
        return _manager_assignment(value, users_url)
    spec = USER_ATTRIBUTES.get(path.lower())
    if spec is None or not spec.settable:
        return None
    if spec.kind == "boolean":
        if isinstance(value, str):  # Entra's "False" (its default dialect), as the model reads it
            value = _BOOLEAN_WORDS.get(value.lower(), value)
        return (spec, value) if isinstance(value, bool) else None
    return (spec, value) if isinstance(value, str) and value else None


def _entry_assignment(path: str, value: Any) -> EntryAssignment | None:
    """`attribute[type eq "kind"].sub` with a non-empty string, where the registry marks the
    sub-attribute `entry_settable` and the kind is one of the schema's own values for `type`
    (as written there: scim2-models folds the other spellings)."""
    found = _ENTRY_PATH.fullmatch(path)
    if found is None or not isinstance(value, str) or not value:
        return None
    attribute, kind, sub = found.groups()
    spec = USER_ATTRIBUTES.get(f"{attribute}.{sub}".lower())
    if spec is None or not spec.entry_settable:
        return None
    if kind not in USER_ATTRIBUTES[f"{spec.attr}.type"].canonical_values:
        return None
    if spec.key == _EMAIL_VALUE:
        normalised = normalised_email(value)
        if normalised is None:
            return None  # scim2-models words the error
        value = normalised
    return EntryAssignment(spec, kind, value)


def _manager_assignment(value: Any, users_url: str) -> Assignment | None:
    """Entra's `manager`: the manager's id, alone or as `{"value": id}`, given its `$ref`
    (`normalize_manager`). Only a user id: scim2-models checks any other value's `$ref`."""
    if isinstance(value, dict) and set(value) == {"value"}:
        value = value["value"]
    try:
        an_id = str(UUID(value)) == value.lower()  # as written: not "urn:uuid:…", not "{…}"
    except (TypeError, ValueError, AttributeError):
        return None
    return (USER_ATTRIBUTES[MANAGER_PATH], normalize_manager(value, users_url)) if an_id else None


def simple_assignments(payload: dict[str, Any], users_url: str) -> list[Assignment] | None:
    """The PATCH as assignments when every operation is a `replace` or an `add` that sets
    single strings or booleans (`AttributeSpec.settable`) to values of their type, with such
    a path (Entra's attribute sync and deactivation) or without a path and an object of such
    attributes (Okta's `{"active": false}`), that sets a string in the entries a `type`
    filter selects (Entra's `emails[type eq "work"].value`), or Entra's `manager` by id
    (`users_url` gives its `$ref`). None for anything else, which scim2-models validates and
    applies (`parse_patch`), errors included."""
    operations = payload.get("Operations")
    if payload.get("schemas") != [PATCH_OP_SCHEMA] or not set(payload) <= {"schemas", "Operations"}:
        return None
    if not isinstance(operations, list) or not operations:
        return None
    found: list[Assignment | None] = []
    for operation in operations:
        if not isinstance(operation, dict) or not set(operation) <= _OPERATION_KEYS:
            return None
        if str(operation.get("op")).lower() not in ("replace", "add"):
            return None
        path, value = operation.get("path"), operation.get("value")
        if path is not None:
            found.append(_assignment(path, value, users_url))
        elif isinstance(value, dict) and value:
            # A key names an attribute, never a filter: scim2-models drops `emails[…].value`.
            found += (
                None if "[" in key else _assignment(key, item, users_url)
                for key, item in value.items()
            )
        else:
            return None
    return None if None in found else [a for a in found if a is not None]


def parse_patch(payload: dict[str, Any], users_url: str) -> PatchOp[ScimUser]:
    try:
        return PatchOp[ScimUser].model_validate(
            normalize_operations(payload, users_url),
            scim_ctx=Context.RESOURCE_PATCH_REQUEST,
            scim_policy=POLICY,
        )
    except ValidationError as exc:
        raise scim_error_of(exc) from exc


@dataclass(frozen=True, slots=True)
class GroupPatch:
    """A PATCH of a group, split: membership changes run as SQL set operations, everything
    else is applied by scim2-models to the group's own attributes."""

    members: tuple[MemberOp, ...]
    other: PatchOp[Group] | None


def _removed_by_filter(path: str) -> frozenset[UUID]:
    """`members[value eq "a" or value eq "b"]` → {a, b}: the only member filter IdPs send."""
    inner = path[path.index("[") + 1 : path.rindex("]")] if path.endswith("]") else ""
    try:
        node = parse_filter(inner) if inner else None
    except InvalidFilterException as exc:
        raise InvalidPathException(detail=f"invalid members filter: {exc.detail}") from exc
    terms = (
        node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_ else [node]
    )
    values = []
    for term in terms:
        if not (
            isinstance(term, Comparison)
            and term.op == CompareOperator.eq
            and term.attr_path.attr.lower() == "value"
            and term.attr_path.sub_attr is None
        ):
            raise InvalidPathException(detail='members filters are `members[value eq "<id>"]`')
        values.append(term.value)
    return member_op("remove", values).user_ids


def parse_group_patch(payload: dict[str, Any]) -> GroupPatch:
    try:
        PatchOp[Group].model_validate(
            payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY
        )  # syntax and operation names; the operations are then split below
    except ValidationError as exc:
        raise scim_error_of(exc) from exc
    members: list[MemberOp] = []
    others: list[dict[str, Any]] = []
    for operation in payload.get("Operations") or payload.get("operations") or []:
        op = str(operation.get("op", "")).lower()
        path = operation.get("path")
        value = operation.get("value")
        lowered = path.lower() if isinstance(path, str) else None
        if lowered is None and isinstance(value, dict):
            rest = {k: v for k, v in value.items() if k.lower() not in ("members", "id")}
            for key, item in value.items():
                if key.lower() == "members":
                    members.append(member_op("add" if op == "add" else "replace", item))
            if rest:
                others.append({**operation, "value": rest})
        elif lowered == "members":
            if op == "add":
                members.append(member_op("add", value))
            elif op == "replace":
                members.append(member_op("replace", value))
            elif value is not None:  # Entra: remove exactly the listed members
                members.append(member_op("remove", value))
            else:
                members.append(MemberOp("replace", frozenset()))
        elif lowered is not None and lowered.startswith("members"):
            if op != "remove" or not lowered.startswith("members["):
                raise InvalidPathException(detail="members are added, removed or replaced whole")
            members.append(MemberOp("remove", _removed_by_filter(path)))
        else:
            others.append(operation)
    other = None
    if others:
        try:
            other = PatchOp[Group].model_validate(
                {"schemas": payload.get("schemas"), "Operations": others},
                scim_ctx=Context.RESOURCE_PATCH_REQUEST,
                scim_policy=POLICY,
            )
        except ValidationError as exc:
            raise scim_error_of(exc) from exc
    return GroupPatch(members=tuple(members), other=other)
