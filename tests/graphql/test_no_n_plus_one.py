"""`users(first: N) { roles groups }` costs the same number of SQL statements for any N."""

from __future__ import annotations

from definewtf.db import current_engine
from definewtf.principals import CLI_ACTOR
from definewtf.services import groups, roles, users
from definewtf.services.groups import GroupData, MemberOp
from definewtf.services.users import UserData

QUERY = """query($n: Int!) { users(first: $n) { totalCount edges { node {
  userName roles { role source } groups { displayName } } } } }"""


async def statements_for(client, admin_key, monkeypatch, first: int) -> tuple[int, dict]:
    engine = current_engine()
    engine_class = type(engine)
    original = engine_class.run_querystring
    seen: list[str] = []

    async def observed(self, querystring, *args, **kwargs):
        if self is engine:
            seen.append(str(querystring))
        return await original(self, querystring, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(engine_class, "run_querystring", observed)
        response = await client.post(
            "/graphql",
            json={"query": QUERY, "variables": {"n": first}},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return len(seen), body["data"]["users"]


async def test_nested_lists_are_batched(client, admin_key, acme, security, monkeypatch) -> None:
    people = [
        await users.create_user(
            tenant_id=acme.id,
            data=UserData(user_name=f"p{i}@x.test"),
            actor=CLI_ACTOR,
            security=security,
        )
        for i in range(40)
    ]
    # Everyone is in a group (so every page needs the group queries); evens in a second
    # group that is mapped to a role.
    everyone = await users.list_users(tenant_id=acme.id, actor=CLI_ACTOR, limit=100)
    await groups.create_group(
        tenant_id=acme.id,
        data=GroupData("All"),
        members=[u.id for u in everyone.items],
        actor=CLI_ACTOR,
    )
    team = await groups.create_group(
        tenant_id=acme.id,
        data=GroupData("Team"),
        members=[p.id for p in people[::2]],
        actor=CLI_ACTOR,
    )
    await groups.update_group(
        tenant_id=acme.id,
        group_id=team.id,
        actor=CLI_ACTOR,
        members=[MemberOp("add", frozenset(p.id for p in people[:5]))],
    )
    await roles.map_group_to_role(
        tenant_id=acme.id, group_id=team.id, role="admin", actor=CLI_ACTOR
    )

    await statements_for(client, admin_key, monkeypatch, 1)  # warm: the key's last_used_at write
    small, _ = await statements_for(client, admin_key, monkeypatch, 3)
    large, large_page = await statements_for(client, admin_key, monkeypatch, 41)
    assert small == large, (small, large)
    assert large <= 15  # auth (6), count, page, roles (3), groups, nothing per row
    nodes = {e["node"]["userName"]: e["node"] for e in large_page["edges"]}
    assert nodes["p0@x.test"]["groups"] == [{"displayName": "All"}, {"displayName": "Team"}]
    assert nodes["p0@x.test"]["roles"] == [{"role": "admin", "source": "Team"}]
    assert {"displayName": "Team"} in nodes["p1@x.test"]["groups"]  # added by the update
    assert nodes["p7@x.test"]["groups"] == [{"displayName": "All"}]
    assert nodes["p7@x.test"]["roles"] == []
    assert nodes["admin@acme.test"]["roles"] == [{"role": "admin", "source": "direct"}]
