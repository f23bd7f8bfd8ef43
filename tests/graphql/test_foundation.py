"""The GraphQL foundation at `/graphql`: tenants, SCIM tokens, users, authentication, audit.

Everything goes through real HTTP on the in-process app (`client` is addressed to
`acme.localhost`); the database is read directly only to check what is (not) stored.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from definewtf.principals import CLI_ACTOR
from definewtf.security import Security
from definewtf.services import tokens
from definewtf.services.tenants import TenantRecord
from definewtf.tables import ALL_TABLES, ApiKey, AuditEvent, ScimToken, Tenant

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9]{64}$")
WELL_FORMED_BUT_UNKNOWN = "A" * 64

CREATE_TENANT = """
mutation ($slug: String!, $name: String) {
  createTenant(slug: $slug, name: $name) {
    __typename
    ... on Tenant { id slug name scimEndpoint }
    ... on ConflictError { message conflictField: field }
    ... on InvalidError { message invalidField: field }
    ... on DeniedError { message }
  }
}
"""

TOKEN_FIELDS = "id prefix active createdBy createdAt ageDays rotationDue expiresAt revokedAt"

GENERATE = f"""
mutation ($expiresInDays: Int, $overlapMinutes: Int! = 0) {{
  generateScimToken(expiresInDays: $expiresInDays, overlapMinutes: $overlapMinutes) {{
    __typename
    ... on GeneratedScimToken {{ token scimToken {{ {TOKEN_FIELDS} }} }}
    ... on InvalidError {{ message field }}
    ... on DeniedError {{ message }}
  }}
}}
"""

REVOKE = f"""
mutation ($id: ID!) {{
  revokeScimToken(id: $id) {{
    __typename
    ... on ScimToken {{ {TOKEN_FIELDS} }}
    ... on NotFoundError {{ message resource }}
    ... on DeniedError {{ message }}
  }}
}}
"""

LIST_TOKENS = f"{{ scimTokens {{ {TOKEN_FIELDS} }} }}"

USERS = """
query ($first: Int!, $after: String) {
  users(first: $first, after: $after) {
    totalCount
    edges { cursor node { id userName } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


# --- helpers -------------------------------------------------------------------------------


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    host: str | None = None,
    url: str = "/graphql",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    if host is not None:
        sent["Host"] = host
    return await client.post(url, json={"query": query, "variables": variables or {}}, headers=sent)


async def data_of(client: httpx.AsyncClient, query: str, variables: Any = None, **kw: Any) -> Any:
    """The `data` of a request that must succeed without GraphQL errors."""
    response = await gql(client, query, variables, **kw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The GraphQL errors of a request that must fail as GraphQL (never a 500)."""
    assert response.status_code in {200, 400}, response.text
    body = response.json()
    assert body.get("errors"), body
    return body["errors"]


async def generate(client: httpx.AsyncClient, key: str, **variables: Any) -> dict[str, Any]:
    data = await data_of(client, GENERATE, variables, key=key)
    return data["generateScimToken"]


async def scim_status(client: httpx.AsyncClient, token: str, host: str = "acme.localhost") -> int:
    response = await client.get(
        "/api/scim/Users", headers={"Authorization": f"Bearer {token}", "Host": host}
    )
    return response.status_code


async def scim_create_user(
    client: httpx.AsyncClient, token: str, user_name: str, host: str = "acme.localhost"
) -> None:
    response = await client.post(
        "/api/scim/Users",
        json={"schemas": [USER_SCHEMA], "userName": user_name},
        headers={"Authorization": f"Bearer {token}", "Host": host},
    )
    assert response.status_code == 201, response.text


async def list_tokens(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    data = await data_of(client, LIST_TOKENS, key=key)
    return data["scimTokens"]


async def audit_rows(action: str) -> list[dict[str, Any]]:
    return await AuditEvent.select().where(AuditEvent.action == action)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def label_of(email: str, key: str) -> str:
    return f"{email} (key {key[:12]})"


async def set_created_at(token_id: str, when: datetime) -> None:
    await ScimToken.update({ScimToken.created_at: when}).where(ScimToken.id == uuid.UUID(token_id))


# --- createTenant --------------------------------------------------------------------------


async def test_operator_creates_tenant_on_platform_host(client, operator_key) -> None:
    data = await data_of(
        client,
        CREATE_TENANT,
        {"slug": "newco", "name": "New Co"},
        key=operator_key,
        host="localhost",
    )
    created = data["createTenant"]
    assert created["__typename"] == "Tenant"
    assert created["slug"] == "newco"
    assert created["name"] == "New Co"
    assert created["scimEndpoint"] == "http://newco.localhost/api/scim"
    # It exists and answers on its own host, with the same id and endpoint.
    tenant = await data_of(
        client, "{ tenant { id slug name scimEndpoint } }", key=operator_key, host="newco.localhost"
    )
    assert tenant["tenant"] == {
        "id": created["id"],
        "slug": "newco",
        "name": "New Co",
        "scimEndpoint": "http://newco.localhost/api/scim",
    }


async def test_scim_endpoint_follows_client_scheme_and_port(client, operator_key) -> None:
    data = await data_of(
        client,
        CREATE_TENANT,
        {"slug": "portco"},
        key=operator_key,
        url="https://localhost:8443/graphql",
    )
    created = data["createTenant"]
    assert created["scimEndpoint"] == "https://portco.localhost:8443/api/scim"
    # Without a name, the slug is the name.
    assert created["name"] == "portco"


async def test_duplicate_slug_is_a_conflict(client, acme, operator_key) -> None:
    data = await data_of(
        client, CREATE_TENANT, {"slug": "acme", "name": "Other"}, key=operator_key, host="localhost"
    )
    result = data["createTenant"]
    assert result["__typename"] == "ConflictError"
    assert result["conflictField"] == "slug"
    rows = await Tenant.select(Tenant.name).where(Tenant.slug == "acme")
    assert rows == [{"name": "Acme Corp"}]


async def test_error_members_share_field_type(client, acme, operator_key) -> None:
    """A client may select `field` on every error member of a result without aliases."""
    query = """
    mutation ($slug: String!) {
      createTenant(slug: $slug) {
        __typename
        ... on ConflictError { field }
        ... on InvalidError { field }
      }
    }
    """
    conflict = await data_of(client, query, {"slug": "acme"}, key=operator_key)
    assert conflict["createTenant"] == {"__typename": "ConflictError", "field": "slug"}
    invalid = await data_of(client, query, {"slug": "Not A Slug"}, key=operator_key)
    assert invalid["createTenant"] == {"__typename": "InvalidError", "field": "slug"}


@pytest.mark.parametrize("slug", ["Bad_Slug", "-newco", "newco-", "", "a" * 64, "admin"])
async def test_bad_slug_is_invalid(client, operator_key, slug) -> None:
    data = await data_of(client, CREATE_TENANT, {"slug": slug}, key=operator_key, host="localhost")
    result = data["createTenant"]
    assert result["__typename"] == "InvalidError"
    assert result["invalidField"] == "slug"
    assert await Tenant.count().where(Tenant.slug == slug) == 0


async def test_tenant_admin_cannot_create_tenant(client, admin_key, operator_key) -> None:
    data = await data_of(client, CREATE_TENANT, {"slug": "sneaky"}, key=admin_key)
    assert data["createTenant"]["__typename"] == "DeniedError"
    assert await Tenant.count().where(Tenant.slug == "sneaky") == 0
    # Only the fixtures' tenants (created by the CLI actor) were audited.
    assert {r["actor_type"] for r in await audit_rows("tenant.create")} == {"cli"}
    # Nothing half-created stands in the way of the operator.
    data = await data_of(client, CREATE_TENANT, {"slug": "sneaky"}, key=operator_key)
    assert data["createTenant"]["__typename"] == "Tenant"
    # A tenant admin's key is no credential at all on the platform host.
    response = await gql(
        client, CREATE_TENANT, {"slug": "sneaky2"}, key=admin_key, host="localhost"
    )
    assert response.status_code == 401


# --- generateScimToken ---------------------------------------------------------------------


async def test_generate_returns_token_once_with_metadata(client, admin_key) -> None:
    result = await generate(client, admin_key)
    assert result["__typename"] == "GeneratedScimToken"
    token = result["token"]
    assert TOKEN_SHAPE.match(token), token
    meta = result["scimToken"]
    assert meta["prefix"] == token[:12]
    assert meta["active"] is True
    assert meta["rotationDue"] is False
    assert meta["ageDays"] == 0
    assert meta["expiresAt"] is None
    assert meta["revokedAt"] is None
    assert meta["createdBy"] == label_of("admin@acme.test", admin_key)
    assert abs(parse_time(meta["createdAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    uuid.UUID(meta["id"])
    assert await scim_status(client, token) == 200


async def test_generating_again_revokes_previous_at_once(client, admin_key) -> None:
    first = await generate(client, admin_key)
    second = await generate(client, admin_key)
    assert first["token"] != second["token"]
    assert await scim_status(client, first["token"]) == 401
    assert await scim_status(client, second["token"]) == 200


async def test_generating_revokes_the_cli_issued_token(client, scim_token, admin_key) -> None:
    assert await scim_status(client, scim_token) == 200
    new = await generate(client, admin_key)
    assert await scim_status(client, scim_token) == 401
    assert await scim_status(client, new["token"]) == 200


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": 5000}, "expiresInDays"),
        ({"expiresInDays": -1}, "expiresInDays"),
        ({"overlapMinutes": -1}, "overlapMinutes"),
        ({"overlapMinutes": 7 * 24 * 60 + 1}, "overlapMinutes"),
    ],
)
async def test_generate_rejects_out_of_range(client, admin_key, scim_token, variables, field):
    result = await generate(client, admin_key, **variables)
    assert result["__typename"] == "InvalidError"
    assert result["field"] == field
    # Nothing changed: no new token, the current one still works.
    assert len(await list_tokens(client, admin_key)) == 1
    assert await scim_status(client, scim_token) == 200


async def test_overlap_keeps_previous_token_working(client, admin_key) -> None:
    old = await generate(client, admin_key)
    new = await generate(client, admin_key, overlapMinutes=60)
    assert await scim_status(client, old["token"]) == 200
    assert await scim_status(client, new["token"]) == 200
    listed = {t["id"]: t for t in await list_tokens(client, admin_key)}
    previous = listed[old["scimToken"]["id"]]
    assert previous["active"] is True
    revoke_at = parse_time(previous["revokedAt"])
    expected = datetime.now(UTC) + timedelta(minutes=60)
    assert abs(revoke_at - expected) < timedelta(minutes=1)


async def test_generate_without_overlap_ends_a_pending_overlap(client, admin_key) -> None:
    first = await generate(client, admin_key)
    second = await generate(client, admin_key, overlapMinutes=60)
    third = await generate(client, admin_key)  # overlapMinutes 0: previous ones revoked at once
    assert await scim_status(client, third["token"]) == 200
    assert await scim_status(client, second["token"]) == 401
    assert await scim_status(client, first["token"]) == 401


async def test_expires_in_days_sets_expiry(client, admin_key) -> None:
    result = await generate(client, admin_key, expiresInDays=1)
    expected = datetime.now(UTC) + timedelta(days=1)
    expires_at = parse_time(result["scimToken"]["expiresAt"])
    assert abs(expires_at - expected) < timedelta(minutes=1)
    # The stored value reads back the same on this engine.
    [listed] = await list_tokens(client, admin_key)
    assert parse_time(listed["expiresAt"]) == expires_at
    assert listed["active"] is True
    assert await scim_status(client, result["token"]) == 200


async def test_expired_token_is_inactive_and_refused(client, admin_key) -> None:
    result = await generate(client, admin_key, expiresInDays=1)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await ScimToken.update({ScimToken.expires_at: past}).where(
        ScimToken.id == uuid.UUID(result["scimToken"]["id"])
    )
    assert await scim_status(client, result["token"]) == 401
    [listed] = await list_tokens(client, admin_key)
    assert listed["active"] is False
    assert listed["rotationDue"] is False


async def test_plaintext_token_is_not_stored(client, admin_key) -> None:
    old = await generate(client, admin_key)
    new = await generate(client, admin_key, overlapMinutes=5)
    secrets_ = [old["token"], new["token"]]
    token_rows = await ScimToken.select()
    assert len(token_rows) == 2
    for row in token_rows:
        assert str(row["secret_hash"]).startswith("$argon2id$"), row
    audit = await AuditEvent.select()
    assert any(r["action"] == "scim_token.generate" for r in audit)
    for row in [*token_rows, *audit]:
        text = str(row)
        for secret in secrets_:
            # The prefix is stored in clear on purpose; the rest of the secret never is.
            assert secret[12:] not in text, row
    # Nor in any other table.
    for table in ALL_TABLES:
        dump = str(await table.select())
        for secret in secrets_:
            assert secret[12:] not in dump, table
    # And the listing never shows it again.
    response = await gql(client, LIST_TOKENS, key=admin_key)
    for secret in secrets_:
        assert secret[12:] not in response.text


# --- scimTokens ----------------------------------------------------------------------------


async def test_token_field_does_not_exist_on_scim_tokens(client, admin_key, scim_token) -> None:
    response = await gql(client, "{ scimTokens { id token } }", key=admin_key)
    errors = errors_of(response)
    assert any("token" in error["message"] for error in errors), errors
    assert not response.json().get("data")
    assert scim_token[12:] not in response.text


async def test_scim_tokens_newest_first_with_revoked_inactive(client, admin_key) -> None:
    a = await generate(client, admin_key)
    b = await generate(client, admin_key)
    c = await generate(client, admin_key, overlapMinutes=30)
    now = datetime.now(UTC).replace(microsecond=0)
    # Timestamps have one-second resolution: give the three distinct creation times.
    await set_created_at(a["scimToken"]["id"], now - timedelta(days=3))
    await set_created_at(b["scimToken"]["id"], now - timedelta(days=2))
    listed = await list_tokens(client, admin_key)
    assert [t["id"] for t in listed] == [
        c["scimToken"]["id"],
        b["scimToken"]["id"],
        a["scimToken"]["id"],
    ]
    assert [t["active"] for t in listed] == [True, True, False]  # b is in its overlap
    assert [t["prefix"] for t in listed] == [c["token"][:12], b["token"][:12], a["token"][:12]]
    assert [t["ageDays"] for t in listed] == [0, 2, 3]
    assert listed[2]["revokedAt"] is not None


async def test_scim_tokens_of_this_tenant_only(client, admin_key, globex, security) -> None:
    await tokens.generate_scim_token(tenant_id=globex.id, actor=CLI_ACTOR, security=security)
    assert await list_tokens(client, admin_key) == []
    mine = await generate(client, admin_key)
    assert [t["id"] for t in await list_tokens(client, admin_key)] == [mine["scimToken"]["id"]]


@pytest.mark.parametrize(("age", "due"), [(89, False), (90, True)])
async def test_rotation_due_after_ninety_days(client, admin_key, age, due) -> None:
    result = await generate(client, admin_key)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=age)
    await set_created_at(result["scimToken"]["id"], when)
    [listed] = await list_tokens(client, admin_key)
    assert listed["ageDays"] == age
    assert listed["rotationDue"] is due


# --- revokeScimToken -----------------------------------------------------------------------


async def test_revoke_takes_effect_on_next_request(client, admin_key) -> None:
    issued = await generate(client, admin_key)
    token_id = issued["scimToken"]["id"]
    assert await scim_status(client, issued["token"]) == 200  # verdict now cached in process
    data = await data_of(client, REVOKE, {"id": token_id}, key=admin_key)
    revoked = data["revokeScimToken"]
    assert revoked["__typename"] == "ScimToken"
    assert revoked["id"] == token_id
    assert revoked["active"] is False
    assert abs(parse_time(revoked["revokedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert await scim_status(client, issued["token"]) == 401
    [listed] = await list_tokens(client, admin_key)
    assert listed["active"] is False
    assert listed["revokedAt"] == revoked["revokedAt"]


async def test_revoke_is_idempotent(client, admin_key) -> None:
    issued = await generate(client, admin_key)
    token_id = issued["scimToken"]["id"]
    first = (await data_of(client, REVOKE, {"id": token_id}, key=admin_key))["revokeScimToken"]
    again = (await data_of(client, REVOKE, {"id": token_id}, key=admin_key))["revokeScimToken"]
    assert again["__typename"] == "ScimToken"
    assert again["revokedAt"] == first["revokedAt"]
    assert len(await audit_rows("scim_token.revoke")) == 1


async def test_revoke_ends_an_overlap_early(client, admin_key) -> None:
    old = await generate(client, admin_key)
    await generate(client, admin_key, overlapMinutes=60)
    assert await scim_status(client, old["token"]) == 200
    data = await data_of(client, REVOKE, {"id": old["scimToken"]["id"]}, key=admin_key)
    assert data["revokeScimToken"]["active"] is False
    assert await scim_status(client, old["token"]) == 401


async def test_revoke_unknown_malformed_or_foreign_id_is_not_found(
    client, admin_key, globex: TenantRecord, security: Security
) -> None:
    foreign = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=security
    )
    for token_id in [str(uuid.uuid4()), "not-a-uuid", "", str(foreign.info.id)]:
        data = await data_of(client, REVOKE, {"id": token_id}, key=admin_key)
        result = data["revokeScimToken"]
        assert result["__typename"] == "NotFoundError", token_id
        assert result["resource"] == "ScimToken"
    assert await scim_status(client, foreign.token, host="globex.localhost") == 200
    row = await ScimToken.select(ScimToken.revoked_at).where(ScimToken.id == foreign.info.id)
    assert row == [{"revoked_at": None}]
    assert await audit_rows("scim_token.revoke") == []


async def test_revoke_is_scoped_to_the_host_tenant(client, admin_key, operator_key, globex):
    issued = await generate(client, admin_key)
    # Even an operator, addressing globex's host, cannot reach acme's token from there.
    data = await data_of(
        client, REVOKE, {"id": issued["scimToken"]["id"]}, key=operator_key, host="globex.localhost"
    )
    assert data["revokeScimToken"]["__typename"] == "NotFoundError"
    assert await scim_status(client, issued["token"]) == 200


# --- authentication and tenancy ------------------------------------------------------------


async def test_no_credential_is_a_graphql_error(client, admin_key) -> None:
    response = await gql(client, USERS, {"first": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["errors"], body
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["users"]
    assert "admin@acme.test" not in response.text


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {WELL_FORMED_BUT_UNKNOWN}", "Bearer short", "Basic xyz", "Bearer", "Bearer a b"],
)
async def test_bad_credential_is_401(client, admin_key, authorization) -> None:
    response = await gql(client, USERS, {"first": 10}, headers={"Authorization": authorization})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "admin@acme.test" not in response.text


async def test_admin_key_is_refused_on_another_tenant(client, admin_key, globex) -> None:
    response = await gql(client, USERS, {"first": 10}, key=admin_key, host="globex.localhost")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_revoked_api_key_is_refused(client, admin_key) -> None:
    await ApiKey.update({ApiKey.revoked_at: datetime.now(UTC).replace(microsecond=0)}).where(
        ApiKey.prefix == admin_key[:12]
    )
    response = await gql(client, USERS, {"first": 10}, key=admin_key)
    assert response.status_code == 401


@pytest.mark.parametrize("host", ["nope.localhost", "example.com", "a.b.localhost"])
async def test_unknown_host_is_404(client, admin_key, host) -> None:
    response = await gql(client, USERS, {"first": 10}, key=admin_key, host=host)
    assert response.status_code == 404
    response = await gql(client, USERS, {"first": 10}, host=host)
    assert response.status_code == 404


async def test_platform_tenant_has_no_host(client, operator_key) -> None:
    response = await gql(client, "{ tenant { slug } }", key=operator_key, host="platform.localhost")
    assert response.status_code == 404


async def test_users_lists_this_tenant_only(client, admin_key, scim_token, globex, security):
    await scim_create_user(client, scim_token, "alice@acme.test")
    foreign = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=security
    )
    await scim_create_user(client, foreign.token, "bob@globex.test", host="globex.localhost")
    data = await data_of(client, USERS, {"first": 50}, key=admin_key)
    names = sorted(edge["node"]["userName"] for edge in data["users"]["edges"])
    assert names == ["admin@acme.test", "alice@acme.test"]
    assert data["users"]["totalCount"] == 2


async def test_operator_key_works_on_tenant_host(client, admin_key, operator_key) -> None:
    data = await data_of(client, USERS, {"first": 50}, key=operator_key)
    assert [e["node"]["userName"] for e in data["users"]["edges"]] == ["admin@acme.test"]


async def test_tenant_operations_need_a_tenant_host(client, operator_key) -> None:
    response = await gql(client, USERS, {"first": 10}, key=operator_key, host="localhost")
    errors_of(response)
    assert response.json()["data"] is None


# --- users pagination ----------------------------------------------------------------------


async def test_users_pages_through_everyone_once(client, admin_key, scim_token) -> None:
    created = [f"u{i}@x.test" for i in range(1, 6)]
    for name in created:
        await scim_create_user(client, scim_token, name)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = await data_of(client, USERS, {"first": 2, "after": after}, key=admin_key)
        page = data["users"]
        pages += 1
        assert page["totalCount"] == 6
        assert len(page["edges"]) == 2
        assert page["pageInfo"]["hasPreviousPage"] is (pages > 1)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += [edge["node"]["userName"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 10
    assert pages == 3
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == {"admin@acme.test", *created}
    # After the last cursor: an empty page, not an error.
    last = page["pageInfo"]["endCursor"]
    data = await data_of(client, USERS, {"first": 2, "after": last}, key=admin_key)
    assert data["users"]["edges"] == []
    assert data["users"]["pageInfo"]["hasNextPage"] is False
    assert data["users"]["pageInfo"]["endCursor"] is None
    assert data["users"]["totalCount"] == 6


async def test_users_first_zero_counts_only(client, admin_key) -> None:
    data = await data_of(client, USERS, {"first": 0}, key=admin_key)
    assert data["users"]["edges"] == []
    assert data["users"]["totalCount"] == 1
    assert data["users"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("first", [1000, 101, -1])
async def test_users_page_size_out_of_range(client, admin_key, first) -> None:
    response = await gql(client, USERS, {"first": first}, key=admin_key)
    errors = errors_of(response)
    assert "first" in errors[0]["message"]
    assert response.json()["data"] is None


@pytest.mark.parametrize(
    "after",
    [
        "garbage",
        "!!!",
        "",
        "bzotMQ==",  # "o:-1"
        "eDox",  # "x:1"
        "bzo=",  # "o:"
        "bzphYmM=",  # "o:abc"
        "bzoxLjU=",  # "o:1.5"
        "o:1",  # not encoded
        "bzo5MjIzMzcyMDM2ODU0Nzc1ODA4",  # "o:9223372036854775808" (2**63)
        "bzo5OTk5OTk5OTk5OTk5OTk5OTk5OQ==",  # "o:99999999999999999999"
    ],
)
async def test_users_bad_cursor_is_an_error_not_a_500(client, admin_key, after) -> None:
    response = await gql(client, USERS, {"first": 2, "after": after}, key=admin_key)
    errors = errors_of(response)
    assert response.status_code == 200
    assert response.json()["data"] is None
    # Refused as a bad cursor, never passed on to the database.
    assert "cursor" in errors[0]["message"], errors


async def test_users_cursor_far_past_the_end_is_an_empty_page(client, admin_key) -> None:
    far = base64.urlsafe_b64encode(b"o:1000000").decode()
    data = await data_of(client, USERS, {"first": 2, "after": far}, key=admin_key)
    assert data["users"]["edges"] == []
    assert data["users"]["totalCount"] == 1
    assert data["users"]["pageInfo"]["hasNextPage"] is False


# --- audit trail ---------------------------------------------------------------------------


async def test_create_tenant_is_audited(client, operator_key) -> None:
    data = await data_of(
        client,
        CREATE_TENANT,
        {"slug": "newco", "name": "New Co"},
        key=operator_key,
        host="localhost",
        headers={"X-Request-ID": "req-create-newco"},
    )
    tenant_id = data["createTenant"]["id"]
    # (The operator_key fixture's platform tenant was created, and audited, by the CLI actor.)
    [row] = [r for r in await audit_rows("tenant.create") if r["actor_type"] != "cli"]
    assert str(row["tenant"]) == tenant_id
    assert str(row["target_id"]) == tenant_id
    assert row["actor_type"] == "api_key"
    assert row["actor_label"] == label_of("ops@define.wtf", operator_key)
    assert row["request_id"] == "req-create-newco"


async def test_generate_and_revoke_are_audited(client, acme, admin_key) -> None:
    first = await generate(client, admin_key)
    second = await generate(client, admin_key)
    label = label_of("admin@acme.test", admin_key)
    generated = await audit_rows("scim_token.generate")
    assert len(generated) == 2
    assert {str(r["target_id"]) for r in generated} == {
        first["scimToken"]["id"],
        second["scimToken"]["id"],
    }
    for row in generated:
        assert str(row["tenant"]) == str(acme.id)
        assert row["actor_label"] == label
    await data_of(client, REVOKE, {"id": second["scimToken"]["id"]}, key=admin_key)
    [revoked] = await audit_rows("scim_token.revoke")
    assert str(revoked["tenant"]) == str(acme.id)
    assert str(revoked["target_id"]) == second["scimToken"]["id"]
    assert revoked["actor_label"] == label


async def test_refused_mutations_are_not_audited(client, admin_key, acme) -> None:
    await data_of(client, CREATE_TENANT, {"slug": "sneaky"}, key=admin_key)
    await generate(client, admin_key, expiresInDays=0)
    await data_of(client, REVOKE, {"id": str(uuid.uuid4())}, key=admin_key)
    by_key = await AuditEvent.select(AuditEvent.action).where(AuditEvent.actor_type == "api_key")
    assert by_key == []
