"""A user written by hand (the admin console, scripts) in the same representation an IdP's
SCIM User resource is stored in, so that SCIM reads, filters and the console agree.

A `ProfileChange` names only what a person edits: userName, name, display name, the primary
email, the account state and a password. It is applied on top of the stored representation,
keeping everything an IdP sent that it does not name (phone numbers, the enterprise extension,
other emails).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from definewtf.errors import Invalid
from definewtf.registry import USER_SCHEMA, user_values
from definewtf.services.users import UserData

#: Longer than any address RFC 5321 lets through (254).
MAX_EMAIL_LENGTH = 320


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """None leaves a field as it is; "" clears a name, the display name or the email."""

    user_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    password: str | None = field(default=None, repr=False)


def new_user(change: ProfileChange) -> UserData:
    """The data of a user created by hand (active unless the change says otherwise)."""
    if change.user_name is None:
        raise Invalid("userName is required", attribute="userName")
    empty = UserData(user_name=change.user_name, attributes={"schemas": [USER_SCHEMA]})
    return applied(empty, replace(change, active=True if change.active is None else change.active))


def applied(data: UserData, change: ProfileChange) -> UserData:
    """`data` with `change` applied, its columns and searchable values recomputed."""
    attributes = dict(data.attributes)
    name = dict(attributes.get("name") or {})
    _set(name, "givenName", change.given_name)
    _set(name, "familyName", change.family_name)
    if change.given_name is not None or change.family_name is not None:
        # `formatted` is what consoles display; keep it in step with the parts.
        parts = [name.get("givenName"), name.get("familyName")]
        _set(name, "formatted", " ".join(p for p in parts if p))
    _set_or_drop(attributes, "name", name)
    _set(attributes, "displayName", change.display_name)
    if change.email is not None:
        attributes["emails"] = _with_primary_email(attributes.get("emails"), change.email)
        _set_or_drop(attributes, "emails", attributes["emails"])
    active = data.active if change.active is None else change.active
    if change.active is not None:
        attributes["active"] = change.active
    emails = attributes.get("emails") or []
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    return replace(
        data,
        user_name=data.user_name if change.user_name is None else change.user_name,
        active=active,
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        display_name=attributes.get("displayName"),
        email=None if primary is None else primary.get("value"),
        attributes=attributes,
        password=change.password,
        values=user_values(attributes),
    )


def _set(target: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        return
    if value.strip():
        target[key] = value.strip()
    else:
        target.pop(key, None)


def _set_or_drop(target: dict[str, Any], key: str, value: Any) -> None:
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def _with_primary_email(stored: Any, email: str) -> list[dict[str, Any]]:
    """The emails with the primary one's address replaced (or removed, for ""); the others
    an IdP sent stay."""
    emails = [dict(e) for e in stored or [] if isinstance(e, dict)]
    index = next((i for i, e in enumerate(emails) if e.get("primary")), 0 if emails else None)
    address = email.strip()
    if not address:
        if index is not None:
            del emails[index]
        return emails
    if len(address) > MAX_EMAIL_LENGTH or "@" not in address or any(c.isspace() for c in address):
        raise Invalid(f"{email!r} is not an email address", attribute="email")
    if index is None:
        return [{"value": address, "type": "work", "primary": True}]
    emails[index] = emails[index] | {"value": address, "primary": True}
    return emails
