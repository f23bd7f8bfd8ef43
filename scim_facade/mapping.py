"""Stored users ↔ SCIM User resources: the one pair of mapping functions.

`from_scim_user` keeps the whole validated representation (core + extensions) in `attributes`
and projects the indexed columns out of it; `to_scim_user` renders a response from the stored
row without a model round-trip.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, SearchRequest, User

from definewtf.services.users import UserData, UserRecord, data_of
from scim_facade.registry import USER_SCHEMA, user_values
from scim_facade.requests import POLICY, scim_error_of
from scim_facade.responses import etag

ScimUser = User[EnterpriseUser]

#: Never stored in `attributes`: server-assigned (id, meta), hashed separately (password), or
#: held by a column (userName, active, externalId), so that there is one source for each.
_NOT_STORED = {"id", "meta", "password", "userName", "active", "externalId"}


def from_scim_user(resource: ScimUser) -> UserData:
    dumped = resource.model_dump(scim_policy=POLICY)
    attributes = {key: value for key, value in dumped.items() if key not in _NOT_STORED}
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
        values=user_values(attributes),
    )


def _primary_email(resource: ScimUser) -> str | None:
    emails = [e for e in (resource.emails or []) if e.value]
    primary = next((e for e in emails if e.primary), emails[0] if emails else None)
    return None if primary is None else str(primary.value)


def _representation(data: UserData) -> dict[str, Any]:
    """The stored representation with the column-held attributes on top (they win)."""
    body: dict[str, Any] = dict(data.attributes)
    schemas = list(body.get("schemas") or [])
    if USER_SCHEMA not in schemas:
        schemas.insert(0, USER_SCHEMA)
    body.update(schemas=schemas, userName=data.user_name, active=data.active)
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


def to_scim_user(record: UserRecord, location: str) -> dict[str, Any]:
    body = {"id": str(record.id), **_representation(data_of(record))}
    body["meta"] = {
        "resourceType": "User",
        "created": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "location": location,
        "version": etag(record.version),
    }
    return body


def project(body: dict[str, Any], projection: SearchRequest[Any] | None) -> dict[str, Any]:
    """Apply attributes / excludedAttributes (RFC 7644 §3.4.2.5) with scim2-models, which
    knows `returned: always / never / request`. Without them the body is returned as is."""
    if projection is None:
        return body
    resource = ScimUser.model_validate(
        body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE, scim_policy=POLICY
    )
    return resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=projection, scim_policy=POLICY
    )
