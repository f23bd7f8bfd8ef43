"""Substring searches (`co`, `sw`, `ew`) of userName and a group's displayName, on both
engines: on SQLite they look only at the rows an FTS5 trigram index names (m0014), so these
tests check that the index keeps up with every write, and that what it narrows to is exactly
what LIKE alone would match."""

from __future__ import annotations

import pytest

from definewtf.db import ReusingSQLiteEngine, current_engine
from definewtf.piccolo_migrations import m0014_substring_search_sqlite as m0014
from definewtf.piccolo_migrations import m0018_trigram_tokens_only as m0018
from definewtf.sql import prefix_successor
from definewtf.trigrams import TRIGRAM_TABLES

USERS, GROUPS = "/api/scim/Users", "/api/scim/Groups"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

NAMES = [
    "o'brien@x.test",
    'say"hi"@x.test',
    "100%_sure@x.test",
    "1000sure@x.test",
    "Straße@x.test",
    "STRASSE.two@x.test",
    "ab",
]
POPULATION = 400


async def _user_names(client, auth, expression: str) -> list[str]:
    response = await client.get(USERS, params={"filter": expression, "count": "100"}, headers=auth)
    assert response.status_code == 200, (expression, response.text)
    body = response.json()
    assert body["totalResults"] == len(body.get("Resources", [])), expression
    return sorted(r["userName"] for r in body.get("Resources", []))


async def _create(client, auth, user_name: str) -> dict:
    return await _create_with(client, auth, {"schemas": [USER], "userName": user_name})


async def _index_is_consistent(engine_name: str) -> None:
    """FTS5's own check of an external-content index against its table (raises if not)."""
    if engine_name == "sqlite":
        for index in set(TRIGRAM_TABLES.values()):
            await current_engine().run_ddl(
                f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)"  # noqa: S608
            )


async def test_substring_searches_of_user_names(client, scim_auth, acme, engine_name) -> None:
    for name in NAMES:
        await _create(client, scim_auth, name)
    cases = {
        # wildcards and quotes are literal characters of the phrase and of the pattern
        'userName co "%_s"': ["100%_sure@x.test"],
        'userName co "00%"': ["100%_sure@x.test"],
        'userName sw "100"': ["100%_sure@x.test", "1000sure@x.test"],
        'userName co "\'bri"': ["o'brien@x.test"],
        'userName co "y\\"hi\\""': ['say"hi"@x.test'],
        # folded: ß is ss, case does not matter
        'userName sw "STRASS"': ["STRASSE.two@x.test", "Straße@x.test"],
        'userName co "raße@"': ["Straße@x.test"],
        'userName ew "SURE@X.TEST"': ["100%_sure@x.test", "1000sure@x.test"],
        # shorter than a trigram: searched without the index
        'userName co "b"': ["ab", "o'brien@x.test"],
        'userName ew "ab"': ["ab"],
        'userName co "zzz"': [],
    }
    found = {expression: await _user_names(client, scim_auth, expression) for expression in cases}
    assert found == cases
    await _index_is_consistent(engine_name)


async def test_the_index_follows_renames_deletes_and_restores(
    client, scim_auth, acme, engine_name
) -> None:
    user = await _create(client, scim_auth, "old.name@x.test")
    kept = await _create(client, scim_auth, "kept.name@x.test")
    put = {"schemas": [USER], "userName": "New.Name@x.test"}
    response = await client.put(f"{USERS}/{user['id']}", json=put, headers=scim_auth)
    assert response.status_code == 200, response.text
    assert await _user_names(client, scim_auth, 'userName co "old.na"') == []
    assert await _user_names(client, scim_auth, 'userName co "new.na"') == ["New.Name@x.test"]
    # A PATCH that leaves the name as it is (every PATCH rewrites the folded name).
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Boss"}],
    }
    response = await client.patch(f"{USERS}/{kept['id']}", json=patch, headers=scim_auth)
    assert response.status_code == 200, response.text
    # Soft delete, then restored by a create of the same name.
    response = await client.delete(f"{USERS}/{user['id']}", headers=scim_auth)
    assert response.status_code == 204
    assert await _user_names(client, scim_auth, 'userName co ".name@"') == ["kept.name@x.test"]
    await _create(client, scim_auth, "new.name@x.test")
    assert await _user_names(client, scim_auth, 'userName co ".name@"') == [
        "kept.name@x.test",
        "new.name@x.test",
    ]
    await _index_is_consistent(engine_name)
    # An operator's hard delete, outside the service.
    await current_engine().run_ddl(f"DELETE FROM app_user WHERE id = '{kept['id']}'")  # noqa: S608
    assert await _user_names(client, scim_auth, 'userName co ".name@"') == ["new.name@x.test"]
    await _index_is_consistent(engine_name)


async def test_the_trigram_indexes_made_again_without_positions_find_older_rows(
    client, scim_auth, acme, engine_name, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m0018 makes m0014's indexes again with `detail=column`: the rows written before it
    are found after it, and the searches' queries (every trigram of the value) are answered
    by the indexes of both."""
    if engine_name != "sqlite":
        pytest.skip("the FTS5 trigram indexes are SQLite's")
    engine = current_engine()
    if not isinstance(engine, ReusingSQLiteEngine) or not engine.has_table("app_user_trgm"):
        pytest.skip("this SQLite has no FTS5 trigram tokenizer")
    for (index, _, _), (create_as_m0014, *_) in zip(m0018.INDEXES, m0014.INDEXES, strict=True):
        await engine.run_ddl(f"DROP TABLE {index}")
        await engine.run_ddl(create_as_m0014)
    for name in NAMES:
        await _create(client, scim_auth, name)
    group = {"schemas": [GROUP], "displayName": "Older Engineers"}
    assert (await client.post(GROUPS, json=group, headers=scim_auth)).status_code == 201
    searches = {
        'userName co "y\\"hi\\""': ['say"hi"@x.test'],
        'userName co "raße@"': ["Straße@x.test"],
        'userName ew "SURE@X.TEST"': ["100%_sure@x.test", "1000sure@x.test"],
    }
    assert {e: await _user_names(client, scim_auth, e) for e in searches} == searches

    monkeypatch.setattr(m0018, "engine_finder", lambda: engine)
    await m0018._remake()

    for index, _, _ in m0018.INDEXES:
        sql = f"SELECT sql FROM sqlite_master WHERE name = '{index}'"  # noqa: S608
        (row,) = await engine.run_ddl(sql)
        assert "detail='column'" in row["sql"], row
    assert {e: await _user_names(client, scim_auth, e) for e in searches} == searches
    found = await client.get(
        GROUPS, params={"filter": 'displayName co "older eng"'}, headers=scim_auth
    )
    assert [g["displayName"] for g in found.json()["Resources"]] == ["Older Engineers"]
    await _index_is_consistent(engine_name)


async def test_substring_searches_of_group_names(client, scim_auth, acme, engine_name) -> None:
    ids = {}
    for name in ("Engineering", "Sales Engineers", "Finance"):
        response = await client.post(
            GROUPS, json={"schemas": [GROUP], "displayName": name}, headers=scim_auth
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    response = await client.delete(f"{GROUPS}/{ids['Finance']}", headers=scim_auth)
    assert response.status_code == 204
    put = {"schemas": [GROUP], "displayName": "Platform Engineering"}
    response = await client.put(f"{GROUPS}/{ids['Engineering']}", json=put, headers=scim_auth)
    assert response.status_code == 200, response.text
    found = {}
    for expression in (
        'displayName co "ENGINEER"',
        'displayName sw "plat"',
        'displayName co "nance"',
    ):
        response = await client.get(GROUPS, params={"filter": expression}, headers=scim_auth)
        assert response.status_code == 200, response.text
        found[expression] = sorted(g["displayName"] for g in response.json().get("Resources", []))
    assert found == {
        'displayName co "ENGINEER"': ["Platform Engineering", "Sales Engineers"],
        'displayName sw "plat"': ["Platform Engineering"],
        'displayName co "nance"': [],
    }
    await _index_is_consistent(engine_name)


async def _sqlite_plan_of_search(client, auth, sql_log, expression: str) -> str:
    """SQLite's plan of the page of `expression`, which must find `someone7@x.test` alone
    among `POPULATION` users: enough that walking them costs more than reading an index's
    few (the planner walks a handful of users, rightly)."""
    for index in range(POPULATION):
        await _create(client, auth, f"someone{index}@x.test")
    await current_engine().run_ddl("ANALYZE")
    sql_log.clear()
    assert await _user_names(client, auth, expression) == ["someone7@x.test"]
    (page,) = [sql for sql in sql_log if "user_name_ci" in sql]
    rows = await current_engine().run_ddl(f"EXPLAIN QUERY PLAN {page}")
    return " ".join(str(row["detail"]) for row in rows)


async def test_a_substring_search_reads_the_trigram_index_on_sqlite(
    client, scim_auth, sql_log, engine_name
) -> None:
    """Without m0014 (or without `definewtf.trigrams` naming it), SQLite's plan for the page
    of `userName co "…"` walks every user of the tenant and matches each. With it, and with
    the statistics `definewtf.statistics` keeps after a sync, it reads the matching rows by
    rowid: 73 µs against 1.6 ms for a page of 11 among 10,000 users."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL's planner finds its trigram index itself (test_filter_indexes)")
    plan = await _sqlite_plan_of_search(client, scim_auth, sql_log, 'userName co "one7@"')
    assert "SCAN app_user_trgm VIRTUAL TABLE" in plan, plan
    assert "SEARCH app_user USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("user1", "user2"),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
        ("x\ud7ff", "x\ue000"),  # the surrogates are never stored: skipped
        ("\U0010ffff", None),
        ("", None),
    ],
)
def test_the_least_string_after_every_string_with_a_prefix(
    prefix: str, successor: str | None
) -> None:
    assert prefix_successor(prefix) == successor


async def test_a_prefix_search_keeps_the_matches_at_the_ends_of_its_range(
    client, scim_auth, acme, engine_name
) -> None:
    """`sw` on userName reads the (tenant, user_name_ci) btree from the prefix to its
    successor: a prefix ending in the last code point, or in the one before the surrogates,
    must still find every user whose name begins with it, and only those."""
    names = ["ab\U0010ffffc@x.test", "ab\ud7ffz@x.test", "ab\ue000@x.test", "ac@x.test", "ab"]
    for name in names:
        await _create(client, scim_auth, name)
    cases = {
        'userName sw "ab\U0010ffff"': ["ab\U0010ffffc@x.test"],
        'userName sw "ab\ud7ff"': ["ab\ud7ffz@x.test"],
        'userName sw "ab"': sorted(name for name in names if name.startswith("ab")),
        'userName sw "a"': sorted(names),
        'userName sw "AB"': sorted(name for name in names if name.startswith("ab")),
    }
    found = {expression: await _user_names(client, scim_auth, expression) for expression in cases}
    assert found == cases


async def test_a_prefix_search_reads_the_user_name_btree_on_sqlite(
    client, scim_auth, sql_log, engine_name
) -> None:
    """SQLite uses no index for a LIKE on a BINARY column (`case_sensitive_like` is off), so
    `userName sw` went through the FTS5 trigram table, where a prefix every user shares names
    every user. As a range it reads the (tenant, user_name_ci) btree."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL: test_filter_indexes checks the range in its plan")
    plan = await _sqlite_plan_of_search(client, scim_auth, sql_log, 'userName sw "someone7@"')
    btree = "app_user_tenant_user_name_ci (tenant=? AND user_name_ci>? AND user_name_ci<?)"
    assert f"USING INDEX {btree}" in plan, plan
    assert "app_user_trgm" not in plan, plan


CONSOLE_SEARCH = """query($f: UserFilter) { users(first: 100, filter: $f) {
  totalCount edges { node { userName } } } }"""


async def test_the_console_search_reads_the_indexes(
    client, scim_auth, graphql, admin_key, sql_log, engine_name, many_acme_users
) -> None:
    """The admin console searches userName *or* the primary email: an OR uses indexes only if
    both sides have one (m0014 on SQLite; on PostgreSQL one index holds both, m0016); without
    them every keystroke read every user of the tenant (3.6 ms at 10,000 users on
    PostgreSQL). On PostgreSQL the plan is checked while new users' trigrams wait in the
    index's pending list, as they do right after a sync (m0016 turned the list back on)."""
    for index in range(30):
        body = {
            "schemas": [USER],
            "userName": f"person{index}",
            "emails": [{"value": f"mail{index}@corp.test", "primary": True}],
        }
        await _create_with(client, scim_auth, body)

    assert await _console_search(graphql, admin_key, "IL17@CORP") == [
        "person17"
    ]  # by the email alone
    assert await _console_search(graphql, admin_key, "SON17") == [
        "person17"
    ]  # by the userName alone
    # A tenant big enough for the planners to prefer the indexes to walking its users.
    await many_acme_users(20000 if engine_name == "postgresql" else 5000)
    engine = current_engine()
    await engine.run_ddl("ANALYZE")
    await _late_users(client, scim_auth, engine_name)
    sql_log.clear()
    assert await _console_search(graphql, admin_key, "U1234@X") == ["u1234@x.test"]
    assert await _console_search(graphql, admin_key, "LATE0@CORP") == ["late0"]
    page = next(sql for sql in sql_log if "email_ci" in sql and "LIKE" in sql)
    if engine_name == "postgresql":
        rows = await engine.run_ddl(f"EXPLAIN {page}")
        plan = "\n".join(row["QUERY PLAN"] for row in rows)
        assert "app_user_search_trgm" in plan, plan
        assert "Seq Scan on app_user" not in plan, plan
    else:
        rows = await engine.run_ddl(f"EXPLAIN QUERY PLAN {page}")
        plan = " ".join(str(row["detail"]) for row in rows)
        assert "MULTI-INDEX OR" in plan, plan
        assert plan.count("SCAN app_user_trgm VIRTUAL TABLE") == 2, plan


async def _late_users(client, auth, engine_name: str) -> None:
    """Users `late<i>@corp.test` written after the statistics; on PostgreSQL, until the users'
    trigram index has entries in its pending list (pgstattuple's view of it): one write may
    be the one that merges the list."""
    engine = current_engine()
    if engine_name == "postgresql":
        await engine.run_ddl("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    for index in range(5):
        emails = [{"value": f"late{index}@corp.test"}]
        await _create_with(
            client, auth, {"schemas": [USER], "userName": f"late{index}", "emails": emails}
        )
        if engine_name != "postgresql":
            return
        [stats] = await engine.run_ddl(
            "SELECT pending_tuples FROM pgstatginindex('app_user_search_trgm')"
        )
        if stats["pending_tuples"] > 0:
            return
    raise AssertionError("the trigram index has no pending list (fastupdate is off?)")


async def test_the_index_follows_a_changed_email(
    client, scim_auth, graphql, admin_key, engine_name
) -> None:
    body = {"schemas": [USER], "userName": "dana", "emails": [{"value": "old@corp.test"}]}
    created = await _create_with(client, scim_auth, body)
    body["emails"] = [{"value": "new@corp.test"}]
    response = await client.put(f"{USERS}/{created['id']}", json=body, headers=scim_auth)
    assert response.status_code == 200, response.text

    assert await _console_search(graphql, admin_key, "old@corp") == []
    assert await _console_search(graphql, admin_key, "new@corp") == ["dana"]
    await _index_is_consistent(engine_name)


async def _create_with(client, auth, body: dict) -> dict:
    response = await client.post(USERS, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


async def _console_search(graphql, key: str, text: str) -> list[str]:
    response = await graphql(key, CONSOLE_SEARCH, {"f": {"search": text}})
    return [edge["node"]["userName"] for edge in response.json()["data"]["users"]["edges"]]


async def test_searches_on_sqlite_keep_their_prepared_statements(
    client, scim_auth, graphql, admin_key, engine_name
) -> None:
    """SQLite plans a LIKE whose pattern is a bare bound parameter for the value bound (its
    LIKE optimization), so binding the next search's pattern expired the prepared statement
    and every search prepared its statements again: a `co` search on one worker at 10,000
    users took 1,216-1,246 us of the server's CPU, 1,026-1,057 us with the pattern inside an
    expression. The optimization never applies to our columns (BINARY, and LIKE ignores
    case), so no plan is lost. SQLite counts each statement's preparations again in
    `sqlite_stmt` (reprep), asked of the connection that served the searches."""
    if engine_name != "sqlite":
        pytest.skip("PostgreSQL plans a prepared statement's parameters by its own rules")
    engine = current_engine()
    assert isinstance(engine, ReusingSQLiteEngine)
    reader = engine._reader()
    if not reader.execute("SELECT 1 FROM pragma_module_list WHERE name = 'sqlite_stmt'").fetchall():
        pytest.skip("this SQLite is built without the sqlite_stmt table")
    user = {
        "schemas": [USER],
        "userName": "pat@x.test",
        "title": "Engineer",
        "emails": [{"value": "pat@x.test", "type": "work"}],
    }
    await _create_with(client, scim_auth, user)
    group = {"schemas": [GROUP], "displayName": "Engineers"}
    assert (await client.post(GROUPS, json=group, headers=scim_auth)).status_code == 201
    for value in ("pat", "at@", "xyz"):  # the same statements, new patterns
        for expression in (
            f'userName co "{value}"',
            f'userName sw "{value}"',
            f'userName ew "{value}"',
            f'emails co "{value}"',
            f'title sw "{value}"',
        ):
            await _user_names(client, scim_auth, expression)
        groups = await client.get(
            GROUPS, params={"filter": f'displayName co "{value}"'}, headers=scim_auth
        )
        assert groups.status_code == 200
        search = "query($s: String) { users(filter: {search: $s}) { totalCount } }"
        assert "errors" not in (await graphql(admin_key, search, {"s": value})).json()
    searches = reader.execute(
        "SELECT sql, reprep FROM sqlite_stmt WHERE sql LIKE '% LIKE %' AND run > 1"
    ).fetchall()
    # co and ew of userName share a statement, as do the two value filters, and userName sw
    # is a range without LIKE: four in all.
    assert len(searches) >= 4, searches
    assert [(sql, reprep) for sql, reprep in searches if reprep] == [], searches


async def _every_page(client, auth, expression: str, sort: dict[str, str]) -> dict:
    """(startIndex, count) -> (totalResults, userNames) of every page the search may be asked."""
    pages = {}
    for start in (1, 2, 5, 7, 8, 11, 12, 20, 21, 30):
        for count in (1, 4, 7, 100):
            params = {"filter": expression, "startIndex": str(start), "count": str(count), **sort}
            response = await client.get(USERS, params=params, headers=auth)
            assert response.status_code == 200, (params, response.text)
            body = response.json()
            names = [r["userName"] for r in body.get("Resources", [])]
            pages[start, count] = (body["totalResults"], names)
    return pages


@pytest.mark.parametrize(
    "sort", [{}, {"sortBy": "userName", "sortOrder": "descending"}], ids=["created", "userName"]
)
async def test_a_search_naming_more_users_than_a_page_pages_like_any_other(
    client, scim_auth, acme, many_acme_users, sort
) -> None:
    """A search planned once reads its first page among as many rows as the page holds and
    one more, and a search that names more than the page holds is read again, planned for
    its pattern (`definewtf.services.paging`). Whichever way a page is read, it holds the
    users every other page would, with the same total. The expected pages come from the
    unfiltered listing, matched here."""
    await many_acme_users(20)  # u1@x.test … u20@x.test, in creation order
    listing = await client.get(USERS, params={"count": "100", **sort}, headers=scim_auth)
    everyone = [r["userName"] for r in listing.json()["Resources"]]
    for phrase in ("x.test", "u1", "u2", "u17"):  # 20, 11, 2 and 1 matches
        matches = [name for name in everyone if phrase in name]
        pages = await _every_page(client, scim_auth, f'userName co "{phrase}"', sort)
        for (start, count), (total, names) in pages.items():
            assert total == len(matches), (phrase, start, count)
            assert names == matches[start - 1 : start - 1 + count], (phrase, start, count)
