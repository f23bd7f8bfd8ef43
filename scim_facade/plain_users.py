"""Full user bodies of the shape identity providers send, read without the model.

A POST or PUT of a user went through scim2-models: `model_validate`, then `model_dump` for the
stored representation. For Entra's user (name, one email, title, the enterprise extension)
that was 230 us of a PUT's 1,400 us of server CPU, in a request that is otherwise one read
and one write statement. `plain_user` produces the same dump for bodies made only of:

- `schemas` naming the core schema, and the enterprise extension where its object is sent;
- `id` (a string, ignored: the URL names the resource), `externalId`, `userName`;
- single strings and booleans the registry marks `settable` (`displayName`, `title`,
  `active`, …), `name` and the enterprise extension's object with such sub-attributes;
- `emails`: objects of `value` (an address, normalised as scim2-models' `EmailStr` does),
  `type` (one of the schema's canonical values as written there), `primary` (at most one
  true) and `display`.

Every name as the schema spells it, every value of its type. Anything else (another case of
a name, `password`, `meta`, a null, a phone number, an invalid address) returns None, and the
caller validates with scim2-models, which then also words the errors.
tests/scim/test_plain_users.py compares both paths over generated bodies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, validate_email
from pydantic_core import PydanticCustomError
from scim2_models import Context, Email, EnterpriseUser, Name

from definewtf.registry import (
    ENTERPRISE_USER_SCHEMA,
    SCHEMAS,
    USER_ATTRIBUTES,
    USER_MULTI_VALUED,
    USER_SCHEMA,
    Kind,
)
from definewtf.services.users import UserData
from scim_facade.mapping import ScimUser, from_representation, from_scim_user
from scim_facade.requests import validate, wrap_single_values

_SCHEMAS_ALONE = [USER_SCHEMA]
_SCHEMAS_EXTENDED = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
#: `schemas` as sent: scim2-models writes the core schema first, and the extension's only if
#: its object is there.
_SCHEMAS_SENT = (_SCHEMAS_ALONE, _SCHEMAS_EXTENDED, [ENTERPRISE_USER_SCHEMA, USER_SCHEMA])


def _canonical_values(attribute: str, sub: str) -> frozenset[str]:
    """The canonical values the core User schema (as /Schemas serves it) gives a
    sub-attribute."""
    [found] = [a for a in SCHEMAS[0].attributes or [] if a.name == attribute]
    [part] = [s for s in found.sub_attributes or [] if s.name == sub]
    return frozenset(part.canonical_values or ())


#: As the schema writes them: scim2-models folds other cases of them, so those go through it.
_EMAIL_TYPES = _canonical_values("emails", "type")


def _names(model: type[BaseModel]) -> list[str]:
    """The model's attribute names as serialised, in the order `model_dump` writes them."""
    return [field.serialization_alias or name for name, field in model.model_fields.items()]


def _settable(prefix: str, names: list[str]) -> dict[str, Kind]:
    """Of `names`, those the registry marks settable under `prefix` (`name.`, the extension's
    URN and a colon, or nothing), with their kind: string or boolean."""
    return {
        name: spec.kind
        for name in names
        if (spec := USER_ATTRIBUTES.get(f"{prefix}{name}".lower())) is not None and spec.settable
    }


_USER_ORDER = _names(ScimUser)
_TOP = _settable("", _USER_ORDER)
_NAME_ORDER = _names(Name)
_NAME_PARTS = _settable("name.", _NAME_ORDER)
_EXTENSION_ORDER = _names(EnterpriseUser)
_EXTENSION_PARTS = _settable(f"{ENTERPRISE_USER_SCHEMA}:", _EXTENSION_ORDER)
_EMAIL_ORDER = _names(Email)
_EMAIL_KEYS = frozenset({"value", "type", "primary", "display"})


def read_user(payload: dict[str, Any], context: Context) -> UserData:
    """The user a POST (`context`: creation) or PUT (replacement) body describes; a new
    account is active unless the body says otherwise."""
    payload = wrap_single_values(payload, USER_MULTI_VALUED)
    creation = context == Context.RESOURCE_CREATION_REQUEST
    body = plain_user(payload, active=True if creation else None)
    if body is not None:
        return from_representation(body)
    resource = validate(ScimUser, payload, context)
    if creation and resource.active is None:
        resource.active = True  # the server's default for a new account, shown as assigned
    return from_scim_user(resource)


def plain_user(payload: dict[str, Any], *, active: bool | None = None) -> dict[str, Any] | None:
    """`payload` as scim2-models would dump it after validating it for a creation or a
    replacement (the two treat these bodies alike), with `active` where the body has none;
    None if it is not such a body."""
    extension = payload.get(ENTERPRISE_USER_SCHEMA)
    if payload.get("schemas") not in _SCHEMAS_SENT:
        return None
    if not isinstance(payload.get("userName"), str) or not isinstance(payload.get("id", ""), str):
        return None
    found: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("schemas", "id"):
            continue
        if key in _TOP:
            if not _of_kind(_TOP[key], value):
                return None
            found[key] = value
        elif key == "name":
            found[key] = _complex(value, _NAME_PARTS, _NAME_ORDER)
        elif key == "emails":
            found[key] = _emails(value)
        elif key == ENTERPRISE_USER_SCHEMA:
            found[key] = _complex(value, _EXTENSION_PARTS, _EXTENSION_ORDER)
        else:
            return None
        if found[key] is None:
            return None
    found["schemas"] = _SCHEMAS_EXTENDED if extension is not None else _SCHEMAS_ALONE
    if active is not None:
        found.setdefault("active", active)
    return {name: found[name] for name in _USER_ORDER if name in found}


def _of_kind(kind: Kind, value: Any) -> bool:
    return isinstance(value, bool) if kind == "boolean" else isinstance(value, str)


def _complex(value: Any, parts: dict[str, Kind], order: list[str]) -> dict[str, Any] | None:
    """A complex attribute of settable sub-attributes, each of its kind, in the model's
    order."""
    if not isinstance(value, dict) or not value or not set(value) <= set(parts):
        return None
    if not all(_of_kind(parts[name], item) for name, item in value.items()):
        return None
    return {name: value[name] for name in order if name in value}


def normalised_email(address: str) -> str | None:
    """The address as scim2-models' `EmailStr` stores it; None if it refuses it."""
    try:
        return validate_email(address)[1]
    except PydanticCustomError:
        return None


def _emails(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not value:
        return None
    emails = []
    for email in value:
        if not isinstance(email, dict) or not set(email) <= _EMAIL_KEYS:
            return None
        address, kind = email.get("value"), email.get("type", "work")
        primary, display = email.get("primary", False), email.get("display", "")
        if not (isinstance(address, str) and kind in _EMAIL_TYPES):
            return None
        if not (isinstance(primary, bool) and isinstance(display, str)):
            return None
        normalised = normalised_email(address)
        if normalised is None:
            return None
        ordered = {name: email[name] for name in _EMAIL_ORDER if name in email}
        emails.append({**ordered, "value": normalised})
    if sum(1 for email in emails if email.get("primary")) > 1:
        return None
    return emails
