"""The schema itself: tenant-first indexes, and uniqueness decided by the database."""

from __future__ import annotations

import sqlite3
import uuid

import asyncpg
import pytest

from definewtf.clock import utcnow
from definewtf.db import current_engine
from definewtf.services.tenants import TenantRecord
from definewtf.tables import ALL_TABLES, Tenant, User
from definewtf.text import fold


async def _indexes(engine_name: str) -> dict[str, list[str]]:
    """index name → its columns in order, for every table of ours."""
    engine = current_engine()
    names = {table._meta.tablename for table in ALL_TABLES}
    result: dict[str, list[str]] = {}
    if engine_name == "postgresql":
        rows = await engine.run_ddl(
            """
            SELECT i.relname AS index, t.relname AS table, a.attname AS column, k.n AS position
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) ON TRUE
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE NOT x.indisprimary
            ORDER BY i.relname, k.n
            """
        )
        for row in rows:
            if row["table"] in names:
                result.setdefault(row["index"], []).append(row["column"])
    else:
        for table in names:
            for index in await engine.run_ddl(f"PRAGMA index_list('{table}')"):
                if index["origin"] == "pk":
                    continue
                columns = await engine.run_ddl(f"PRAGMA index_info('{index['name']}')")
                result[index["name"]] = [
                    c["name"] for c in sorted(columns, key=lambda c: c["seqno"])
                ]
    return result


async def test_every_lookup_index_begins_with_the_tenant(client, engine_name) -> None:
    indexes = await _indexes(engine_name)
    assert len(indexes) >= 15  # the migration's composite indexes are all there
    # The tenant table's own slug index cannot start with a tenant; nor can PostgreSQL's
    # trigram indexes for substring searches usefully (m0011 says why, with its measurement).
    # (The users' one, m0016, is over an expression: this query does not list it.)
    exceptions = {"app_group_display_name_trgm": ["display_name_ci"]}
    offenders = {
        name: columns
        for name, columns in indexes.items()
        if columns[0] != "tenant" and columns != ["slug"] and exceptions.get(name) != columns
    }
    assert offenders == {}


def user_row(tenant_id: uuid.UUID, name: str) -> User:
    """A user row written straight to the table, bypassing the services' checks."""
    now = utcnow()
    return User(
        tenant=tenant_id,
        user_name=name,
        user_name_ci=fold(name),
        created_at=now,
        updated_at=now,
        attributes={},
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [("bjensen", "BJensen"), ("Straße", "STRASSE"), ("ÉLODIE", "élodie"), ("ǅemal", "ǆemal")],
)
async def test_user_name_is_unique_per_tenant_case_insensitively_by_the_database(
    client, acme: TenantRecord, first: str, second: str
) -> None:
    """The unique index on (tenant, user_name_ci) itself refuses the second spelling."""
    await User.insert(user_row(acme.id, first))
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await User.insert(user_row(acme.id, second))


async def test_the_same_user_name_is_free_in_another_tenant(client, acme, globex) -> None:
    for tenant in (acme, globex):
        await User.insert(user_row(tenant.id, "same"))
    assert await User.count().where(User.user_name_ci == "same") == 2


async def test_deleting_a_tenant_cascades_to_its_rows(client, acme: TenantRecord) -> None:
    await User.insert(user_row(acme.id, "x"))
    await Tenant.delete().where(Tenant.id == acme.id)
    assert await User.count().where(User.tenant == acme.id) == 0


async def test_an_idp_update_of_a_synced_user_stays_on_its_page_on_postgresql(
    client, acme: TenantRecord, scim_auth, engine_name, many_acme_users
) -> None:
    """After an initial sync every page of users is full; an update whose new version finds
    no room on the row's page is not HOT and adds an entry to each of the table's seven
    indexes (m0013). With the room m0013 keeps, a PATCH's new version stays on the page."""
    if engine_name != "postgresql":
        pytest.skip("fillfactor is PostgreSQL's")
    engine = current_engine()
    # Several pages of small users, packed as an IdP's sync leaves them.
    await many_acme_users(500)
    (first,) = await engine.run_ddl(
        "SELECT id, ctid::text AS ctid FROM app_user WHERE ctid = '(0,1)'"
    )
    (last_page,) = await engine.run_ddl("SELECT max((ctid::text::point)[0]) AS page FROM app_user")
    assert last_page["page"] >= 2  # page 0 was filled before the next one was begun
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Senior Engineer"}],
    }
    response = await client.patch(f"/api/scim/Users/{first['id']}", json=patch, headers=scim_auth)
    assert response.status_code == 200, response.text
    (after,) = await engine.run_ddl(
        f"SELECT ctid::text AS ctid FROM app_user WHERE id = '{first['id']}'"  # noqa: S608
    )
    assert after["ctid"] != first["ctid"]  # a new version was written …
    assert after["ctid"].startswith("(0,"), after  # … on the row's own page
