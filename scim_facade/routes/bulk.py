"""`/Bulk` (RFC 7644 §3.7).

Each operation is replayed, in order, as a request to this same app (in process, over ASGI),
with the caller's Host and credential: it goes through exactly the validation, services,
transactions and audit of the single-resource endpoint, in a transaction of its own, so one
operation's failure never undoes or half-applies another. `bulkId:<id>` references in paths
and data are replaced by the ids of resources created earlier in the request.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from litestar import Request, Response, post
from litestar.di import NamedDependency
from scim2_models import InvalidSyntaxException, InvalidValueException, PayloadTooLargeException

from scim_facade.context import SCIM_PATH, ScimContext
from scim_facade.requests import MAX_BODY_BYTES, read_json
from scim_facade.responses import SCIM_MEDIA_TYPE, scim_response

#: Advertised in ServiceProviderConfig (bulk.maxOperations, bulk.maxPayloadSize).
MAX_OPERATIONS = 1000
MAX_PAYLOAD_BYTES = MAX_BODY_BYTES

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_REFERENCE = re.compile(r"bulkId:([A-Za-z0-9._~-]+)")
#: An id segment never holds a control character or a space: an HTTP client refuses to send
#: one (httpx raises), so such a path is the operation's own 400, not the whole Bulk's 500.
_RESOURCE_PATH = re.compile(r"^/(Users|Groups)(/[^/?#\x00-\x20\x7f]+)?$")


class _Unresolved(Exception):
    def __init__(self, bulk_id: str) -> None:
        super().__init__(bulk_id)
        self.bulk_id = bulk_id


def _resolve(value: Any, created: dict[str, str]) -> Any:
    """Replace `bulkId:x` with the id created for x, anywhere in a string, list or object."""
    if isinstance(value, str):

        def swap(match: re.Match[str]) -> str:
            bulk_id = match.group(1)
            if bulk_id not in created:
                raise _Unresolved(bulk_id)
            return created[bulk_id]

        return _REFERENCE.sub(swap, value)
    if isinstance(value, list):
        return [_resolve(item, created) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, created) for key, item in value.items()}
    return value


def _operations(payload: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    operations = payload.get("Operations")
    if not isinstance(operations, list):
        raise InvalidSyntaxException(detail="a BulkRequest has an Operations list")
    if len(operations) > MAX_OPERATIONS:
        raise PayloadTooLargeException(detail=f"at most {MAX_OPERATIONS} operations per request")
    fail_on_errors = payload.get("failOnErrors")
    if fail_on_errors is not None and (not isinstance(fail_on_errors, int) or fail_on_errors < 1):
        raise InvalidValueException(detail="failOnErrors is a positive integer")
    for operation in operations:
        if (
            not isinstance(operation, dict)
            or str(operation.get("method", "")).upper() not in METHODS
        ):
            raise InvalidValueException(
                detail="each operation has a method: POST, PUT, PATCH or DELETE"
            )
        if not isinstance(operation.get("path"), str):
            raise InvalidValueException(detail="each operation has a path")
    return operations, fail_on_errors


def _error(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    return body


def _path_error(method: str, path: str) -> str | None:
    """POST goes to a collection, the others to one resource: `/Users`, `/Groups/{id}`."""
    match = _RESOURCE_PATH.match(path)
    if match is None or (method == "POST") == bool(match.group(2)):
        return f"no {method} on {path!r}"
    return None


async def _run(
    app: httpx.AsyncClient,
    operation: dict[str, Any],
    created: dict[str, str],
    headers: dict[str, str],
) -> dict[str, Any]:
    """One operation's entry in the BulkResponse (with `response` when it failed)."""
    method = str(operation["method"]).upper()
    result: dict[str, Any] = {"method": method}
    if operation.get("bulkId") is not None:
        result["bulkId"] = operation["bulkId"]
    try:
        path = _resolve(operation["path"], created)
        data = _resolve(operation.get("data"), created)
    except _Unresolved as exc:
        detail = f"bulkId {exc.bulk_id!r} does not name an earlier successful POST"
        return result | {"status": "409", "response": _error(409, detail, "invalidValue")}
    if (problem := _path_error(method, path)) is not None:
        return result | {"status": "400", "response": _error(400, problem, "invalidPath")}
    # As bytes: httpx refuses a str header that is not ASCII; the app reads header bytes as
    # any server hands them over (latin-1), so a junk version simply matches nothing (412).
    request_headers = {name.encode(): value.encode("latin-1") for name, value in headers.items()}
    if operation.get("version"):
        request_headers[b"if-match"] = str(operation["version"]).encode()
    response = await app.request(
        method,
        SCIM_PATH + path,
        headers=request_headers,
        content=None if data is None else json.dumps(data).encode(),
    )
    result["status"] = str(response.status_code)
    if response.headers.get("location"):
        result["location"] = response.headers["location"]
    if response.headers.get("etag"):
        result["version"] = response.headers["etag"]
    if response.status_code >= 400:
        result["response"] = response.json()
    elif method == "POST" and operation.get("bulkId") is not None:
        created[str(operation["bulkId"])] = response.json()["id"]
    return result


@post("/Bulk", status_code=200)
async def bulk(
    request: Request[Any, Any, Any], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    operations, fail_on_errors = _operations(await read_json(request))
    created: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    errors = 0
    host = request.headers.get("host", "")
    headers = {
        "Host": host,
        "Authorization": request.headers.get("authorization", ""),
        "Content-Type": SCIM_MEDIA_TYPE,
    }
    # Litestar types its ASGI callable more narrowly than httpx does; it is a plain ASGI app.
    transport = httpx.ASGITransport(app=request.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url=f"{request.url.scheme}://{host}"
    ) as app:
        for operation in operations:
            if fail_on_errors is not None and errors >= fail_on_errors:
                break  # RFC 7644 §3.7.3: stop after failOnErrors errors
            result = await _run(app, operation, created, headers)
            errors += int(result["status"]) >= 400
            results.append(result)
    return scim_response({"schemas": [BULK_RESPONSE], "Operations": results})


ROUTES = [bulk]
