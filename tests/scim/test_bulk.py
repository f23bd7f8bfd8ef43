"""/Bulk (RFC 7644 §3.7): bulkId references, failOnErrors, limits, per-operation status."""

from __future__ import annotations

from definewtf.tables import Group, User

BULK = "/api/scim/Bulk"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def new_user(bulk_id: str, name: str) -> dict:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"schemas": [CORE_USER], "userName": name},
    }


async def test_a_group_references_users_created_earlier_in_the_request(client, scim_auth) -> None:
    body = {
        "schemas": [BULK_REQUEST],
        "Operations": [
            new_user("alice", "alice@x.test"),
            new_user("bob", "bob@x.test"),
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "team",
                "data": {
                    "schemas": [CORE_GROUP],
                    "displayName": "Team",
                    "members": [{"value": "bulkId:alice"}, {"value": "bulkId:bob"}],
                },
            },
            {
                "method": "PATCH",
                "path": "/Users/bulkId:bob",
                "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "Lead"}],
                },
            },
        ],
    }
    response = await client.post(BULK, json=body, headers=scim_auth)
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201", "200"]
    assert [r.get("bulkId") for r in results] == ["alice", "bob", "team", None]
    assert all(r["version"].startswith('W/"') for r in results)
    group = (await client.get(results[2]["location"], headers=scim_auth)).json()
    alice, bob = (r["location"].rsplit("/", 1)[1] for r in results[:2])
    assert {m["value"] for m in group["members"]} == {alice, bob}
    assert (await client.get(f"/api/scim/Users/{bob}", headers=scim_auth)).json()["title"] == "Lead"


async def test_each_operation_stands_alone_and_fail_on_errors_stops(client, scim_auth) -> None:
    body = {
        "schemas": [BULK_REQUEST],
        "failOnErrors": 2,
        "Operations": [
            new_user("a", "a@x.test"),
            new_user("dup", "A@x.test"),  # 409: taken
            {
                "method": "PUT",
                "path": "/Users/bulkId:nope",
                "data": {"schemas": [CORE_USER], "userName": "z"},
            },
            new_user("c", "c@x.test"),  # not run: two errors already
        ],
    }
    response = await client.post(BULK, json=body, headers=scim_auth)
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "409", "409"]
    assert results[1]["response"]["scimType"] == "uniqueness"
    assert results[2]["response"]["scimType"] == "invalidValue"
    assert sorted(r["user_name"] for r in await User.select(User.user_name)) == ["a@x.test"]


async def test_a_failed_operation_writes_nothing(client, scim_auth) -> None:
    body = {
        "schemas": [BULK_REQUEST],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": {
                    "schemas": [CORE_GROUP],
                    "displayName": "G",
                    "members": [{"value": "00000000-0000-0000-0000-000000000000"}],
                },
            },
            {"method": "DELETE", "path": "/Users/00000000-0000-0000-0000-000000000001"},
            {"method": "GET", "path": "/Users"},
        ],
    }
    response = await client.post(BULK, json=body, headers=scim_auth)
    assert response.status_code == 400  # GET is not a bulk method
    body["Operations"].pop()
    results = (await client.post(BULK, json=body, headers=scim_auth)).json()["Operations"]
    assert [r["status"] for r in results] == ["400", "404"]
    assert await Group.count() == 0


async def test_limits_are_advertised_and_enforced(client, scim_auth) -> None:
    config = (await client.get("/api/scim/ServiceProviderConfig", headers=scim_auth)).json()["bulk"]
    assert config["supported"] is True
    too_many = {
        "schemas": [BULK_REQUEST],
        "Operations": [
            new_user(f"u{i}", f"u{i}@x.test") for i in range(config["maxOperations"] + 1)
        ],
    }
    response = await client.post(BULK, json=too_many, headers=scim_auth)
    assert response.status_code == 413
    assert response.json()["status"] == "413"
    assert await User.count() == 0
    too_big = (
        b'{"schemas": ["'
        + BULK_REQUEST.encode()
        + b'"], "Operations": [], "pad": "'
        + b"x" * config["maxPayloadSize"]
        + b'"}'
    )
    response = await client.post(
        BULK, content=too_big, headers={**scim_auth, "Content-Type": "application/scim+json"}
    )
    assert response.status_code == 413


async def test_bulk_needs_the_token_and_stays_in_the_tenant(client, scim_auth, globex) -> None:
    body = {"schemas": [BULK_REQUEST], "Operations": [new_user("a", "a@x.test")]}
    assert (await client.post(BULK, json=body)).status_code == 401
    assert (
        await client.post(BULK, json=body, headers={**scim_auth, "Host": "globex.localhost"})
    ).status_code == 401
