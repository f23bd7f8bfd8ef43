"""What a lookup costs the database once the tenant and token are known (issue 6): IdPs send
hundreds of thousands of `filter=userName eq` requests in an initial sync, each of which used
to read the tenant, the token, count and select (and, on PostgreSQL, reset the connection
after each)."""

from __future__ import annotations

from definewtf.db import current_engine

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_a_lookup_is_the_token_the_page_and_the_groups(
    client, scim_auth, monkeypatch
) -> None:
    await client.post(
        "/api/scim/Users", json={"schemas": [CORE], "userName": "a@x.test"}, headers=scim_auth
    )
    engine = current_engine()
    original = type(engine).run_querystring
    seen: list[str] = []

    async def observed(self, querystring, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self is engine:
            seen.append(str(querystring))
        return await original(self, querystring, *args, **kwargs)

    monkeypatch.setattr(type(engine), "run_querystring", observed)

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
    assert len(found) == 3, found  # … and the user's groups
    assert "group_member" in found[2]
    assert not any('FROM "tenant"' in sql or "COUNT" in sql.upper() for sql in missing + found)
