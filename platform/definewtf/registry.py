"""The schema registry: every SCIM attribute we serve, described once.

Built from scim2-models' own schema definitions (`User.to_schema()`, …), the same data
`/Schemas` serves, and completed with where each attribute is stored: a column of the user
table, or rows of `user_value` (see `definewtf.tables.UserValue`). The filter compiler, the
sort, and the extraction of indexed values all read it.

Keys are lower-cased: `emails`, `emails.value`, `name.givenname`, and for extension
attributes the schema URN then the attribute, `urn:…:enterprise:2.0:user:manager.value`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from piccolo.columns import Column
from scim2_models import Attribute, EnterpriseUser, Group, Mutability, ResourceType, Schema, User

from definewtf import tables
from definewtf.services.users import IndexedValue
from definewtf.text import fold

USER_SCHEMA = str(User.__schema__)
GROUP_SCHEMA = str(Group.__schema__)
ENTERPRISE_USER_SCHEMA = str(EnterpriseUser.__schema__)

#: What /Schemas and /ResourceTypes serve; the attribute registry below is derived from the
#: same schema objects.
SCHEMAS: tuple[Schema, ...] = (User.to_schema(), EnterpriseUser.to_schema(), Group.to_schema())
RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType.from_resource(User[EnterpriseUser]),
    ResourceType.from_resource(Group),
)

#: Values longer than this are kept in the representation but not indexed (certificates,
#: inline photos); filters compare only values up to this length.
MAX_INDEXED_LENGTH = 1024

Kind = Literal["string", "boolean", "uuid", "datetime", "complex", "other"]


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One attribute (or sub-attribute) of a resource type."""

    key: str  # registry key, lower-cased
    attr: str  # `user_value.attr`: lower-cased name, URN-prefixed for extensions
    sub: str  # `user_value.sub`: lower-cased sub-attribute, "" for the attribute itself
    kind: Kind
    multi_valued: bool
    case_exact: bool
    #: The column holding it, or None when it lives in `user_value` (users) or in
    #: `group_member` (a group's members).
    column: Column | None = None
    #: Sub-attributes (complex attributes only), by lower-cased name.
    children: tuple[str, ...] = ()
    #: Where the value sits in the stored representation, by canonical names:
    #: `("title",)`, `("name", "givenName")`, `(ENTERPRISE_USER_SCHEMA, "department")`.
    location: tuple[str, ...] = ()
    #: A single string or boolean that PATCH may set in place (`scim_facade.patch`): the
    #: attribute and, for a sub-attribute, its parent are single-valued and readWrite, with
    #: no canonical values and no reference type.
    settable: bool = False
    #: The values the schema names for it (`emails.type`: work, home, other).
    canonical_values: frozenset[str] = frozenset()
    #: A single string that PATCH may set in the entries of a multi-valued attribute that a
    #: `type` filter selects (`emails[type eq "work"].value`, `scim_facade.patch`): readWrite,
    #: with no canonical values and no reference type, in a readWrite attribute whose `type`
    #: has canonical values.
    entry_settable: bool = False
    #: The column is never NULL: declared NOT NULL, or written with every row (the creation
    #: and modification times, which every write sets and the records type as datetime).
    #: Its sort key has no NULLs to put last (`definewtf.sql.SortKey`).
    never_null: bool = False

    @property
    def indexed(self) -> bool:
        return self.column is None and self.kind in ("string", "boolean")


def _settable(attribute: Attribute, parent: Attribute | None = None) -> bool:
    def plain(a: Attribute) -> bool:
        return (
            not a.multi_valued and a.mutability == Mutability.read_write and not a.canonical_values
        )

    simple = attribute.type in (Attribute.Type.string, Attribute.Type.boolean)
    return simple and plain(attribute) and (parent is None or plain(parent))


def _entry_settable(sub: Attribute, attribute: Attribute) -> bool:
    """See `AttributeSpec.entry_settable`."""
    typed = any(s.name == "type" and s.canonical_values for s in attribute.sub_attributes or [])
    return (
        typed
        and bool(attribute.multi_valued)
        and attribute.mutability == Mutability.read_write
        and sub.mutability == Mutability.read_write
        and sub.type == Attribute.Type.string
        and not sub.canonical_values
        and sub.name not in ("type", "primary")
    )


def _kind(attribute: Attribute) -> Kind:
    name = attribute.type.value if attribute.type else "string"
    if name in ("string", "reference"):
        return "string"
    if name == "boolean":
        return "boolean"
    if name == "complex":
        return "complex"
    if name == "dateTime":
        return "datetime"
    return "other"


def _specs(schema: Schema, prefix: str, container: tuple[str, ...]) -> Iterator[AttributeSpec]:
    """`container`: where the schema's attributes sit in a representation (the extension's
    URN, or nothing for the core schema)."""
    for attribute in schema.attributes or []:
        name = (attribute.name or "").lower()
        attr = f"{prefix}{name}"
        subs = attribute.sub_attributes or []
        location = (*container, attribute.name or "")
        yield AttributeSpec(
            key=attr,
            attr=attr,
            sub="",
            kind=_kind(attribute),
            multi_valued=bool(attribute.multi_valued),
            case_exact=bool(attribute.case_exact),
            children=tuple((s.name or "").lower() for s in subs),
            location=location,
            settable=_settable(attribute),
            canonical_values=frozenset(attribute.canonical_values or ()),
        )
        for sub in subs:
            sub_name = (sub.name or "").lower()
            yield AttributeSpec(
                key=f"{attr}.{sub_name}",
                attr=attr,
                sub=sub_name,
                kind=_kind(sub),
                multi_valued=bool(attribute.multi_valued),
                case_exact=bool(sub.case_exact),
                location=(*location, sub.name or ""),
                settable=_settable(sub, attribute),
                canonical_values=frozenset(sub.canonical_values or ()),
                entry_settable=_entry_settable(sub, attribute),
            )


def _column_spec(key: str, kind: Kind, column: Column, case_exact: bool) -> AttributeSpec:
    attr, _, sub = key.partition(".")
    return AttributeSpec(
        key=key,
        attr=attr,
        sub=sub,
        kind=kind,
        multi_valued=False,
        case_exact=case_exact,
        column=column,
        never_null=not column._meta.null or key in _WRITTEN_WITH_EVERY_ROW,
    )


#: Columns that allow NULL but that every write sets (see `AttributeSpec.never_null`).
_WRITTEN_WITH_EVERY_ROW = frozenset({"meta.created", "meta.lastmodified"})


def _column_backed() -> dict[str, AttributeSpec]:
    user = tables.User
    spec = _column_spec
    return {
        "id": spec("id", "uuid", user.id, True),
        # userName is case-insensitive (RFC 7643 §4.1.1): the folded column.
        "username": spec("username", "string", user.user_name_ci, False),
        # externalId is caseExact (RFC 7643 §3.1).
        "externalid": spec("externalid", "string", user.external_id, True),
        "active": spec("active", "boolean", user.active, False),
        "meta.created": spec("meta.created", "datetime", user.created_at, False),
        "meta.lastmodified": spec("meta.lastmodified", "datetime", user.updated_at, False),
    }


def _build_user_registry() -> dict[str, AttributeSpec]:
    registry: dict[str, AttributeSpec] = {}
    core, enterprise, _ = SCHEMAS
    for spec in _specs(core, "", ()):
        registry[spec.key] = spec
    for spec in _specs(enterprise, ENTERPRISE_USER_SCHEMA.lower() + ":", (ENTERPRISE_USER_SCHEMA,)):
        registry[spec.key] = spec
    # Never searchable: write-only, or derived from other tables.
    for key in (
        "password",
        "groups",
        "groups.value",
        "groups.display",
        "groups.type",
        "groups.$ref",
    ):
        registry.pop(key, None)
    for key, spec in _column_backed().items():
        described = registry.get(key)  # where the schema has it too: how PATCH may set it
        if described is not None:
            spec = replace(spec, location=described.location, settable=described.settable)
        registry[key] = spec
    # A common attribute (RFC 7643 §3.1), in no schema's list: a readWrite string.
    registry["externalid"] = replace(
        registry["externalid"], location=("externalId",), settable=True
    )
    return registry


USER_ATTRIBUTES: dict[str, AttributeSpec] = _build_user_registry()
#: Top-level multi-valued attributes of the core User (lower-cased).
USER_MULTI_VALUED: frozenset[str] = frozenset(
    spec.key
    for spec in USER_ATTRIBUTES.values()
    if spec.multi_valued and not spec.sub and ":" not in spec.key
)


def _build_group_registry() -> dict[str, AttributeSpec]:
    group = tables.Group
    registry = {spec.key: spec for spec in _specs(SCHEMAS[2], "", ())}
    registry.update(
        {
            "id": _column_spec("id", "uuid", group.id, True),
            # displayName is unique per tenant case-insensitively: the folded column.
            "displayname": _column_spec("displayname", "string", group.display_name_ci, False),
            "externalid": _column_spec("externalid", "string", group.external_id, True),
            "meta.created": _column_spec("meta.created", "datetime", group.created_at, False),
            "meta.lastmodified": _column_spec(
                "meta.lastmodified", "datetime", group.updated_at, False
            ),
        }
    )
    # Members live in group_member: only their value (the user id) is searchable.
    for key in ("members.display", "members.type", "members.$ref"):
        registry.pop(key, None)
    registry["members.value"] = replace(registry["members.value"], kind="uuid", case_exact=True)
    return registry


GROUP_ATTRIBUTES: dict[str, AttributeSpec] = _build_group_registry()


def user_values(body: dict[str, Any]) -> tuple[IndexedValue, ...]:
    """The `user_value` rows of a user representation (core + enterprise extension)."""
    values: list[IndexedValue] = []
    enterprise = body.get(ENTERPRISE_USER_SCHEMA)
    sources: list[tuple[str, dict[str, Any]]] = [("", body)]
    if isinstance(enterprise, dict):
        sources.append((ENTERPRISE_USER_SCHEMA.lower() + ":", enterprise))
    for prefix, source in sources:
        for name, raw in source.items():
            spec = USER_ATTRIBUTES.get(prefix + name.lower())
            if spec is None or spec.column is not None or spec.sub:
                continue
            entries = raw if isinstance(raw, list) else [raw]
            for entry, item in enumerate(entries):
                if spec.kind == "complex" and isinstance(item, dict):
                    for sub_name, sub_value in item.items():
                        sub = USER_ATTRIBUTES.get(f"{spec.key}.{sub_name.lower()}")
                        if sub is not None:
                            _append(values, sub, entry, sub_value)
                else:
                    _append(values, spec, entry, item)
    return tuple(values)


def _append(values: list[IndexedValue], spec: AttributeSpec, entry: int, raw: Any) -> None:
    if not spec.indexed or raw is None:
        return
    if spec.kind == "boolean":
        if not isinstance(raw, bool):
            return
        text = "true" if raw else "false"
    else:
        text = str(raw)
    if len(text) > MAX_INDEXED_LENGTH:
        return
    values.append(
        IndexedValue(attr=spec.attr, entry=entry, sub=spec.sub, value=text, value_ci=fold(text))
    )
