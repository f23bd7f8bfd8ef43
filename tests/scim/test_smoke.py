from __future__ import annotations


async def test_create_and_find_user(client, scim_auth) -> None:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen"}
    created = await client.post("/api/scim/Users", json=body, headers=scim_auth)
    assert created.status_code == 201, created.text
    found = await client.get(
        "/api/scim/Users", params={"filter": 'userName eq "BJensen"'}, headers=scim_auth
    )
    assert found.json()["totalResults"] == 1
