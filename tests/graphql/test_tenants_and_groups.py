"""Tenants (operators), renaming a tenant, and groups with their members paged."""

from __future__ import annotations

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def _json(graphql, key, query, variables=None, host=None) -> dict:
    return (await graphql(key, query, variables, host=host)).json()


async def test_operators_list_tenants_others_cannot(
    graphql, operator_key, admin_key, globex
) -> None:
    listed = await _json(
        graphql,
        operator_key,
        "{ tenants { totalCount edges { node { slug } } } }",
        host="localhost",
    )
    assert [e["node"]["slug"] for e in listed["data"]["tenants"]["edges"]] == ["acme", "globex"]
    refused = await _json(graphql, admin_key, "{ tenants { totalCount } }")
    assert refused["data"] is None


async def test_update_tenant(graphql, admin_key, member) -> None:
    renamed = await _json(
        graphql,
        admin_key,
        'mutation { updateTenant(name: "Acme Inc") { __typename ... on Tenant { name slug } } }',
    )
    assert renamed["data"]["updateTenant"] == {
        "__typename": "Tenant",
        "name": "Acme Inc",
        "slug": "acme",
    }
    _, member_key = member
    denied = await _json(
        graphql, member_key, 'mutation { updateTenant(name: "Mine") { __typename } }'
    )
    assert denied["data"]["updateTenant"]["__typename"] == "DeniedError"
    invalid = await _json(graphql, admin_key, 'mutation { updateTenant(name: "") { __typename } }')
    assert invalid["data"]["updateTenant"]["__typename"] == "InvalidError"


async def test_groups_and_members_pages(client, graphql, scim_auth, admin_key) -> None:
    ids = []
    for i in range(5):
        response = await client.post(
            "/api/scim/Users",
            json={"schemas": [CORE_USER], "userName": f"g{i}@x.test"},
            headers=scim_auth,
        )
        ids.append(response.json()["id"])
    group = (
        await client.post(
            "/api/scim/Groups",
            json={
                "schemas": [CORE_GROUP],
                "displayName": "Crew",
                "members": [{"value": i} for i in ids],
            },
            headers=scim_auth,
        )
    ).json()
    listed = await _json(
        graphql, admin_key, "{ groups { totalCount edges { node { displayName } } } }"
    )
    assert listed["data"]["groups"]["totalCount"] == 1
    query = """query($id: ID!, $after: String) { group(id: $id) { __typename ... on Group {
      displayName members(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { userId display } } } } } }"""
    seen, after = [], None
    while True:
        data = (await _json(graphql, admin_key, query, {"id": group["id"], "after": after}))[
            "data"
        ]["group"]
        members = data["members"]
        assert members["totalCount"] == 5
        seen += [e["node"]["userId"] for e in members["edges"]]
        if not members["pageInfo"]["hasNextPage"]:
            break
        after = members["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(ids)
    missing = await _json(graphql, admin_key, query, {"id": "00000000-0000-0000-0000-000000000000"})
    assert missing["data"]["group"]["__typename"] == "NotFoundError"
