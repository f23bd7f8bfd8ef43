"""The planner's statistics keep up with a tenant's initial sync (`definewtf.statistics`).

Right after an IdP had synced 10,000 users into a fresh PostgreSQL database, no ANALYZE had
run yet: each `userName eq` lookup walked the tenant in page order and filtered all its users
(`Rows Removed by Filter: 10000`), at half the speed of `GET /Users/{id}`.
"""

from __future__ import annotations

import functools
import re
import uuid

import pytest

from definewtf import statistics
from definewtf.db import ReusingSQLiteEngine, current_engine
from definewtf.services.tenants import TenantRecord

USERS = "/api/scim/Users"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
#: Users written behind the service's back (as if by other processes), enough for a walk of
#: the tenant to cost more than the unique index once the planner knows it.
BULK = 3000


#: A random id as the service stores one on SQLite (`str(uuid)`'s text, which rows read back
#: and bound again must match).
_SQLITE_UUID = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(2)) "
    "|| '-' || hex(randomblob(2)) || '-' || hex(randomblob(6)))"
)


async def _bulk_users(engine_name: str, tenant: TenantRecord) -> None:
    engine = current_engine()
    if engine_name == "postgresql":
        await engine.run_ddl(
            "INSERT INTO app_user (id, tenant, user_name, user_name_ci, attributes, created_at, "  # noqa: S608
            f"updated_at) SELECT gen_random_uuid(), '{tenant.id}', 'u' || n, 'u' || n, '{{}}', "
            f"now() + n * interval '1 ms', now() FROM generate_series(1, {BULK}) AS n"
        )
    else:
        await engine.run_ddl(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BULK}) "  # noqa: S608
            "INSERT INTO app_user (id, tenant, user_name, user_name_ci, active, version, "
            f"attributes, created_at, updated_at) SELECT {_SQLITE_UUID}, "
            f"'{tenant.id}', 'u' || i, 'u' || i, 1, 1, '{{}}', "
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || i || ' seconds'), "
            "'2026-01-01' FROM n"
        )


async def _lookup_plan(client, scim_auth, sql_log, engine_name: str) -> str:
    """The plan of the page query of `filter=userName eq "u2500"`."""
    sql_log.clear()
    response = await client.get(USERS, params={"filter": 'userName eq "u2500"'}, headers=scim_auth)
    assert response.json()["totalResults"] == 1
    (page,) = [sql for sql in sql_log if "user_name_ci" in sql]
    return await _plan(page, engine_name)


async def _plan(sql: str, engine_name: str) -> str:
    """The plan of `sql`; on SQLite, on the loop's own read connection, the one that serves
    requests (each connection plans with the statistics it has loaded)."""
    engine = current_engine()
    if engine_name == "postgresql":
        rows = await engine.run_ddl(f"EXPLAIN {sql}")
        return " ".join(str(value) for row in rows for value in row.values())
    assert isinstance(engine, ReusingSQLiteEngine)
    plan = engine._reader().execute(f"EXPLAIN QUERY PLAN {sql}")
    return " ".join(detail for _id, _parent, _unused, detail in plan)


async def _create(client, scim_auth, count: int) -> None:
    for _ in range(count):
        body = {"schemas": [CORE], "userName": f"{uuid.uuid4()}@x.test"}
        assert (await client.post(USERS, json=body, headers=scim_auth)).status_code == 201


async def _bulk_names(engine_name: str, tenant: TenantRecord) -> None:
    """For every user written by `_bulk_users`, the `user_value` rows of an Entra-shaped
    user's name and title: `name.familyName` (distinct), `name.givenName`, `name.formatted`
    and the title "Engineer" (all alike). With only the familyName's rows, the statistics
    told SQLite that the (tenant, attr, sub) prefix was selective; with a real user's rows
    it walked the tenant instead and sorted it."""
    random_id = "gen_random_uuid()" if engine_name == "postgresql" else _SQLITE_UUID
    for attr, sub, value in [
        ("name", "familyname", "'F' || user_name"),
        ("name", "givenname", "'G'"),
        ("name", "formatted", "'G F' || user_name"),
        ("title", "", "'Engineer'"),
    ]:
        await current_engine().run_ddl(
            'INSERT INTO user_value (id, tenant, "user", attr, entry, sub, value, value_ci) '  # noqa: S608
            f"SELECT {random_id}, tenant, id, '{attr}', 0, '{sub}', {value}, lower({value}) "
            f"FROM app_user WHERE tenant = '{tenant.id}'"
        )


async def _grow_and_analyze(client, scim_auth, monkeypatch, *grow) -> None:
    """The tenant grown behind the services' back (`grow`, in order), then 5 users created
    through SCIM (their token checks open the loop's reader first): the fifth starts the
    keeper's ANALYZE, which has ended when this returns."""
    monkeypatch.setattr(statistics, "FIRST", 5)
    monkeypatch.setattr(statistics, "STATISTICS", statistics.Statistics())
    monkeypatch.setattr("definewtf.services.users.STATISTICS", statistics.STATISTICS)
    for step in grow:
        await step()
    await _create(client, scim_auth, 5)
    await statistics.STATISTICS.drain()


@pytest.fixture
async def grown_and_analyzed(client, scim_auth, acme, engine_name, monkeypatch) -> None:
    """The tenant grown by `BULK` users, analyzed (`_grow_and_analyze`)."""
    await _grow_and_analyze(
        client, scim_auth, monkeypatch, functools.partial(_bulk_users, engine_name, acme)
    )


async def test_lookups_use_the_unique_index_once_a_sync_has_grown_the_tenant(
    client, scim_auth, sql_log, engine_name, grown_and_analyzed
) -> None:
    plan = await _lookup_plan(client, scim_auth, sql_log, engine_name)
    assert "app_user_tenant_user_name_ci" in plan, plan


async def test_searches_on_sqlite_plan_with_the_statistics_of_the_last_analyze(
    client, scim_auth, sql_log, engine_name, grown_and_analyzed
) -> None:
    """SQLite loads a connection's statistics when the connection reads the schema, and an
    ANALYZE elsewhere does not change the schema. The reader that serves searches had been
    opened before the sync's first ANALYZE and planned with the statistics of empty tables:
    a `co` page walked every user of the tenant in page order, keeping the trigram
    candidates (1.7-2.1 ms at 10,000 users), instead of reading the candidates by rowid
    (0.33 ms). The plan asked of that same connection, as it serves the next search."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL plans each statement with the catalog's statistics of the moment")
    sql_log.clear()
    response = await client.get(USERS, params={"filter": 'userName co "u250"'}, headers=scim_auth)
    assert response.json()["totalResults"] == 11  # u250, u2500-u2509
    (page,) = [sql for sql in sql_log if "MATCH" in sql]
    plan = await _plan(page, engine_name)
    assert "INTEGER PRIMARY KEY" in plan, plan
    assert "app_user_tenant_live_created_at" not in plan, plan


async def test_a_whole_listing_on_sqlite_is_counted_in_its_index_once_analyzed(
    client, scim_auth, sql_log, engine_name, grown_and_analyzed
) -> None:
    """Told by the statistics that `tenant = ?` names every user (one tenant), SQLite
    counted a page's total by reading the whole table, attributes and all: 4.6 ms at 10,000
    users against 0.7 ms in the (tenant, created_at, id) index of the visible users."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL counts in an index by itself (index-only scan)")
    sql_log.clear()
    response = await client.get(USERS, params={"count": 100}, headers=scim_auth)
    assert response.json()["totalResults"] == BULK + 5
    (count,) = [sql for sql in sql_log if "COUNT(*)" in sql]
    assert (
        await _plan(count, engine_name)
        == "SEARCH app_user USING INDEX app_user_tenant_live_created_at (tenant=?)"
    )


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize(
    ("sort_by", "index", "value"),
    [
        ("userName", "app_user_tenant_user_name_ci", lambda user: user["userName"].lower()),
        ("meta.created", "app_user_tenant_live_created_at", lambda user: user["meta"]["created"]),
    ],
)
async def test_a_listing_sorted_by_a_column_never_null_walks_its_index(
    client, scim_auth, sql_log, engine_name, grown_and_analyzed, order, sort_by, index, value
) -> None:
    """`sortBy=userName` ordered by `(user_name_ci IS NULL), user_name_ci`: the NULL test,
    computed per row, kept both engines from the (tenant, user_name_ci) index, and every page
    sorted the whole tenant (17.9 ms against 6.0 ms for a page in creation order at 10,000
    users on PostgreSQL; 22 ms against 0.06 ms for SQLite's page query at 100,000). A column
    that is never NULL has no NULLs to put last; nor has the creation time, which every
    write sets (92 ms for `sortBy=meta.created` at 100,000 users, 14 ms in creation order)."""
    sql_log.clear()
    params = {"count": 100, "sortBy": sort_by, "sortOrder": order}
    response = await client.get(USERS, params=params, headers=scim_auth)
    values = [value(user) for user in response.json()["Resources"]]
    assert values == sorted(values, reverse=order == "descending")
    (page,) = [sql for sql in sql_log if "ORDER BY" in sql and "LIMIT" in sql]
    plan = await _plan(page, engine_name)
    assert index in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # SQLite: no sort of the rows read
    # PostgreSQL: no Sort node (an Incremental Sort of the index's order is fine: it orders
    # rows of one value, of which there are few).
    assert not re.search(r"(?<!Incremental )Sort  \(cost", plan), plan


@pytest.mark.parametrize("order", ["ascending", "descending"])
async def test_a_listing_sorted_by_a_single_valued_attribute_walks_its_values_index(
    client, scim_auth, sql_log, acme, engine_name, monkeypatch, order
) -> None:
    """`sortBy=name.familyName` ordered every user of the tenant by a subquery computed per
    user, then sorted them all: 1.1-1.4 s for the first page at 100,000 users on PostgreSQL
    (4.9 ms walked in the index). The page's ids are read in the (tenant, attr, sub,
    value_ci) index of `user_value`, in its order."""
    await _grow_and_analyze(
        client,
        scim_auth,
        monkeypatch,
        functools.partial(_bulk_users, engine_name, acme),
        functools.partial(_bulk_names, engine_name, acme),
    )
    sql_log.clear()
    params = {"count": 100, "sortBy": "name.familyName", "sortOrder": order}
    response = await client.get(USERS, params=params, headers=scim_auth)
    names = [user["userName"] for user in response.json()["Resources"]]
    expected = sorted((f"u{n}" for n in range(1, BULK + 1)), reverse=order == "descending")
    assert names == expected[:100]
    (walk,) = [sql for sql in sql_log if "sort_value" in sql]
    plan = await _plan(walk, engine_name)
    assert "user_value_tenant_attr_ci" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # SQLite: no sort of the rows read
    assert not re.search(r"(?<!Incremental )Sort  \(cost", plan), plan  # PostgreSQL


async def test_the_tables_are_analyzed_again_as_they_grow(
    client, scim_auth, engine_name, monkeypatch
) -> None:
    monkeypatch.setattr(statistics, "FIRST", 4)
    keeper = statistics.Statistics()
    monkeypatch.setattr("definewtf.services.users.STATISTICS", keeper)
    runs: list[tuple[str, ...]] = []
    original = statistics._analyze

    async def counted(tables: tuple[str, ...]) -> None:
        runs.append(tables)
        await original(tables)

    monkeypatch.setattr(statistics, "_analyze", counted)
    await _create(client, scim_auth, 3)
    await keeper.drain()
    assert runs == []
    await _create(client, scim_auth, 1)  # 4: the first
    await keeper.drain()
    assert runs == [statistics.USER_TABLES]
    await _create(client, scim_auth, 3)  # 3 since the first: under max(FIRST, 50% of 4)
    await keeper.drain()
    assert len(runs) == 1
    await _create(client, scim_auth, 1)  # 4 more since the first: the second
    await keeper.drain()
    assert len(runs) == 2
    if engine_name == "sqlite":
        stats = await current_engine().run_ddl("SELECT tbl FROM sqlite_stat1")
        assert "app_user" in {row["tbl"] for row in stats}  # (an empty table gets no row)
    else:
        rows = await current_engine().run_ddl(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('app_user', 'user_value')"
        )
        assert {row["relname"]: row["reltuples"] for row in rows}["app_user"] >= 8


async def test_group_members_are_analyzed_as_groups_grow(
    client, scim_auth, engine_name, monkeypatch
) -> None:
    """GraphQL's role and group loaders read group_member by user; believing it empty, the
    planner scanned it by group: a page of 100 users took 108 ms at 100,000 users in a
    50,000-member group, 37 ms at 10,000."""
    monkeypatch.setattr(statistics, "FIRST", 6)
    keeper = statistics.Statistics()
    monkeypatch.setattr("definewtf.services.groups.STATISTICS", keeper)
    ids = []
    for _ in range(6):
        body = {"schemas": [CORE], "userName": f"{uuid.uuid4()}@x.test"}
        ids.append((await client.post(USERS, json=body, headers=scim_auth)).json()["id"])
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Everyone",
        "members": [{"value": user_id} for user_id in ids],
    }
    response = await client.post("/api/scim/Groups", json=group, headers=scim_auth)
    assert response.status_code == 201, response.text
    await keeper.drain()
    if engine_name == "sqlite":
        stats = await current_engine().run_ddl("SELECT tbl FROM sqlite_stat1")
        assert "group_member" in {row["tbl"] for row in stats}
    else:
        rows = await current_engine().run_ddl(
            "SELECT reltuples FROM pg_class WHERE relname = 'group_member'"
        )
        assert rows[0]["reltuples"] >= 6
