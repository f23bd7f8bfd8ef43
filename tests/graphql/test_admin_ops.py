"""Roles, hand-made grants and deactivation through GraphQL (who may do each:
test_authorization_matrix.py)."""

from __future__ import annotations

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_roles_crud_and_hand_grants(graphql, admin_key, member) -> None:
    user_id, member_key = member
    created = (
        await graphql(
            admin_key,
            'mutation { createRole(name: "Auditors", permissions: ["tenant:admin"], '
            'description: "d") '
            "{ __typename ... on Role { id name permissions builtin } } }",
        )
    ).json()["data"]["createRole"]
    assert created["__typename"] == "Role"
    assert created["permissions"] == ["tenant:admin"]
    assert created["builtin"] is False
    duplicate = (
        await graphql(
            admin_key,
            'mutation { createRole(name: "auditors", permissions: []) { __typename } }',
        )
    ).json()
    assert duplicate["data"]["createRole"]["__typename"] == "ConflictError"
    bogus = (
        await graphql(
            admin_key,
            'mutation { createRole(name: "X", permissions: ["platform:operator"]) { __typename } }',
        )
    ).json()
    assert bogus["data"]["createRole"]["__typename"] == "InvalidError"

    listing = (await graphql(member_key, "{ users(first: 1) { totalCount } }")).json()
    assert listing["data"] is None
    await graphql(
        admin_key,
        'mutation($u: ID!) { assignRole(userId: $u, role: "Auditors") { __typename } }',
        {"u": user_id},
    )
    assert (await graphql(member_key, "{ users(first: 1) { totalCount } }")).json()["data"]
    roles = (await graphql(admin_key, "{ roles { name builtin } }")).json()["data"]["roles"]
    assert {"name": "Auditors", "builtin": False} in roles
    assert {"name": "admin", "builtin": True} in roles

    renamed = (
        await graphql(
            admin_key,
            'mutation($id: ID!) { updateRole(id: $id, name: "Reviewers") '
            "{ __typename ... on Role { name } } }",
            {"id": created["id"]},
        )
    ).json()["data"]["updateRole"]
    assert renamed == {"__typename": "Role", "name": "Reviewers"}
    await graphql(
        admin_key,
        'mutation($u: ID!) { unassignRole(userId: $u, role: "Reviewers") { __typename } }',
        {"u": user_id},
    )
    assert (await graphql(member_key, "{ users(first: 1) { totalCount } }")).json()["data"] is None
    deleted = (
        await graphql(
            admin_key,
            "mutation($id: ID!) { deleteRole(id: $id) { __typename } }",
            {"id": created["id"]},
        )
    ).json()["data"]["deleteRole"]
    assert deleted["__typename"] == "Done"
    admin_role = next(
        r
        for r in (await graphql(admin_key, "{ roles { id name } }")).json()["data"]["roles"]
        if r["name"] == "admin"
    )
    builtin = (
        await graphql(
            admin_key,
            "mutation($id: ID!) { deleteRole(id: $id) { __typename } }",
            {"id": admin_role["id"]},
        )
    ).json()["data"]["deleteRole"]
    assert builtin["__typename"] == "InvalidError"


async def test_deactivation_by_hand(client, graphql, scim_auth, admin_key, member) -> None:
    user_id, member_key = member
    assert (await graphql(member_key, "{ viewer { label } }")).status_code == 200
    done = (
        await graphql(
            admin_key,
            "mutation($u: ID!) { deactivateUser(id: $u) { __typename ... on User { active } } }",
            {"u": user_id},
        )
    ).json()["data"]["deactivateUser"]
    assert done == {"__typename": "User", "active": False}
    assert (await graphql(member_key, "{ viewer { label } }")).status_code == 401
    scim = (await client.get(f"/api/scim/Users/{user_id}", headers=scim_auth)).json()
    assert scim["active"] is False
    # The searchable values are kept by a change that does not touch the representation.
    found = await client.get(
        "/api/scim/Users", params={"filter": 'displayName eq "Member One"'}, headers=scim_auth
    )
    assert found.json()["totalResults"] == 1
    await graphql(
        admin_key,
        "mutation($u: ID!) { reactivateUser(id: $u) { __typename } }",
        {"u": user_id},
    )
    assert (await graphql(member_key, "{ viewer { label } }")).status_code == 200
