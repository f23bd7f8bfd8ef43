"""Stored users ↔ SCIM User resources: the one pair of mapping functions.

`from_scim_user` keeps the whole validated representation (core + extensions) in `attributes`
and projects the indexed columns out of it; `to_scim_user` renders a response from the stored
row without a model round-trip.
"""

from __future__ import annotations

from typing import Any

from definewtf.services.users import UserData, UserRecord
from scim2_models import EnterpriseUser, User

from scim_facade.registry import USER_SCHEMA
from scim_facade.responses import etag

ScimUser = User[EnterpriseUser]

#: Never stored in `attributes`: server-assigned, or (password) hashed separately.
_NOT_STORED = {"id", "meta", "password"}


def from_scim_user(resource: ScimUser) -> UserData:
    attributes = {
        key: value for key, value in resource.model_dump().items() if key not in _NOT_STORED
    }
    email = _primary_email(resource)
    return UserData(
        user_name=resource.user_name or "",
        active=True if resource.active is None else bool(resource.active),
        external_id=resource.external_id,
        given_name=resource.name.given_name if resource.name else None,
        family_name=resource.name.family_name if resource.name else None,
        display_name=resource.display_name,
        email=email,
        attributes=attributes,
        password=resource.password,
    )


def _primary_email(resource: ScimUser) -> str | None:
    emails = [e for e in (resource.emails or []) if e.value]
    primary = next((e for e in emails if e.primary), emails[0] if emails else None)
    return None if primary is None else str(primary.value)


def to_scim_user(record: UserRecord, location: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(record.attributes)
    schemas = list(body.get("schemas") or [])
    if USER_SCHEMA not in schemas:
        schemas.insert(0, USER_SCHEMA)
    body.update(
        schemas=schemas,
        id=str(record.id),
        userName=record.user_name,
        active=record.active,
    )
    if record.external_id is not None:
        body["externalId"] = record.external_id
    body["meta"] = {
        "resourceType": "User",
        "created": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "location": location,
        "version": etag(record.version),
    }
    return body
