"""Group → role mapping (Okta "group-to-role"): SCIM membership grants and revokes roles at the
moment of the change; grants made by hand are untouched (DESIGN.md §4)."""

from __future__ import annotations

from definewtf.tables import AuditEvent

USERS = "/api/scim/Users"
GROUPS = "/api/scim/Groups"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CAN_LIST = {"query": "{ users(first: 1) { totalCount } }"}


async def gql(client, key: str, query: str, variables: dict | None = None) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def can_list_users(client, key: str) -> bool:
    body = await gql(client, key, CAN_LIST["query"])
    return body.get("data") is not None and "errors" not in body


async def members(client, scim_auth, group_id, op: str, user_id: str) -> None:
    if op == "add":
        operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
    else:
        operation = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    response = await client.patch(
        f"{GROUPS}/{group_id}",
        json={"schemas": [PATCH_OP], "Operations": [operation]},
        headers=scim_auth,
    )
    assert response.status_code in (200, 204), response.text


async def test_membership_grants_and_revokes_the_mapped_role(
    client, scim_auth, admin_key, member
) -> None:
    person_id, key = member
    assert not await can_list_users(client, key)

    group = (
        await client.post(
            GROUPS,
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "IT Admins",
            },
            headers=scim_auth,
        )
    ).json()
    mapped = await gql(
        client,
        admin_key,
        'mutation($g: ID!) { mapGroupToRole(groupId: $g, role: "admin") '
        "{ __typename ... on GroupRoleMapping { role mapped } } }",
        {"g": group["id"]},
    )
    assert mapped["data"]["mapGroupToRole"] == {
        "__typename": "GroupRoleMapping",
        "role": "admin",
        "mapped": True,
    }

    await members(client, scim_auth, group["id"], "add", person_id)
    assert await can_list_users(client, key)
    viewer = await gql(client, key, "{ viewer { roles { role source } } }")
    assert viewer["data"]["viewer"]["roles"] == [{"role": "admin", "source": "IT Admins"}]

    await members(client, scim_auth, group["id"], "remove", person_id)
    assert not await can_list_users(client, key)

    await members(client, scim_auth, group["id"], "add", person_id)
    assert await can_list_users(client, key)
    assert (await client.delete(f"{GROUPS}/{group['id']}", headers=scim_auth)).status_code == 204
    assert not await can_list_users(client, key)

    actions = [
        e["action"]
        for e in await AuditEvent.select(AuditEvent.action)
        .where(AuditEvent.target_id == group["id"])
        .order_by(AuditEvent.occurred_at)
        .order_by(AuditEvent.id)
    ]
    assert "group_role.map" in actions
    granted = (
        await AuditEvent.select(AuditEvent.after)
        .where((AuditEvent.target_id == group["id"]) & (AuditEvent.action == "group.update"))
        .output(load_json=True)
    )
    assert any((e["after"] or {}).get("rolesGranted") == ["admin"] for e in granted)
    assert any((e["after"] or {}).get("rolesRevoked") == ["admin"] for e in granted)


async def test_direct_grants_are_untouched_by_provisioning(client, scim_auth, admin_key) -> None:
    """The admin (granted by hand) joins and leaves a group mapped to admin: still admin."""
    found = (
        await client.get(
            USERS, params={"filter": 'userName eq "admin@acme.test"'}, headers=scim_auth
        )
    ).json()
    [admin] = found["Resources"]
    group = (
        await client.post(
            GROUPS,
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"},
            headers=scim_auth,
        )
    ).json()
    await gql(
        client,
        admin_key,
        'mutation($g: ID!) { mapGroupToRole(groupId: $g, role: "admin") { __typename } }',
        {"g": group["id"]},
    )
    await members(client, scim_auth, group["id"], "add", admin["id"])
    roles = (await gql(client, admin_key, "{ viewer { roles { role source } } }"))["data"][
        "viewer"
    ]["roles"]
    assert {"role": "admin", "source": "direct"} in roles
    assert {"role": "admin", "source": "Ops"} in roles
    await members(client, scim_auth, group["id"], "remove", admin["id"])
    assert await can_list_users(client, admin_key)
    unmapped = await gql(
        client,
        admin_key,
        'mutation($g: ID!) { unmapGroupToRole(groupId: $g, role: "admin") '
        "{ __typename ... on GroupRoleMapping { mapped } } }",
        {"g": group["id"]},
    )
    assert unmapped["data"]["unmapGroupToRole"]["mapped"] is False


async def test_mapping_errors_are_typed(client, scim_auth, admin_key) -> None:
    unknown_group = await gql(
        client,
        admin_key,
        'mutation { mapGroupToRole(groupId: "00000000-0000-0000-0000-000000000000", role: "admin") '
        "{ __typename } }",
    )
    assert unknown_group["data"]["mapGroupToRole"]["__typename"] == "NotFoundError"
    group = (
        await client.post(
            GROUPS,
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G"},
            headers=scim_auth,
        )
    ).json()
    unknown_role = await gql(
        client,
        admin_key,
        'mutation($g: ID!) { mapGroupToRole(groupId: $g, role: "nope") { __typename } }',
        {"g": group["id"]},
    )
    assert unknown_role["data"]["mapGroupToRole"]["__typename"] == "NotFoundError"
