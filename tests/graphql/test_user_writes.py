"""createUser / updateUser: users written by hand land in the representation SCIM serves and
filters, keep what an IdP sent, and follow the same uniqueness, audit and permission rules."""

from __future__ import annotations

from typing import Any

USER_FIELDS = "id userName active givenName familyName displayName email"
CREATE = (
    "mutation($input: CreateUserInput!) { createUser(input: $input) { __typename "
    f"... on User {{ {USER_FIELDS} }} ... on InvalidError {{ message field }} "
    "... on ConflictError { message field } ... on DeniedError { message } } }"
)
UPDATE = (
    "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { "
    f"__typename ... on User {{ {USER_FIELDS} }} ... on InvalidError {{ message field }} "
    "... on ConflictError { message field } ... on DeniedError { message } "
    "... on NotFoundError { message } } }"
)


async def _create(graphql, key: str, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await graphql(key, CREATE, {"input": fields})
    assert response.status_code == 200, response.text
    return response.json()["data"]["createUser"]


async def _update(graphql, key: str, user_id: str, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await graphql(key, UPDATE, {"id": user_id, "input": fields})
    assert response.status_code == 200, response.text
    return response.json()["data"]["updateUser"]


async def test_created_user_is_served_and_filtered_by_scim(
    graphql, admin_key, client, scim_auth
) -> None:
    created = await _create(
        graphql,
        admin_key,
        userName="Ada@Acme.test",
        givenName="Ada",
        familyName="Lovelace",
        email="ada@acme.test",
    )
    assert created["__typename"] == "User"
    assert (created["active"], created["email"], created["givenName"]) == (
        True,
        "ada@acme.test",
        "Ada",
    )

    scim = (await client.get(f"/api/scim/Users/{created['id']}", headers=scim_auth)).json()
    assert scim["userName"] == "Ada@Acme.test"
    assert scim["name"] == {
        "givenName": "Ada",
        "familyName": "Lovelace",
        "formatted": "Ada Lovelace",
    }
    assert scim["emails"] == [{"value": "ada@acme.test", "type": "work", "primary": True}]
    assert scim["active"] is True
    # Searchable like a provisioned user: the value rows were written.
    for query in ('emails.value eq "ADA@acme.test"', 'name.familyName sw "Love"'):
        found = (
            await client.get("/api/scim/Users", params={"filter": query}, headers=scim_auth)
        ).json()
        assert [r["id"] for r in found["Resources"]] == [created["id"]], query


async def test_create_rejects_taken_and_bad_input_and_writes_nothing(graphql, admin_key) -> None:
    count = "{ users { totalCount } }"
    before = (await graphql(admin_key, count)).json()["data"]["users"]["totalCount"]
    await _create(graphql, admin_key, userName="taken@acme.test")
    taken = await _create(graphql, admin_key, userName="TAKEN@acme.test")
    assert taken["__typename"] == "ConflictError"
    assert taken["field"] == "userName"
    blank = await _create(graphql, admin_key, userName="  ")
    assert (blank["__typename"], blank["field"]) == ("InvalidError", "userName")
    bad_email = await _create(graphql, admin_key, userName="x@acme.test", email="not an email")
    assert (bad_email["__typename"], bad_email["field"]) == ("InvalidError", "email")
    after = (await graphql(admin_key, count)).json()["data"]["users"]["totalCount"]
    assert after == before + 1


async def test_update_keeps_what_the_idp_sent(graphql, admin_key, client, scim_auth) -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "userName": "grace@acme.test",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [
            {"value": "grace@acme.test", "type": "work", "primary": True},
            {"value": "grace@home.test", "type": "home"},
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Navy"},
    }
    created = (await client.post("/api/scim/Users", json=body, headers=scim_auth)).json()

    updated = await _update(
        graphql, admin_key, created["id"], familyName="Murray Hopper", email="gmh@acme.test"
    )
    assert updated["__typename"] == "User"
    assert (updated["familyName"], updated["email"]) == ("Murray Hopper", "gmh@acme.test")

    scim = (await client.get(f"/api/scim/Users/{created['id']}", headers=scim_auth)).json()
    assert scim["name"]["familyName"] == "Murray Hopper"
    assert scim["name"]["givenName"] == "Grace"
    assert {e["value"] for e in scim["emails"]} == {"gmh@acme.test", "grace@home.test"}
    assert scim["phoneNumbers"] == body["phoneNumbers"]
    assert scim["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {
        "department": "Navy"
    }
    assert scim["meta"]["version"] != created["meta"]["version"]
    old = (
        await client.get(
            "/api/scim/Users",
            params={"filter": 'emails.value eq "grace@acme.test"'},
            headers=scim_auth,
        )
    ).json()
    assert old["totalResults"] == 0

    cleared = await _update(graphql, admin_key, created["id"], displayName="", email="")
    assert cleared["email"] == "grace@home.test"  # the remaining address is the primary now

    events = (
        await graphql(
            admin_key,
            '{ auditEvents(filter: {action: "user.update"}) '
            "{ edges { node { actor before after } } } }",
        )
    ).json()["data"]["auditEvents"]["edges"]
    first_update = events[-1]["node"]
    assert first_update["before"]["name"]["familyName"] == "Hopper"
    assert first_update["after"]["name"]["familyName"] == "Murray Hopper"
    assert first_update["actor"].startswith("admin@acme.test (key ")


async def test_update_unknown_or_taken_changes_nothing(graphql, admin_key) -> None:
    one = await _create(graphql, admin_key, userName="one@acme.test")
    await _create(graphql, admin_key, userName="two@acme.test")
    missing = await _update(
        graphql, admin_key, "7f0c6a0e-0000-4000-8000-000000000000", givenName="X"
    )
    assert missing["__typename"] == "NotFoundError"
    clash = await _update(graphql, admin_key, one["id"], userName="Two@acme.test", givenName="Z")
    assert clash["__typename"] == "ConflictError"
    again = (
        await graphql(
            admin_key,
            "query($id: ID!) { user(id: $id) { ... on User { userName givenName } } }",
            {"id": one["id"]},
        )
    ).json()["data"]["user"]
    assert again == {"userName": "one@acme.test", "givenName": None}


async def test_members_edit_only_their_own_name(graphql, admin_key, member) -> None:
    member_id, member_key = member
    other = await _create(graphql, admin_key, userName="other@acme.test")

    own = await _update(graphql, member_key, member_id, givenName="Mem", displayName="Mem B")
    assert (own["__typename"], own["givenName"], own["displayName"]) == ("User", "Mem", "Mem B")
    readable = (
        await graphql(
            member_key, "query($id: ID!) { user(id: $id) { __typename } }", {"id": member_id}
        )
    ).json()["data"]["user"]
    assert readable["__typename"] == "User"

    for fields in ({"active": False}, {"email": "m2@acme.test"}, {"userName": "boss@acme.test"}):
        denied = await _update(graphql, member_key, member_id, **fields)
        assert denied["__typename"] == "DeniedError", fields
    assert (await _update(graphql, member_key, other["id"], givenName="X"))[
        "__typename"
    ] == "DeniedError"
    assert (await _create(graphql, member_key, userName="new@acme.test"))[
        "__typename"
    ] == "DeniedError"
    state = (
        await graphql(
            admin_key,
            "query($id: ID!) { user(id: $id) { ... on User { userName active email } } }",
            {"id": member_id},
        )
    ).json()["data"]["user"]
    assert state == {"userName": "m@x.test", "active": True, "email": None}
