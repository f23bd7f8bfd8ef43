"""What the bad-input suites share (test_hostile_input.py, test_properties.py,
test_openapi_fuzz.py): the verdict on one answer to bad input, and a fingerprint of everything
a SCIM write can change, to prove that a refused request wrote nothing.

Issue 7 §1: bad input never gets a 5xx; each gets a clear 4xx in the SCIM error format
(RFC 7644 §3.12), nothing is written, and nothing the client sent comes back in a response
header unescaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from piccolo.table import Table

from definewtf.tables import (
    AuditEvent,
    Group,
    GroupMember,
    GroupRole,
    Role,
    User,
    UserRole,
    UserValue,
)

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

#: Every table a SCIM request may write (tokens, sessions and API keys are not written by a
#: SCIM request's content: `scim_token.last_used_at` moves on every authenticated request).
WRITTEN_BY_SCIM: tuple[type[Table], ...] = (
    User,
    UserValue,
    Group,
    GroupMember,
    Role,
    UserRole,
    GroupRole,
    AuditEvent,
)


def as_json(body: Any) -> dict[str, Any]:
    """httpx request arguments sending `body` as the JSON text Python writes: ASCII escapes
    (so lone surrogates travel as `\\ud800`) and NaN / Infinity, which httpx itself refuses."""
    return {"content": json.dumps(body).encode()}


async def stored_state() -> dict[str, list[str]]:
    """Every row of every table SCIM writes, in a comparable form: equal fingerprints before
    and after a request mean it wrote nothing (not a row, not a version, not an audit entry).
    Reads the database directly, on the app's engine (the `client` fixture's lifespan)."""
    state = {}
    for table in WRITTEN_BY_SCIM:
        rows = await table.select()
        state[table._meta.tablename] = sorted(repr(sorted(row.items())) for row in rows)
    return state


def assert_not_a_server_error(response: httpx.Response) -> None:
    """< 500, and a 4xx is an RFC 7644 §3.12 error: the Error schema, `status` as a string."""
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.text,
    )
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/scim+json"), response.text
        body = response.json()
        assert ERROR in body["schemas"], body
        assert body["status"] == str(response.status_code), body


def assert_not_reflected(response: httpx.Response, sent: Iterable[str]) -> None:
    """No response header carries a control character, nor any of the client's own strings
    (an id, a filter) that could smuggle one: header injection needs exactly that."""
    for name, value in response.headers.items():
        assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in value), (name, value)
        for text in sent:
            if len(text) >= 4:  # short strings occur in any header by chance ("W/\"1\"")
                assert text not in value, (name, value, text)


async def assert_refused(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    status: int | tuple[int, ...] | None = None,
    reflected: Iterable[str] = (),
    **kwargs: Any,
) -> httpx.Response:
    """Send one bad request; it must be refused with a SCIM 4xx (`status` when given), write
    nothing, and reflect none of `reflected` into a header."""
    before = await stored_state()
    response = await client.request(method, url, headers=headers, **kwargs)
    assert_not_a_server_error(response)
    expected = (status,) if isinstance(status, int) else status
    if expected is not None:
        assert response.status_code in expected, (url, response.status_code, response.text)
    else:
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
    assert_not_reflected(response, reflected)
    assert await stored_state() == before, (method, url, "a refused request wrote")
    return response
