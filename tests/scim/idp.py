"""What the IdP conversation suites share (test_okta.py, test_entra.py, test_onelogin.py,
test_ping.py, test_jumpcloud.py, test_generic_client.py).

A `ScimConversation` is one identity provider talking to the `acme` tenant's SCIM endpoint: it
sends the IdP's own headers (Content-Type, Accept, User-Agent) on every request, serialises the
body itself (so the Content-Type on the wire is exactly the IdP's, not httpx's), and checks the
status of every answer. Its `user`, `group`, `members`, `find` and `gone` methods observe the
server's state through plain HTTP, the way the IdP (or an auditor) would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

BASE = "/api/scim"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"

#: PATCH on /Groups may answer 200 with the group or 204 (RFC 7644 §3.5.2); IdPs take both.
PATCHED = (200, 204)

#: The user Entra ID provisions with its default attribute mappings (name, one work email,
#: title, the enterprise extension's department): the body of its POST, without `manager`.
ENTRA_USER: dict[str, Any] = {
    "schemas": [USER, ENTERPRISE],
    "userName": "ada@example.com",
    "externalId": "7f0c",
    "active": True,
    "displayName": "Ada Lovelace",
    "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
    "emails": [{"primary": True, "type": "work", "value": "ada@example.com"}],
    "title": "Engineer",
    ENTERPRISE: {"department": "R&D"},
}

Status = int | tuple[int, ...]


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    """An RFC 7644 §3.5.2 PatchOp message."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def query(path: str, **params: str | int) -> str:
    """`path?k=v&…` percent-encoded the way IdPs put it on the wire (`%20`, `%22`, `%40`), in
    the order given: `query("/Users", filter='userName eq "a@b"', startIndex=1, count=100)`."""
    return f"{path}?{urlencode(params, quote_via=quote)}" if params else path


class ScimConversation:
    def __init__(
        self,
        client: httpx.AsyncClient,
        token: str,
        *,
        content_type: str = SCIM_JSON,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.content_type = content_type
        self.headers = {"Authorization": f"Bearer {token}", **(headers or {})}

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: Status,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {**self.headers, **(headers or {})}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", self.content_type)
        response = await self.client.request(
            method, BASE + path, content=content, headers=all_headers
        )
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (
            f"{method} {path} → {response.status_code}, expected {expect}: {response.text}"
        )
        if response.status_code >= 400:
            error = response.json()
            assert error["schemas"] == [ERROR], error
            assert error["status"] == str(response.status_code), error
        return response

    async def get(self, path: str, *, expect: Status = 200, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, expect=expect, **kw)

    async def post(
        self, path: str, body: Any, *, expect: Status = 201, **kw: Any
    ) -> httpx.Response:
        return await self.request("POST", path, body, expect=expect, **kw)

    async def put(self, path: str, body: Any, *, expect: Status = 200, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, body, expect=expect, **kw)

    async def patch(
        self, path: str, body: Any, *, expect: Status = 200, **kw: Any
    ) -> httpx.Response:
        return await self.request("PATCH", path, body, expect=expect, **kw)

    async def delete(self, path: str, *, expect: Status = 204, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, expect=expect, **kw)

    # -- observing the server's state ------------------------------------------------------

    async def user(self, user_id: str) -> dict[str, Any]:
        body = (await self.get(f"/Users/{user_id}")).json()
        assert body["id"] == user_id
        assert body["meta"]["resourceType"] == "User"
        assert "password" not in body  # writeOnly, never returned (RFC 7643 §4.1.1)
        return body

    async def group(self, group_id: str, *, path_suffix: str = "") -> dict[str, Any]:
        body = (await self.get(f"/Groups/{group_id}{path_suffix}")).json()
        assert body["id"] == group_id
        assert body["meta"]["resourceType"] == "Group"
        return body

    async def members(self, group_id: str) -> set[str]:
        return {m["value"] for m in (await self.group(group_id)).get("members", [])}

    async def find(self, path: str) -> list[dict[str, Any]]:
        """A list or filter request (`path` as built by `query`): a ListResponse whose
        totalResults counts what it holds, or more when it is a page."""
        body = (await self.get(path)).json()
        assert body["schemas"] == [LIST_RESPONSE], body
        assert body["startIndex"] >= 1
        assert body["itemsPerPage"] == len(body["Resources"])
        assert body["totalResults"] >= len(body["Resources"])
        return body["Resources"]

    async def find_user(self, filter_: str, **params: str | int) -> dict[str, Any] | None:
        """The one user a uniqueness filter names, or None (an empty ListResponse, not 404)."""
        found = await self.find(query("/Users", filter=filter_, **params))
        assert len(found) <= 1, found
        return found[0] if found else None

    async def gone(self, path: str) -> None:
        """The resource is gone for SCIM: 404 with the error schema."""
        await self.get(path, expect=404)
