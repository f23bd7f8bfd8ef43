"""Every SCIM response goes through here: media type, status, ETag and error bodies."""

from __future__ import annotations

from typing import Any

from litestar import Response
from scim2_models import Error

SCIM_MEDIA_TYPE = "application/scim+json"


def scim_response(
    body: dict[str, Any] | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    version: int | None = None,
) -> Response[Any]:
    all_headers = dict(headers or {})
    if version is not None:
        all_headers["ETag"] = etag(version)
    return Response(
        content=body, status_code=status, media_type=SCIM_MEDIA_TYPE, headers=all_headers
    )


def scim_error(
    status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    """An RFC 7644 §3.12 error: `status` is a string in the body, `scimType` where defined."""
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return scim_response(error.model_dump(), status=status, headers=headers)


def etag(version: int) -> str:
    return f'W/"{version}"'


LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def list_body(
    resources: list[dict[str, Any]], *, total: int, start_index: int = 1
) -> dict[str, Any]:
    """An RFC 7644 §3.4.2 ListResponse around already rendered resources."""
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
