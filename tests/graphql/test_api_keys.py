"""API keys through GraphQL: created with the plaintext once, listed as metadata, revoked
with effect on the very next request."""

from __future__ import annotations

from definewtf.tables import ApiKey


async def gql(client, key, query, variables=None):
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )


CREATE = """mutation($name: String!, $user: ID) { createApiKey(name: $name, userId: $user) {
  __typename ... on CreatedApiKey { key apiKey { id prefix name userId revokedAt } } } }"""


async def test_create_list_and_revoke(client, admin_key, member) -> None:
    user_id, member_key = member
    created = (await gql(client, member_key, CREATE, {"name": "laptop"})).json()["data"][
        "createApiKey"
    ]
    assert created["__typename"] == "CreatedApiKey"
    key = created["key"]
    assert len(key) == 64
    assert created["apiKey"]["prefix"] == key[:12]
    assert created["apiKey"]["userId"] == user_id
    assert key not in str(await ApiKey.select())
    assert (await gql(client, key, "{ viewer { userId } }")).json()["data"]["viewer"][
        "userId"
    ] == user_id

    own = (await gql(client, member_key, "{ apiKeys { name } }")).json()["data"]["apiKeys"]
    assert sorted(k["name"] for k in own) == ["laptop", "member key"]
    everyone = (await gql(client, admin_key, "{ apiKeys { name } }")).json()["data"]["apiKeys"]
    assert len(everyone) == 3  # the admin's, and the member's two

    revoked = (
        await gql(
            client,
            member_key,
            "mutation($id: ID!) { revokeApiKey(id: $id) "
            "{ __typename ... on ApiKey { revokedAt } } }",
            {"id": created["apiKey"]["id"]},
        )
    ).json()["data"]["revokeApiKey"]
    assert revoked["revokedAt"]
    assert (await gql(client, key, "{ viewer { userId } }")).status_code == 401


async def test_a_member_cannot_mint_or_revoke_keys_of_others(client, admin_key, member) -> None:
    _, member_key = member
    admin_keys = (await gql(client, admin_key, "{ apiKeys { id userId name } }")).json()["data"][
        "apiKeys"
    ]
    theirs = next(k for k in admin_keys if k["name"] == "admin key")
    minted = (
        await gql(client, member_key, CREATE, {"name": "evil", "user": theirs["userId"]})
    ).json()
    assert minted["data"]["createApiKey"]["__typename"] == "DeniedError"
    revoke = (
        await gql(
            client,
            member_key,
            "mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }",
            {"id": theirs["id"]},
        )
    ).json()
    assert revoke["data"]["revokeApiKey"]["__typename"] == "DeniedError"
    assert (await gql(client, admin_key, "{ viewer { label } }")).status_code == 200
