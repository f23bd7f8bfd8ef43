"""/Groups (RFC 7644 §3, RFC 7643 §4.2): CRUD, membership as set operations, filters."""

from __future__ import annotations

import asyncio

import pytest

from definewtf.principals import CLI_ACTOR
from definewtf.services import tokens
from definewtf.tables import AuditEvent, GroupMember

USERS = "/api/scim/Users"
GROUPS = "/api/scim/Groups"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch_body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


@pytest.fixture
async def people(client, scim_auth) -> list[str]:
    ids = []
    for i in range(5):
        body = {"schemas": [CORE_USER], "userName": f"p{i}@x.test", "displayName": f"Person {i}"}
        response = await client.post(USERS, json=body, headers=scim_auth)
        ids.append(response.json()["id"])
    return ids


async def create_group(client, scim_auth, name="Engineering", members=()) -> dict:
    body = {
        "schemas": [CORE_GROUP],
        "displayName": name,
        "members": [{"value": m} for m in members],
    }
    response = await client.post(GROUPS, json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    return response.json()


async def member_ids(client, scim_auth, group_id) -> set[str]:
    body = (await client.get(f"{GROUPS}/{group_id}", headers=scim_auth)).json()
    return {m["value"] for m in body.get("members", [])}


async def patch(client, scim_auth, group_id, *operations):
    return await client.patch(
        f"{GROUPS}/{group_id}", json=patch_body(*operations), headers=scim_auth
    )


async def test_create_read_and_members(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=people[:2])
    assert group["displayName"] == "Engineering"
    assert group["meta"]["resourceType"] == "Group"
    assert {m["value"] for m in group["members"]} == set(people[:2])
    member = next(m for m in group["members"] if m["value"] == people[0])
    assert member["display"] == "Person 0"
    assert member["type"] == "User"
    assert member["$ref"].endswith(f"/Users/{people[0]}")
    user = (await client.get(f"{USERS}/{people[0]}", headers=scim_auth)).json()
    assert user["groups"] == [
        {
            "value": group["id"],
            "$ref": f"http://acme.localhost/api/scim/Groups/{group['id']}",
            "display": "Engineering",
            "type": "direct",
        }
    ]


async def test_display_name_is_unique_case_insensitively(client, scim_auth) -> None:
    await create_group(client, scim_auth, "Sales")
    response = await client.post(
        GROUPS, json={"schemas": [CORE_GROUP], "displayName": "SALES"}, headers=scim_auth
    )
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


async def test_okta_and_entra_lookups(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=[people[0]])
    await create_group(client, scim_auth, "Other")
    listed = await client.get(
        GROUPS,
        params={"excludedAttributes": "members", "filter": 'displayName eq "engineering"'},
        headers=scim_auth,
    )
    [found] = listed.json()["Resources"]
    assert found["id"] == group["id"]
    assert "members" not in found
    by_member = await client.get(
        GROUPS,
        params={"filter": f'id eq "{group["id"]}" and members eq "{people[0]}"'},
        headers=scim_auth,
    )
    assert by_member.json()["totalResults"] == 1
    not_member = await client.get(
        GROUPS,
        params={"filter": f'id eq "{group["id"]}" and members eq "{people[1]}"'},
        headers=scim_auth,
    )
    assert not_member.json()["totalResults"] == 0
    value_path = await client.get(
        GROUPS, params={"filter": f'members[value eq "{people[0]}"]'}, headers=scim_auth
    )
    assert [g["id"] for g in value_path.json()["Resources"]] == [group["id"]]


async def test_add_members_is_idempotent(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=[people[0]])
    for _ in range(2):  # JumpCloud repeats adds
        response = await patch(
            client,
            scim_auth,
            group["id"],
            {"op": "add", "path": "members", "value": [{"value": people[0]}, {"value": people[1]}]},
        )
        assert response.status_code == 204, response.text
    assert await member_ids(client, scim_auth, group["id"]) == set(people[:2])


async def test_remove_by_value_filter_and_entra_remove_list(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=people)
    await patch(
        client, scim_auth, group["id"], {"op": "remove", "path": f'members[value eq "{people[0]}"]'}
    )
    await patch(
        client,
        scim_auth,
        group["id"],
        {"op": "Remove", "path": "members", "value": [{"value": people[1]}, {"value": people[2]}]},
    )
    assert await member_ids(client, scim_auth, group["id"]) == set(people[3:])


async def test_replace_members_including_empty(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=people[:3])
    await patch(
        client,
        scim_auth,
        group["id"],
        {"op": "replace", "path": "members", "value": [{"value": people[2]}, {"value": people[4]}]},
    )
    assert await member_ids(client, scim_auth, group["id"]) == {people[2], people[4]}
    await patch(client, scim_auth, group["id"], {"op": "replace", "path": "members", "value": []})
    assert await member_ids(client, scim_auth, group["id"]) == set()


async def test_rename_and_no_path_replace(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=[people[0]])
    await patch(
        client, scim_auth, group["id"], {"op": "replace", "path": "displayName", "value": "Eng"}
    )
    await patch(
        client,
        scim_auth,
        group["id"],
        {
            "op": "replace",
            "value": {"id": group["id"], "displayName": "Engineering 2", "externalId": "okta-1"},
        },
    )
    body = (await client.get(f"{GROUPS}/{group['id']}", headers=scim_auth)).json()
    assert body["displayName"] == "Engineering 2"
    assert body["externalId"] == "okta-1"
    assert {m["value"] for m in body["members"]} == {people[0]}


async def test_put_replaces_the_member_list(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=people[:3])
    body = {
        "schemas": [CORE_GROUP],
        "displayName": "Engineering",
        "members": [{"value": people[4]}],
    }
    response = await client.put(f"{GROUPS}/{group['id']}", json=body, headers=scim_auth)
    assert response.status_code == 200, response.text
    assert {m["value"] for m in response.json()["members"]} == {people[4]}


async def test_unknown_or_foreign_members_are_400_and_nothing_changes(
    client, scim_auth, people, globex, security
) -> None:
    token = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=security
    )
    globex_auth = {"Authorization": f"Bearer {token.token}", "Host": "globex.localhost"}
    foreign = (
        await client.post(
            USERS, json={"schemas": [CORE_USER], "userName": "f@x.test"}, headers=globex_auth
        )
    ).json()
    group = await create_group(client, scim_auth, members=[people[0]])
    for bad in ("00000000-0000-0000-0000-000000000000", foreign["id"], "not-a-uuid"):
        response = await patch(
            client,
            scim_auth,
            group["id"],
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "add", "path": "members", "value": [{"value": people[1]}, {"value": bad}]},
        )
        assert response.status_code == 400, response.text
    body = (await client.get(f"{GROUPS}/{group['id']}", headers=scim_auth)).json()
    assert body["displayName"] == "Engineering"
    assert {m["value"] for m in body["members"]} == {people[0]}
    create = await client.post(
        GROUPS,
        json={"schemas": [CORE_GROUP], "displayName": "X", "members": [{"value": foreign["id"]}]},
        headers=scim_auth,
    )
    assert create.status_code == 400


async def test_fifty_concurrent_adds_keep_all_fifty(client, scim_auth) -> None:
    ids = []
    for i in range(50):
        response = await client.post(
            USERS, json={"schemas": [CORE_USER], "userName": f"c{i}@x.test"}, headers=scim_auth
        )
        ids.append(response.json()["id"])
    group = await create_group(client, scim_auth)
    responses = await asyncio.gather(
        *(
            patch(
                client,
                scim_auth,
                group["id"],
                {"op": "add", "path": "members", "value": [{"value": i}]},
            )
            for i in ids
        )
    )
    assert {r.status_code for r in responses} == {204}
    assert await member_ids(client, scim_auth, group["id"]) == set(ids)


async def test_deleting_a_user_or_a_group_cleans_memberships(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth, members=people[:2])
    assert (await client.delete(f"{USERS}/{people[0]}", headers=scim_auth)).status_code == 204
    assert await member_ids(client, scim_auth, group["id"]) == {people[1]}
    assert (await client.delete(f"{GROUPS}/{group['id']}", headers=scim_auth)).status_code == 204
    assert (await client.get(f"{GROUPS}/{group['id']}", headers=scim_auth)).status_code == 404
    assert await GroupMember.count() == 0
    user = (await client.get(f"{USERS}/{people[1]}", headers=scim_auth)).json()
    assert "groups" not in user


async def test_group_changes_are_audited(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth)
    await patch(
        client,
        scim_auth,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": people[0]}]},
    )
    events = await (
        AuditEvent.select(AuditEvent.action, AuditEvent.after)
        .where(AuditEvent.target_id == group["id"])
        .order_by(AuditEvent.id)  # time-ordered ids
    )
    assert [e["action"] for e in events] == ["group.create", "group.update"]


async def test_root_search_covers_every_resource_type(client, scim_auth, people) -> None:
    """RFC 7644 §3.4.3: Users then Groups, paged as one list; an attribute one type lacks
    matches none of that type."""
    group = await create_group(client, scim_auth, "Zeta", members=[people[0]])
    search = "/api/scim/.search"
    request = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    everything = (await client.post(search, json=request, headers=scim_auth)).json()
    assert everything["totalResults"] == len(people) + 1
    kinds = [r["meta"]["resourceType"] for r in everything["Resources"]]
    assert kinds == ["User"] * len(people) + ["Group"]
    by_name = await client.post(
        search, json={**request, "filter": 'displayName eq "zeta"'}, headers=scim_auth
    )
    assert [r["id"] for r in by_name.json()["Resources"]] == [group["id"]]
    page = await client.post(
        search, json={**request, "startIndex": len(people), "count": 2}, headers=scim_auth
    )
    assert [r["meta"]["resourceType"] for r in page.json()["Resources"]] == ["User", "Group"]
    unknown = await client.post(
        search, json={**request, "filter": 'nope eq "x"'}, headers=scim_auth
    )
    assert unknown.status_code == 400
    assert unknown.json()["scimType"] == "invalidFilter"


async def test_a_member_display_sent_by_the_client_is_kept(client, scim_auth, people) -> None:
    group = await create_group(client, scim_auth)
    await patch(
        client,
        scim_auth,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": people[0], "display": "Zero"}]},
    )
    members = (await client.get(f"{GROUPS}/{group['id']}", headers=scim_auth)).json()["members"]
    assert [(m["value"], m["display"]) for m in members] == [(people[0], "Zero")]


@pytest.mark.parametrize("first", [USERS, GROUPS])
async def test_id_filters_on_users_and_groups_each_name_their_own_table(
    client, scim_auth, people, first
) -> None:
    """`User.id` and `Group.id` hash alike (Piccolo hashes a column by its name): a cache of
    rendered column names keyed by the column once served one type's filter with the other's
    table, a 500 on PostgreSQL."""
    group = await create_group(client, scim_auth, members=people[:1])
    ids = {USERS: people[0], GROUPS: group["id"]}
    for resource in (first, *({USERS, GROUPS} - {first})):
        response = await client.get(
            resource, params={"filter": f'id eq "{ids[resource]}"'}, headers=scim_auth
        )
        assert response.status_code == 200, response.text
        assert [found["id"] for found in response.json()["Resources"]] == [ids[resource]]


async def test_a_users_groups_come_by_display_name_on_every_read(client, scim_auth, people) -> None:
    """The read-only `groups` of a User: the same list, by displayName (then id), whether the
    user is read alone, found by a filter or listed in a page."""
    names = ["beta", "Alpha", "Épée", "gamma", "Delta"]
    created = [await create_group(client, scim_auth, name, members=[people[0]]) for name in names]
    expected = [
        (group["id"], group["displayName"])
        for group in sorted(created, key=lambda group: (group["displayName"], group["id"]))
    ]
    user_name = "p0@x.test"
    reads = [
        (await client.get(f"{USERS}/{people[0]}", headers=scim_auth)).json(),
        *(
            await client.get(
                USERS, params={"filter": f'userName eq "{user_name}"'}, headers=scim_auth
            )
        ).json()["Resources"],
        *(
            await client.get(USERS, params={"filter": 'userName co "p0@"'}, headers=scim_auth)
        ).json()["Resources"],
        next(
            resource
            for resource in (await client.get(USERS, headers=scim_auth)).json()["Resources"]
            if resource["id"] == people[0]
        ),
    ]
    for user in reads:
        assert [(group["value"], group["display"]) for group in user["groups"]] == expected
        assert all(
            group["$ref"].endswith(f"/Groups/{group['value']}") and group["type"] == "direct"
            for group in user["groups"]
        )
