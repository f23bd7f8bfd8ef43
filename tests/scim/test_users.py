"""`/Users`: create, read, the userName lookup IdPs do, and SCIM errors (RFC 7644 §3)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from definewtf.tables import User

USERS = "/api/scim/Users"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user_body(user_name: str = "bjensen@example.com", **extra) -> dict:
    return {"schemas": [CORE], "userName": user_name, **extra}


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type
    return body


async def test_create_returns_the_resource_with_location_and_etag(client, scim_auth) -> None:
    body = user_body(
        name={"givenName": "Barbara", "familyName": "Jensen"},
        emails=[{"value": "bjensen@example.com", "type": "work", "primary": True}],
        title="Tour Guide",
        externalId="00u1",
        password="correct horse battery staple",
        **{"schemas": [CORE, ENTERPRISE], ENTERPRISE: {"employeeNumber": "701984"}},
    )
    response = await client.post(USERS, json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    created = response.json()
    uuid.UUID(created["id"])
    assert created["userName"] == "bjensen@example.com"
    assert created["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert created["title"] == "Tour Guide"
    assert created["externalId"] == "00u1"
    assert created["active"] is True
    assert created[ENTERPRISE]["employeeNumber"] == "701984"
    assert "password" not in created
    meta = created["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"http://acme.localhost/api/scim/Users/{created['id']}"
    assert response.headers["location"] == meta["location"]
    assert response.headers["etag"] == meta["version"]
    assert meta["created"]
    assert meta["lastModified"] == meta["created"]


async def test_the_password_is_stored_as_an_argon2_hash_only(client, scim_auth) -> None:
    secret = "correct horse battery staple"
    response = await client.post(USERS, json=user_body(password=secret), headers=scim_auth)
    row = await User.select().where(User.id == uuid.UUID(response.json()["id"])).first()
    assert row["password_hash"].startswith("$argon2id$")
    assert secret not in str(row)


async def test_get_by_id(client, scim_auth) -> None:
    created = (await client.post(USERS, json=user_body(), headers=scim_auth)).json()
    response = await client.get(f"{USERS}/{created['id']}", headers=scim_auth)
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == created["meta"]["version"]


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid", "1%20OR%201=1", "%00"])
async def test_get_an_unknown_id_is_a_scim_404(client, scim_auth, user_id) -> None:
    assert_scim_error(await client.get(f"{USERS}/{user_id}", headers=scim_auth), 404)


async def test_another_tenants_user_is_not_found(client, scim_auth, globex, security) -> None:
    from definewtf.principals import CLI_ACTOR
    from definewtf.services import tokens

    globex_token = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=security
    )
    globex_auth = {"Authorization": f"Bearer {globex_token.token}", "Host": "globex.localhost"}
    theirs = (await client.post(USERS, json=user_body(), headers=globex_auth)).json()
    assert_scim_error(await client.get(f"{USERS}/{theirs['id']}", headers=scim_auth), 404)
    listed = (await client.get(USERS, headers=scim_auth)).json()
    assert listed["totalResults"] == 0


async def test_filter_user_name_eq_is_case_insensitive(client, scim_auth) -> None:
    created = (
        await client.post(USERS, json=user_body("BJensen@Example.com"), headers=scim_auth)
    ).json()
    await client.post(USERS, json=user_body("other@example.com"), headers=scim_auth)
    for spelling in ("bjensen@example.com", "BJENSEN@EXAMPLE.COM", "BJensen@Example.com"):
        response = await client.get(
            USERS,
            params={"filter": f'userName eq "{spelling}"', "startIndex": "1", "count": "100"},
            headers=scim_auth,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        assert body["totalResults"] == 1
        assert [r["id"] for r in body["Resources"]] == [created["id"]]


async def test_filter_unicode_user_names_fold_alike(client, scim_auth) -> None:
    await client.post(USERS, json=user_body("straße"), headers=scim_auth)
    response = await client.get(
        USERS, params={"filter": 'userName eq "STRASSE"'}, headers=scim_auth
    )
    assert response.json()["totalResults"] == 1


async def test_a_filter_matching_nobody_is_an_empty_list_not_404(client, scim_auth) -> None:
    """Okta's and Entra's first call: the user does not exist yet."""
    response = await client.get(
        USERS,
        params={"filter": 'userName eq "nobody@example.com"', "startIndex": "1", "count": "100"},
        headers=scim_auth,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["totalResults"] == 0
    assert body.get("Resources", []) == []
    assert body["startIndex"] == 1


async def test_filter_external_id_is_case_exact(client, scim_auth) -> None:
    await client.post(USERS, json=user_body(externalId="AbC-1"), headers=scim_auth)
    exact = await client.get(USERS, params={"filter": 'externalId eq "AbC-1"'}, headers=scim_auth)
    other_case = await client.get(
        USERS, params={"filter": 'externalId eq "abc-1"'}, headers=scim_auth
    )
    assert exact.json()["totalResults"] == 1
    assert other_case.json()["totalResults"] == 0


async def test_filter_combinations_and_wildcards_are_literal(client, scim_auth) -> None:
    for name in ("ann_1@x.test", "annA1@x.test", "bob%@x.test", "bob@x.test"):
        await client.post(USERS, json=user_body(name), headers=scim_auth)

    async def names(expression: str) -> list[str]:
        response = await client.get(USERS, params={"filter": expression}, headers=scim_auth)
        assert response.status_code == 200, response.text
        return sorted(r["userName"] for r in response.json()["Resources"])

    assert await names('userName sw "ann_"') == ["ann_1@x.test"]
    assert await names('userName co "%"') == ["bob%@x.test"]
    assert await names('userName sw "bob" and not (userName co "%")') == ["bob@x.test"]
    assert await names('userName eq "bob@x.test" or userName ew "a1@x.test"') == [
        "annA1@x.test",
        "bob@x.test",
    ]
    assert await names('userName ne "bob@x.test" and active eq true') == sorted(
        ["ann_1@x.test", "annA1@x.test", "bob%@x.test"]
    )


@pytest.mark.parametrize(
    "expression",
    [
        "userName eq",
        'userName eq "unterminated',
        '(userName eq "x"',
        'userName xx "x"',
        'fooBar eq "x"',  # unknown: refused, never silently ignored
        'password eq "x"',  # write-only: never searchable
        'name.nope eq "x"',
        'active eq "yes"',
        "x" * 5000,
        "(" * 40 + 'userName eq "x"' + ")" * 40,
    ],
)
async def test_a_bad_filter_is_400_invalid_filter(client, scim_auth, expression) -> None:
    response = await client.get(USERS, params={"filter": expression}, headers=scim_auth)
    assert_scim_error(response, 400, "invalidFilter")


async def test_a_duplicate_user_name_is_409_uniqueness(client, scim_auth) -> None:
    assert (
        await client.post(USERS, json=user_body("dup@x.test"), headers=scim_auth)
    ).status_code == 201
    response = await client.post(USERS, json=user_body("DUP@x.test"), headers=scim_auth)
    assert_scim_error(response, 409, "uniqueness")
    assert await User.count() == 1


async def test_concurrent_creates_of_one_user_name_make_one_user(client, scim_auth) -> None:
    responses = await asyncio.gather(
        *(client.post(USERS, json=user_body("race@x.test"), headers=scim_auth) for _ in range(20))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    assert await User.count() == 1


async def test_concurrent_creates_of_different_users_all_succeed(client, scim_auth) -> None:
    """SQLite under concurrent writers never answers "database is locked"."""
    responses = await asyncio.gather(
        *(client.post(USERS, json=user_body(f"u{i}@x.test"), headers=scim_auth) for i in range(30))
    )
    assert [r.status_code for r in responses] == [201] * 30
    assert await User.count() == 30


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        (b"{not json", "invalidSyntax"),
        (b"[1, 2]", "invalidSyntax"),
        (b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}', None),
        (
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5}',
            "invalidValue",
        ),
        (b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "   "}', None),
    ],
)
async def test_bad_bodies_are_400_and_write_nothing(client, scim_auth, body, scim_type) -> None:
    response = await client.post(
        USERS, content=body, headers={**scim_auth, "Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 400, scim_type)
    assert await User.count() == 0


async def test_application_json_is_accepted(client, scim_auth) -> None:
    response = await client.post(
        USERS, json=user_body(), headers={**scim_auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 201


async def test_unknown_paths_and_methods_under_scim_are_scim_errors(client, scim_auth) -> None:
    assert_scim_error(await client.get("/api/scim/Nope", headers=scim_auth), 404)
    assert_scim_error(await client.delete(USERS, headers=scim_auth), 405)


async def test_paging_parameters(client, scim_auth) -> None:
    for i in range(5):
        await client.post(USERS, json=user_body(f"p{i}@x.test"), headers=scim_auth)
    page = (
        await client.get(USERS, params={"startIndex": "2", "count": "2"}, headers=scim_auth)
    ).json()
    assert page["totalResults"] == 5
    assert page["startIndex"] == 2
    assert page["itemsPerPage"] == 2
    only_total = (await client.get(USERS, params={"count": "0"}, headers=scim_auth)).json()
    assert only_total["totalResults"] == 5
    assert only_total.get("Resources", []) == []
    bad = await client.get(USERS, params={"count": "many"}, headers=scim_auth)
    assert_scim_error(bad, 400)


@pytest.mark.parametrize(
    "address", ["jo@corp.local", "svc@localhost", "a@contoso.test", "b@x.internal"]
)
async def test_emails_in_internal_domains_are_accepted(client, scim_auth, address) -> None:
    body = user_body(emails=[{"value": address, "type": "work", "primary": True}])
    response = await client.post(USERS, json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    assert response.json()["emails"][0]["value"] == address


async def test_an_email_without_an_at_sign_is_400(client, scim_auth) -> None:
    body = user_body(emails=[{"value": "not-an-email"}])
    assert_scim_error(await client.post(USERS, json=body, headers=scim_auth), 400, "invalidValue")
