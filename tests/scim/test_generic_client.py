"""A plain RFC 7644 client (no IdP dialect), replayed request by request.

Sources: RFC 7644 "SCIM: Protocol" (rfc-editor.org/rfc/rfc7644) — §4 discovery
(ServiceProviderConfig, ResourceTypes, Schemas), §3.3 creation (201, `Location`, `ETag`), §3.4.1
retrieval, §3.4.2 filtering, sorting and paging, §3.4.3 POST `/.search`, §3.5.1 PUT, §3.5.2 PATCH
(the add / replace / remove examples of §3.5.2.1-3, value-filter paths, no-path add), §3.6 DELETE,
§3.7 Bulk with `bulkId` references, §3.14 versioning (`If-Match` → 412, `If-None-Match` → 304),
§3.8 media types (`application/scim+json`, and `application/json` that clients may send); and
RFC 7643 "SCIM: Core Schema" (rfc-editor.org/rfc/rfc7643) §8.2 for the "bjensen" User shape.
Every feature used is one the server advertises in its ServiceProviderConfig.
"""

from __future__ import annotations

import pytest
from idp import ENTERPRISE, GROUP, PATCHED, USER, ScimConversation, patch_op, query

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


@pytest.fixture
def rfc(client, scim_token) -> ScimConversation:
    return ScimConversation(client, scim_token, headers={"Accept": "application/scim+json"})


def bjensen() -> dict:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
        },
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def visible(user: dict) -> dict:
    return {k: v for k, v in user.items() if k not in {"id", "meta", "schemas"}}


async def test_discovery(rfc) -> None:
    config = (await rfc.get("/ServiceProviderConfig")).json()
    for feature in ("patch", "filter", "sort", "etag", "bulk"):
        assert config[feature]["supported"] is True, feature
    assert [s["type"] for s in config["authenticationSchemes"]] == ["oauthbearertoken"]
    types = {t["name"]: t for t in await rfc.find("/ResourceTypes")}
    assert (types["User"]["endpoint"], types["User"]["schema"]) == ("/Users", USER)
    assert (types["Group"]["endpoint"], types["Group"]["schema"]) == ("/Groups", GROUP)
    assert [e["schema"] for e in types["User"]["schemaExtensions"]] == [ENTERPRISE]
    assert {s["id"] for s in await rfc.find("/Schemas")} == {USER, GROUP, ENTERPRISE}


async def test_user_crud_versioning_patch_listing_and_search(rfc) -> None:
    body = bjensen()
    created = await rfc.post("/Users", body)
    user = created.json()
    user_id = user["id"]
    assert created.headers["location"] == user["meta"]["location"]
    assert created.headers["etag"] == user["meta"]["version"]
    assert visible(await rfc.user(user_id)) == visible(body)

    etag = created.headers["etag"]
    await rfc.get(f"/Users/{user_id}", expect=304, headers={"If-None-Match": etag})

    # PUT with the current version, then a PUT with the stale one is refused.
    replacement = {**body, "title": "Senior Tour Guide"}
    put = await rfc.put(f"/Users/{user_id}", replacement, headers={"If-Match": etag})
    assert put.headers["etag"] != etag
    stale = {**body, "title": "Lost update"}
    await rfc.put(f"/Users/{user_id}", stale, expect=412, headers={"If-Match": etag})
    assert (await rfc.user(user_id))["title"] == "Senior Tour Guide"

    # PATCH: add to a multi-valued attribute, replace through a value filter, no-path add,
    # replace a sub-attribute, remove through a value filter, remove an attribute.
    await rfc.patch(
        f"/Users/{user_id}",
        patch_op(
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "babs@jensen.org", "type": "home"}],
            },
            {
                "op": "replace",
                "path": 'emails[type eq "work"].value',
                "value": "barbara@example.com",
            },
            {"op": "add", "value": {"nickName": "Babs"}},
            {"op": "replace", "path": "name.givenName", "value": "Barb"},
        ),
        headers={"If-Match": put.headers["etag"]},
    )
    user = await rfc.user(user_id)
    assert user["emails"] == [
        {"value": "barbara@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ]
    assert (user["nickName"], user["name"]["givenName"]) == ("Babs", "Barb")
    await rfc.patch(
        f"/Users/{user_id}",
        patch_op(
            {"op": "remove", "path": 'emails[type eq "home" and value ew "jensen.org"]'},
            {"op": "remove", "path": "title"},
        ),
    )
    user = await rfc.user(user_id)
    assert user["emails"] == [{"value": "barbara@example.com", "type": "work", "primary": True}]
    assert "title" not in user

    # Listing: filter, sort and pages; the same query as a POST /.search.
    others = []
    for name in ("adam@example.com", "carol@example.com", "bob@example.com"):
        others.append(
            (await rfc.post("/Users", {"schemas": [USER], "userName": name})).json()["id"]
        )
    page = query("/Users", sortBy="userName", sortOrder="ascending", startIndex=2, count=2)
    assert [u["userName"] for u in await rfc.find(page)] == [
        "bjensen@example.com",
        "bob@example.com",
    ]
    listed = await rfc.find(
        query("/Users", filter='userName sw "b" and emails pr', sortBy="userName")
    )
    assert [u["id"] for u in listed] == [user_id]
    search = {
        "schemas": [SEARCH_REQUEST],
        "filter": 'userName sw "b" or userName eq "CAROL@example.com"',
        "sortBy": "userName",
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    found = (await rfc.post("/Users/.search", search, expect=200)).json()
    assert found["totalResults"] == 3
    assert [set(u) for u in found["Resources"]] == [{"schemas", "id", "userName"}] * 3
    assert [u["userName"] for u in found["Resources"]] == [
        "bjensen@example.com",
        "bob@example.com",
        "carol@example.com",
    ]

    await rfc.delete(f"/Users/{user_id}")
    await rfc.gone(f"/Users/{user_id}")
    await rfc.delete(f"/Users/{user_id}", expect=404)
    assert {u["id"] for u in await rfc.find("/Users")} == set(others)


async def test_groups_through_bulk_and_patch_with_plain_json(client, scim_token) -> None:
    rfc = ScimConversation(client, scim_token, content_type="application/json")
    bulk = {
        "schemas": [BULK_REQUEST],
        "failOnErrors": 1,
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "qwerty",
                "data": {
                    "schemas": [USER],
                    "userName": "alice@example.com",
                    "displayName": "Alice",
                },
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "ytrewq",
                "data": {
                    "schemas": [GROUP],
                    "displayName": "Tour Guides",
                    "members": [{"type": "User", "value": "bulkId:qwerty"}],
                },
            },
        ],
    }
    answer = (await rfc.post("/Bulk", bulk, expect=200)).json()
    assert answer["schemas"] == [BULK_RESPONSE]
    assert [(o["bulkId"], o["status"]) for o in answer["Operations"]] == [
        ("qwerty", "201"),
        ("ytrewq", "201"),
    ]
    alice = answer["Operations"][0]["location"].rsplit("/", 1)[1]
    group_id = answer["Operations"][1]["location"].rsplit("/", 1)[1]
    group = await rfc.group(group_id)
    assert group["displayName"] == "Tour Guides"
    assert [(m["value"], m["display"], m["type"]) for m in group["members"]] == [
        (alice, "Alice", "User")
    ]

    bob = (await rfc.post("/Users", {"schemas": [USER], "userName": "bob@example.com"})).json()[
        "id"
    ]
    add = patch_op({"op": "add", "path": "members", "value": [{"display": "Bob", "value": bob}]})
    await rfc.patch(f"/Groups/{group_id}", add, expect=PATCHED)
    assert await rfc.members(group_id) == {alice, bob}
    remove = patch_op({"op": "remove", "path": f'members[value eq "{alice}"]'})
    await rfc.patch(f"/Groups/{group_id}", remove, expect=PATCHED)
    assert await rfc.members(group_id) == {bob}
    replace = patch_op({"op": "replace", "path": "members", "value": [{"value": alice}]})
    await rfc.patch(f"/Groups/{group_id}", replace, expect=PATCHED)
    assert await rfc.members(group_id) == {alice}

    listed = await rfc.find(query("/Groups", filter=f'members[value eq "{alice}"]'))
    assert [g["id"] for g in listed] == [group_id]
    await rfc.put(
        f"/Groups/{group_id}", {"schemas": [GROUP], "displayName": "Guides", "members": []}
    )
    group = await rfc.group(group_id)
    assert (group["displayName"], group.get("members", [])) == ("Guides", [])
    await rfc.delete(f"/Groups/{group_id}")
    await rfc.gone(f"/Groups/{group_id}")
