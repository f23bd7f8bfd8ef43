"""What a lookup costs the database once the tenant and token are known (issue 6): IdPs send
hundreds of thousands of `filter=userName eq` requests in an initial sync, each of which used
to read the tenant, the token, count and select (and, on PostgreSQL, reset the connection
after each)."""

from __future__ import annotations

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_a_lookup_is_the_token_and_the_page_with_the_groups(
    client, scim_auth, sql_log
) -> None:
    created = await client.post(
        "/api/scim/Users", json={"schemas": [CORE], "userName": "a@x.test"}, headers=scim_auth
    )
    for name in ("Zeta", "Alpha"):
        group = await client.post(
            "/api/scim/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": [{"value": created.json()["id"]}],
            },
            headers=scim_auth,
        )
        assert group.status_code == 201
    seen = sql_log

    async def statements(user_name: str) -> list[str]:
        seen.clear()
        response = await client.get(
            "/api/scim/Users", params={"filter": f'userName eq "{user_name}"'}, headers=scim_auth
        )
        assert response.status_code == 200
        return list(seen)

    missing = await statements("nobody@x.test")  # Entra's and Okta's "does it exist?"
    assert len(missing) == 2, missing
    assert "scim_token" in missing[0]
    assert "app_user" in missing[1]
    found = await statements("a@x.test")
    assert len(found) == 2, found  # the user's groups are read in the page's statement
    assert "group_member" in found[1]
    response = await client.get(
        "/api/scim/Users", params={"filter": 'userName eq "a@x.test"'}, headers=scim_auth
    )
    [user] = response.json()["Resources"]
    assert [group["display"] for group in user["groups"]] == ["Alpha", "Zeta"]
    assert not any('FROM "tenant"' in sql or "COUNT" in sql.upper() for sql in missing + found)


async def test_a_patch_does_not_read_the_user_back(client, scim_auth, sql_log) -> None:
    """Entra's attribute sync is a PATCH per user: the locked row is read once, written once,
    and the response is built from what was written."""
    created = await client.post(
        "/api/scim/Users",
        json={"schemas": [CORE], "userName": "a@x.test", "title": "Engineer"},
        headers=scim_auth,
    )
    sql_log.clear()  # the creation's statements
    response = await client.patch(
        f"/api/scim/Users/{created.json()['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Architect"}],
        },
        headers=scim_auth,
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Architect"
    assert response.json()["meta"]["version"] != created.json()["meta"]["version"]
    reads = [sql for sql in sql_log if sql.lstrip().upper().startswith("SELECT")]
    user_reads = [sql for sql in reads if 'FROM "app_user"' in sql or "FROM app_user" in sql]
    assert len(user_reads) == 1, user_reads  # the row lock, the user's groups in it
    assert all("app_user" in sql for sql in reads if "group_member" in sql), reads
    got = await client.get(f"/api/scim/Users/{created.json()['id']}", headers=scim_auth)
    assert got.json() == response.json()


async def test_a_create_does_not_read_the_new_users_groups(client, scim_auth, sql_log) -> None:
    """An initial sync is one POST per user: a user just created is in no group, so its
    response needs no groups read, and nothing is read back."""
    await client.get("/api/scim/ServiceProviderConfig", headers=scim_auth)  # tenant cached
    sql_log.clear()
    response = await client.post(
        "/api/scim/Users",
        json={"schemas": [CORE], "userName": "new@x.test", "title": "Engineer"},
        headers=scim_auth,
    )
    assert response.status_code == 201
    assert response.json().get("groups", []) == []
    assert not any("group_member" in sql for sql in sql_log), sql_log
    reads = [sql for sql in sql_log if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads  # the token, and whether the userName is taken
