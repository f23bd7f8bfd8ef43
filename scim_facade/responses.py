"""Every SCIM response goes through here: media type, status, ETag and error bodies."""

from __future__ import annotations

from typing import Any

from litestar import Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from scim2_models import Error

from definewtf import request_context

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
    request_context.note_error(detail)  # for the tenant's provisioning status (scimStatus)
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


def negotiate_media_type(app: ASGIApp) -> ASGIApp:
    """Answer `application/json` to a client that accepts it and not `application/scim+json`
    (RFC 7644 §3.8; OneLogin asks for it). The body is the same JSON either way."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1").lower()
        plain = "application/json" in accept and SCIM_MEDIA_TYPE not in accept

        async def send_negotiated(message: Message) -> None:
            if plain and message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if headers.get("content-type", "").startswith(SCIM_MEDIA_TYPE):
                    headers["content-type"] = "application/json"
            await send(message)

        await app(scope, receive, send_negotiated)

    return middleware
