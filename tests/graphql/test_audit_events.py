"""The audit trail through GraphQL: admins read it, newest first, filtered; history outlives
a deleted user (DESIGN.md §5: data kept, history visible to admins)."""

from __future__ import annotations

import base64

import pytest

QUERY = """query($action: String, $target: String, $after: String) {
  auditEvents(first: 2, filter: {action: $action, targetId: $target}, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { action actor actorType targetType targetId after } } } }"""


async def events(client, key, query: str = QUERY, **variables) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["auditEvents"]


async def test_history_of_a_deleted_user_stays_visible(
    client, scim_auth, scim_token, admin_key
) -> None:
    created = await client.post(
        "/api/scim/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gone@x.test"},
        headers=scim_auth,
    )
    user_id = created.json()["id"]
    assert (await client.delete(f"/api/scim/Users/{user_id}", headers=scim_auth)).status_code == 204
    page = await events(client, admin_key, target=user_id)
    assert page["totalCount"] == 2
    assert [e["node"]["action"] for e in page["edges"]] == ["user.delete", "user.create"]
    assert {e["node"]["actor"] for e in page["edges"]} == {f"scim-token:{scim_token[:12]}"}
    assert all(e["node"]["actorType"] == "scim_token" for e in page["edges"])


async def test_filter_and_pages(client, scim_auth, admin_key) -> None:
    for i in range(3):
        await client.post(
            "/api/scim/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"u{i}@x.test",
            },
            headers=scim_auth,
        )
    first = await events(client, admin_key, action="user.create")
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await events(
        client, admin_key, action="user.create", after=first["pageInfo"]["endCursor"]
    )
    names = [e["node"]["after"]["userName"] for e in first["edges"] + rest["edges"]]
    assert sorted(names) == ["u0@x.test", "u1@x.test", "u2@x.test"]


async def test_members_cannot_read_the_trail(client, member) -> None:
    _, key = member
    response = await client.post(
        "/graphql",
        json={"query": QUERY, "variables": {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.json()["errors"]
    assert response.json()["data"] is None


FILTERED = """query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    totalCount edges { node { action actorId actorType occurredAt targetId } } } }"""


async def test_filter_by_actor_and_time_range(client, scim_auth, graphql, admin_key) -> None:
    async def matching(**filter) -> list[dict]:
        body = (await graphql(admin_key, FILTERED, {"filter": filter})).json()
        assert "errors" not in body, body
        page = body["data"]["auditEvents"]
        assert page["totalCount"] == len(page["edges"])
        return [edge["node"] for edge in page["edges"]]

    await client.post(
        "/api/scim/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "s@x.test"},
        headers=scim_auth,
    )
    by_hand = (
        await graphql(
            admin_key,
            'mutation { createUser(input: {userName: "h@x.test"}) { ... on User { id } } }',
        )
    ).json()["data"]["createUser"]
    admin_id = (await graphql(admin_key, "{ viewer { userId } }")).json()["data"]["viewer"][
        "userId"
    ]

    everything = await matching()
    mine = await matching(actorId=admin_id)
    assert [(e["action"], e["targetId"]) for e in mine] == [("user.create", by_hand["id"])]
    provisioned = await matching(actorType="scim_token")
    assert [e["action"] for e in provisioned] == ["user.create"]
    assert provisioned[0]["targetId"] != by_hand["id"]
    assert await matching(actorId="01890000-0000-7000-8000-000000000000") == []

    # `since` is inclusive and `until` exclusive: an event's own time splits the trail there.
    newest = everything[0]
    at = newest["occurredAt"]
    assert newest in await matching(since=at)
    assert newest not in await matching(until=at)
    assert len(await matching(since=at)) + len(await matching(until=at)) == len(everything)
    assert await matching(since="2999-01-01T00:00:00Z") == []

    reversed_range = (
        await graphql(
            admin_key,
            FILTERED.replace("edges { node { action actorId actorType occurredAt targetId } }", ""),
            {"filter": {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}},
        )
    ).json()
    assert reversed_range["data"] is None
    assert "since" in reversed_range["errors"][0]["message"]


PAGE = """query($after: String) {
  auditEvents(first: 2, filter: {action: "user.create"}, after: $after) {
    pageInfo { hasNextPage hasPreviousPage }
    edges { cursor node { id after } } } }"""


async def _create_users(client, scim_auth, *names: str) -> None:
    for name in names:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}
        assert (
            await client.post("/api/scim/Users", json=body, headers=scim_auth)
        ).status_code == 201


async def _page(client, key, after: str | None) -> dict:
    return await events(client, key, PAGE, after=after)


async def test_pages_go_on_from_the_last_event_seen_as_new_events_arrive(
    client, scim_auth, admin_key
) -> None:
    """An admin reads the trail while an IdP provisions: each page continues from the last
    event the admin saw. By offset, every event written meanwhile pushed the trail down and
    the next page repeated the end of the last one."""
    await _create_users(client, scim_auth, "u1@x.test", "u2@x.test", "u3@x.test", "u4@x.test")
    first = await _page(client, admin_key, None)
    await _create_users(client, scim_auth, "u5@x.test", "u6@x.test")  # newer: before page 1
    second = await _page(client, admin_key, first["edges"][-1]["cursor"])
    names = [edge["node"]["after"]["userName"] for edge in first["edges"] + second["edges"]]
    assert names == ["u4@x.test", "u3@x.test", "u2@x.test", "u1@x.test"]
    assert first["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}
    assert second["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    assert (await _page(client, admin_key, second["edges"][-1]["cursor"]))["edges"] == []


async def test_the_trail_is_counted_only_when_totalcount_is_asked_for(
    client, scim_auth, graphql, admin_key, sql_log
) -> None:
    """Counting a trail of 1,000,000 events took 60 ms, on every page of it."""
    await _create_users(client, scim_auth, "u1@x.test", "u2@x.test", "u3@x.test")
    sql_log.clear()
    page = await _page(client, admin_key, None)
    assert page["pageInfo"]["hasNextPage"] is True
    assert not [sql for sql in sql_log if "COUNT(" in sql.upper() and "audit_event" in sql]
    counted = await events(client, admin_key, action="user.create")
    assert counted["totalCount"] == 3
    in_a_fragment = "fragment F on AuditEventConnection { n: totalCount } { auditEvents { ...F } }"
    body = (await graphql(admin_key, in_a_fragment)).json()
    assert body["data"]["auditEvents"]["n"] >= 3, body
    assert [sql for sql in sql_log if "COUNT(" in sql.upper() and "audit_event" in sql]


async def test_an_offset_cursor_still_pages_the_trail(client, scim_auth, admin_key) -> None:
    """Cursors given before event cursors (offsets) go on working."""
    await _create_users(client, scim_auth, "u1@x.test", "u2@x.test", "u3@x.test")
    page = await _page(client, admin_key, base64.urlsafe_b64encode(b"o:1").decode())
    assert [edge["node"]["after"]["userName"] for edge in page["edges"]] == ["u1@x.test"]
    assert page["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "after",
    [
        _cursor("e:1"),
        _cursor("e:1:not-a-uuid:2026-01-01T00:00:00+00:00"),
        _cursor("e:1:01890000-0000-7000-8000-000000000000:yesterday"),
        _cursor("e:1:01890000-0000-7000-8000-000000000000:2026-01-01T00:00:00"),  # no zone
        _cursor("e:-1:01890000-0000-7000-8000-000000000000:2026-01-01T00:00:00+00:00"),
    ],
)
async def test_a_bad_event_cursor_is_an_error(graphql, admin_key, after) -> None:
    body = (await graphql(admin_key, PAGE, {"after": after})).json()
    assert body["data"] is None
    assert "cursor" in body["errors"][0]["message"], body


async def test_an_event_cursor_is_not_a_cursor_of_users(graphql, admin_key) -> None:
    after = _cursor("e:0:01890000-0000-7000-8000-000000000000:2026-01-01T00:00:00+00:00")
    body = (
        await graphql(
            admin_key, "query($a: String) { users(after: $a) { totalCount } }", {"a": after}
        )
    ).json()
    assert body["data"] is None
    assert "cursor" in body["errors"][0]["message"], body
