"""users(filter:): search text, active, email, role (direct or via a group), group."""

from __future__ import annotations

import pytest

from definewtf.db import current_engine
from definewtf.principals import CLI_ACTOR
from definewtf.services import groups, roles, users
from definewtf.services.groups import GroupData
from definewtf.services.users import UserData

QUERY = """query($f: UserFilter) { users(first: 100, filter: $f) {
  totalCount edges { node { userName } } } }"""


async def names(graphql, key, **filter_) -> list[str]:
    body = (await graphql(key, QUERY, {"f": filter_})).json()
    assert "errors" not in body, body
    return sorted(e["node"]["userName"] for e in body["data"]["users"]["edges"])


async def test_each_filter(graphql, admin_key, acme, security) -> None:
    async def person(name, email=None, active=True):
        return await users.create_user(
            tenant_id=acme.id,
            data=UserData(user_name=name, email=email, active=active),
            actor=CLI_ACTOR,
            security=security,
        )

    ann = await person("Ann.Lee", "ann@corp.test")
    bob = await person("bob", "BOB@corp.test", active=False)
    cid = await person("cid", "cid@other.test")
    crew = await groups.create_group(
        tenant_id=acme.id, data=GroupData("Crew"), members=[bob.id, cid.id], actor=CLI_ACTOR
    )
    await roles.map_group_to_role(
        tenant_id=acme.id, group_id=crew.id, role="admin", actor=CLI_ACTOR
    )
    await roles.assign_role(tenant_id=acme.id, user_id=ann.id, role="member", actor=CLI_ACTOR)

    assert await names(graphql, admin_key, search="LEE") == ["Ann.Lee"]
    assert await names(graphql, admin_key, search="corp.test") == ["Ann.Lee", "bob"]
    assert await names(graphql, admin_key, active=False) == ["bob"]
    assert await names(graphql, admin_key, email="bob@corp.test") == ["bob"]
    assert await names(graphql, admin_key, role="ADMIN") == ["admin@acme.test", "bob", "cid"]
    assert await names(graphql, admin_key, role="member") == ["Ann.Lee"]
    assert await names(graphql, admin_key, groupId=str(crew.id)) == ["bob", "cid"]
    assert await names(graphql, admin_key, groupId=str(crew.id), active=True) == ["cid"]
    assert await names(graphql, admin_key, search="%") == []  # wildcards are literal


async def test_a_search_is_planned_for_its_values_each_time_on_postgresql(
    graphql, admin_key, engine_name, many_acme_users, plans_made
) -> None:
    """The console's search is planned for its values every time (`users.planning_of`).
    Left to PostgreSQL, the plan it kept after five searches counted a search everyone
    matches by reading every match through the trigram index: 93 ms at 100,000 users,
    against 44 ms planned for the pattern."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    await many_acme_users(3000)
    await current_engine().run_ddl("ANALYZE app_user")
    for _ in range(8):
        body = (await graphql(admin_key, QUERY, {"f": {"search": "x.test"}})).json()
        assert body["data"]["users"]["totalCount"] == 3000, body
    generic, custom = await plans_made('%"app_user"%LIKE%')
    assert generic == 0
    assert custom == 16  # the page and its count, eight times
