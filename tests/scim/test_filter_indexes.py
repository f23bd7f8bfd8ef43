"""The lookups IdPs make are served by indexes that begin with the tenant (DESIGN.md §3).

The query plan of each compiled filter must name the expected index. On PostgreSQL,
sequential scans are disabled for the check: with a handful of rows the planner would
rightly prefer them, and the question here is whether an index *can* serve the lookup.
"""

from __future__ import annotations

import pytest
from plans import generic_plan

from definewtf.db import current_engine
from definewtf.principals import CLI_ACTOR
from definewtf.services import users
from definewtf.services.tenants import TenantRecord
from definewtf.tables import User
from scim_facade.filters import UserFilterCompiler
from scim_facade.mapping import ScimUser, from_scim_user

POPULATION = 300


@pytest.fixture
async def population(client, acme: TenantRecord, security, engine_name) -> None:
    """Enough rows, and fresh statistics, for the planner's choice to mean something."""
    for i in range(POPULATION):
        resource = ScimUser.model_validate(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"user{i}@example.com",
                "externalId": f"ext-{i}",
                "displayName": f"User {i}",
                "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True}],
            }
        )
        await users.create_user(
            tenant_id=acme.id, data=from_scim_user(resource), actor=CLI_ACTOR, security=security
        )
    await current_engine().run_ddl("ANALYZE")


LOOKUPS = [
    ('userName eq "bjensen@example.com"', "app_user_tenant_user_name_ci"),
    ('externalId eq "00u1"', "app_user_tenant_external_id"),
    ('emails.value eq "bjensen@example.com"', "user_value_tenant_attr_ci"),
    ('displayName eq "Barbara Jensen"', "user_value_tenant_attr_ci"),
    ('emails[type eq "work"].value eq "b@example.com"', "user_value_tenant_attr_ci"),
]


async def test_idp_lookups_use_tenant_first_indexes(
    client, acme: TenantRecord, population, engine_name
) -> None:
    for expression, index in LOOKUPS:
        await _assert_plan_uses(acme, engine_name, expression, index)


async def _assert_plan_uses(
    acme: TenantRecord, engine_name: str, expression: str, index: str
) -> None:
    criteria = UserFilterCompiler(acme.id).compile(expression)
    query = User.select(User.id).where((User.tenant == acme.id) & criteria)
    sql = str(query)
    engine = current_engine()
    if engine_name == "postgresql":
        async with engine.transaction():
            await engine.run_ddl("SET LOCAL enable_seqscan = off")
            rows = await engine.run_ddl(f"EXPLAIN {sql}")
        plan = "\n".join(row["QUERY PLAN"] for row in rows)
    else:
        rows = await engine.run_ddl(f"EXPLAIN QUERY PLAN {sql}")
        plan = "\n".join(str(row["detail"]) for row in rows)
    assert index in plan, (expression, plan)


async def test_substring_searches_use_the_trigram_index_on_postgresql(
    client, acme: TenantRecord, scim_auth, statement_log, engine_name, many_acme_users
) -> None:
    """`co` / `ew` match no B-tree: without m0011 the page query of a search box's
    `userName co "…"` reads every user of the tenant. A prefix (`sw`) is a range of the
    byte-ordered (tenant, user_name_ci) btree (m0017): through trigrams, a prefix every user
    shares (`u…` here) read the whole tenant's posting lists. 20,000 users, inserted in one
    statement, so that the planner's choice at a real tenant's size is the one checked."""
    if engine_name != "postgresql":
        pytest.skip("SQLite has no trigram index: its substring searches scan")
    engine = current_engine()
    await many_acme_users(20000)
    await engine.run_ddl("ANALYZE app_user")
    for expression, index, condition in (
        ('userName co "1234@"', "app_user_search_trgm", "~~"),
        ('userName sw "u1234@"', "app_user_tenant_user_name_ci", "user_name_ci >= $"),
        ('userName ew "1234@x.test"', "app_user_search_trgm", "~~"),
    ):
        plan = await _plan_of_user_search(client, scim_auth, statement_log, expression, found=True)
        assert index in plan, (expression, plan)
        assert condition in plan, (expression, plan)


async def test_a_prefix_search_is_its_range_alone_on_postgresql(
    client, acme: TenantRecord, scim_auth, statement_log, engine_name
) -> None:
    """In the byte-ordered btree the range of `userName sw "…"` holds exactly the names with
    the prefix: a LIKE beside it filtered nothing, and PostgreSQL estimated its pattern each
    time it planned the search (every bind: the generic plan of a range costs more)."""
    if engine_name != "postgresql":
        pytest.skip("the plan's filter is PostgreSQL's EXPLAIN")
    plan = await _plan_of_user_search(client, scim_auth, statement_log, 'userName sw "u1234@"')
    assert "user_name_ci >= $" in plan, plan
    assert "~~" not in plan, plan


async def test_a_search_is_planned_once_per_connection_on_postgresql(
    client, scim_auth, engine_name, many_acme_users, plans_made
) -> None:
    """The generic plan of a range (`sw`) or a pattern (`co`) is estimated at 0.5% of the
    tenant, dearer than a plan made for the values bound, so PostgreSQL left to choose planned
    each search's page, its groups subquery included, at every search: most of its time per
    search. A search now runs on connections that plan a statement once
    (`definewtf.db.planned_once`); a whole listing is still planned for its page's size
    (its generic plan, taking `LIMIT $n` for a tenth of the rows, sorted the tenant)."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    await many_acme_users(20000)
    await current_engine().run_ddl("ANALYZE app_user")
    # Each matches a few users (u1200, u12000 … u12009): one statement, the page, per search.
    searches = [f'userName sw "u{i}"' for i in range(1200, 1212)]
    searches += [f'userName co "{i}@x"' for i in range(1300, 1312)]
    for expression in searches:
        response = await client.get(
            "/api/scim/Users", params={"filter": expression}, headers=scim_auth
        )
        assert response.status_code == 200, response.text
        assert 1 <= response.json()["totalResults"] < 100, expression
    assert await plans_made('%"app_user"."user_name_ci"%') == (len(searches), 0)
    for _ in range(8):
        response = await client.get("/api/scim/Users?count=100", headers=scim_auth)
        assert response.status_code == 200, response.text
    assert await plans_made('%"deleted_at" IS NULL ORDER BY%') == (0, 8)


async def test_a_value_filter_is_planned_for_its_value_each_time_on_postgresql(
    client, scim_auth, engine_name, many_acme_users, plans_made
) -> None:
    """A filter on a value kept in `user_value` (`title eq "…"`) is planned for the value
    bound, every time. Left to choose, PostgreSQL ran its generic plan from the sixth search
    on: planned without the value, `value_ci = $n` is taken for one user's (the column's
    values are nearly all distinct), and for a title everyone has it read all of them, then
    sorted them: 0.44 s for the page and 0.48 s for its count at 100,000 users, against 10 ms
    planned for the value."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    await many_acme_users(3000, title="Engineer")
    await current_engine().run_ddl(
        'INSERT INTO user_value (id, tenant, "user", attr, entry, sub, value, value_ci) '
        "SELECT gen_random_uuid(), tenant, id, 'name', 0, 'familyname', user_name, user_name "
        "FROM app_user"
    )
    await current_engine().run_ddl("ANALYZE app_user, user_value")
    for _ in range(8):
        params = {"filter": 'title eq "Engineer"', "count": "10"}
        response = await client.get("/api/scim/Users", params=params, headers=scim_auth)
        assert response.status_code == 200, response.text
        assert response.json()["totalResults"] == 3000
    generic, custom = await plans_made('%"app_user"."id" IN (SELECT v."user"%')
    assert generic == 0
    assert custom == 16  # the page and its count, eight times


async def _plan_of_user_search(
    client, scim_auth, statement_log, expression: str, *, found: bool = False
) -> str:
    """PostgreSQL's plan of the page query a `GET /Users?filter=expression` ran (that it
    found someone, if `found`): its generic plan, the one a search runs for any value bound
    (`definewtf.db.planned_once`)."""
    statement_log.clear()
    response = await client.get("/api/scim/Users", params={"filter": expression}, headers=scim_auth)
    assert response.status_code == 200, response.text
    if found:
        assert response.json()["totalResults"] >= 1, expression
    (page,) = [statement for statement in statement_log if "user_name_ci" in str(statement)]
    return await generic_plan(page)


async def test_an_external_id_lookup_uses_its_index_without_statistics(
    client, scim_auth, sql_log, engine_name
) -> None:
    """SQLite plans without statistics (no ANALYZE has run): the page query of an
    `externalId eq` lookup must still be served by the externalId index, not by walking every
    user of the tenant in page order (m0010)."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL keeps statistics and picks the index by cost")
    for index in range(3):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"u{index}@x.test",
            "externalId": f"e{index}",
        }
        await client.post("/api/scim/Users", json=body, headers=scim_auth)
    sql_log.clear()  # the creations' statements
    response = await client.get(
        "/api/scim/Users", params={"filter": 'externalId eq "e1"'}, headers=scim_auth
    )
    assert response.json()["totalResults"] == 1
    (page,) = [sql for sql in sql_log if "external_id" in sql]
    plan = await _sqlite_plan(page)
    assert "app_user_tenant_external_id" in plan, plan


async def test_a_page_reads_each_users_groups_by_the_user_index(
    client, scim_auth, sql_log, engine_name
) -> None:
    """The groups of a page's users are read in the page's statement (one correlated
    subquery per user). Without statistics, SQLite chose the covering (tenant, group, user)
    index and read every membership of the tenant for each user: 35 ms instead of 0.9 for a
    page of 100 once a 2,000-member group existed (bench)."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL keeps statistics and picks the index by cost")
    user = await client.post(
        "/api/scim/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "m@x.test"},
        headers=scim_auth,
    )
    group = await client.post(
        "/api/scim/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Everyone",
            "members": [{"value": user.json()["id"]}],
        },
        headers=scim_auth,
    )
    assert group.status_code == 201
    sql_log.clear()
    response = await client.get("/api/scim/Users", headers=scim_auth)
    assert [g["display"] for g in response.json()["Resources"][0]["groups"]] == ["Everyone"]
    (page,) = [sql for sql in sql_log if "group_member" in sql]
    plan = await _sqlite_plan(page)
    assert "group_member_tenant_user" in plan, plan


async def _sqlite_plan(sql: str) -> str:
    rows = await current_engine().run_ddl(f"EXPLAIN QUERY PLAN {sql}")
    return " ".join(str(row["detail"]) for row in rows)


async def test_a_search_naming_many_users_is_planned_for_its_pattern_on_postgresql(
    client, scim_auth, engine_name, many_acme_users, plans_made
) -> None:
    """A `co` search is planned once, without its pattern (`definewtf.db.planned_once`), and
    that plan reads every row the pattern names and sorts them: at 100,000 users, `userName
    co "example"` (everyone) took 160 ms for the page. Its first page now reads at most a
    row more than it shows; a search that names more is read again, page and count planned
    for its pattern (the page walks the creation order and stops after it)."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    await many_acme_users(3000)
    await current_engine().run_ddl("ANALYZE app_user")
    for _ in range(8):
        for phrase, total in (("x.test", 3000), ("u2999@", 1)):
            params = {"filter": f'userName co "{phrase}"', "count": "10"}
            response = await client.get("/api/scim/Users", params=params, headers=scim_auth)
            assert response.status_code == 200, response.text
            assert response.json()["totalResults"] == total
    bounded = await plans_made('%FROM (SELECT * FROM "app_user" WHERE%')
    searches = await plans_made('%"app_user"%LIKE%')
    assert bounded == (16, 0)  # both searches' first reads, eight times, one plan kept
    # the broad one's page and total, planned for the pattern
    assert (searches[0] - bounded[0], searches[1] - bounded[1]) == (0, 16)
