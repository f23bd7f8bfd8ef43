"""Manual login: argon2 passwords, sessions that expire, end on logout, on deactivation and on
a password change (DESIGN.md §4)."""

from __future__ import annotations

from datetime import timedelta

from definewtf.clock import utcnow
from definewtf.tables import Session

USERS = "/api/scim/Users"
LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  __typename ... on LoginSession { token expiresAt } ... on LoginFailed { message } } }"""
VIEWER = "{ viewer { label userId } }"
PASSWORD = "correct horse battery staple"


async def gql(
    client,
    query: str,
    variables: dict | None = None,
    token: str | None = None,
    host: str | None = None,
):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:
        headers["Host"] = host
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def login(client, email="jo@x.test", password=PASSWORD, host=None) -> dict:
    response = await gql(client, LOGIN, {"e": email, "p": password}, host=host)
    assert response.status_code == 200, response.text
    return response.json()["data"]["login"]


async def make_person(client, scim_auth, **extra) -> dict:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jo@x.test",
        "password": PASSWORD,
        **extra,
    }
    response = await client.post(USERS, json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    return response.json()


async def test_login_gives_a_session_that_authenticates(client, scim_auth) -> None:
    person = await make_person(client, scim_auth)
    session = await login(client)
    assert session["__typename"] == "LoginSession"
    assert len(session["token"]) == 64
    viewer = (await gql(client, VIEWER, token=session["token"])).json()["data"]["viewer"]
    assert viewer["userId"] == person["id"]
    assert viewer["label"].startswith("jo@x.test (session ")
    # The token is stored as an argon2 hash only.
    rows = await Session.select()
    assert rows[0]["secret_hash"].startswith("$argon2id$")
    assert session["token"] not in str(rows)


async def test_wrong_credentials_fail_alike(client, scim_auth, globex) -> None:
    await make_person(client, scim_auth)
    wrong_password = await login(client, password="not the password")
    unknown_email = await login(client, email="nobody@x.test")
    other_tenant = await login(client, host="globex.localhost")
    assert (
        wrong_password
        == unknown_email
        == other_tenant
        == {"__typename": "LoginFailed", "message": "wrong email or password"}
    )


async def test_a_user_without_a_password_cannot_log_in(client, scim_auth) -> None:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nopw@x.test"}
    await client.post(USERS, json=body, headers=scim_auth)
    assert (await login(client, email="nopw@x.test", password=""))["__typename"] == "LoginFailed"


async def test_logout_ends_the_session(client, scim_auth) -> None:
    await make_person(client, scim_auth)
    token = (await login(client))["token"]
    done = (await gql(client, "mutation { logout { ok } }", token=token)).json()
    assert done["data"]["logout"]["ok"] is True
    assert (await gql(client, VIEWER, token=token)).status_code == 401


async def test_expired_sessions_are_refused(client, scim_auth) -> None:
    await make_person(client, scim_auth)
    token = (await login(client))["token"]
    await Session.update({Session.expires_at: utcnow() - timedelta(seconds=1)}).where(
        Session.id.is_not_null()
    )
    assert (await gql(client, VIEWER, token=token)).status_code == 401


async def test_deactivation_ends_sessions_and_blocks_login(client, scim_auth) -> None:
    person = await make_person(client, scim_auth)
    token = (await login(client))["token"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert (
        await client.patch(f"{USERS}/{person['id']}", json=patch, headers=scim_auth)
    ).status_code == 200
    assert (await gql(client, VIEWER, token=token)).status_code == 401
    assert (await login(client))["__typename"] == "LoginFailed"


async def test_set_password_ends_other_sessions(client, scim_auth) -> None:
    person = await make_person(client, scim_auth)
    first = (await login(client))["token"]
    second = (await login(client))["token"]
    changed = await gql(
        client,
        "mutation($u: ID!, $p: String!) { setPassword(userId: $u, password: $p) { __typename } }",
        {"u": person["id"], "p": "an even better passphrase"},
        token=first,
    )
    assert changed.json()["data"]["setPassword"]["__typename"] == "Done"
    assert (await gql(client, VIEWER, token=second)).status_code == 401
    assert (await login(client))["__typename"] == "LoginFailed"
    assert (await login(client, password="an even better passphrase"))[
        "__typename"
    ] == "LoginSession"
    too_short = await gql(
        client,
        "mutation($u: ID!, $p: String!) { setPassword(userId: $u, password: $p) { __typename } }",
        {"u": person["id"], "p": "short"},
        token=(await login(client, password="an even better passphrase"))["token"],
    )
    assert too_short.json()["data"]["setPassword"]["__typename"] == "InvalidError"


async def test_a_member_cannot_set_someone_elses_password(client, scim_auth) -> None:
    await make_person(client, scim_auth)
    other = (
        await client.post(
            USERS,
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "other@x.test",
            },
            headers=scim_auth,
        )
    ).json()
    token = (await login(client))["token"]
    denied = await gql(
        client,
        "mutation($u: ID!, $p: String!) { setPassword(userId: $u, password: $p) { __typename } }",
        {"u": other["id"], "p": "a long enough passphrase"},
        token=token,
    )
    assert denied.json()["data"]["setPassword"]["__typename"] == "DeniedError"
