"""What a lookup costs the database once the tenant and token are known (issue 6): IdPs send
hundreds of thousands of `filter=userName eq` requests in an initial sync, each of which used
to read the tenant, the token, count and select (and, on PostgreSQL, reset the connection
after each). The token's row is remembered until PostgreSQL notifies a change of the tenant's
tokens, or, on SQLite, until anything is committed (definewtf.revocations): after a write,
SQLite reads it once more."""

from __future__ import annotations

import asyncio
import json
import time
from uuid import UUID

import pytest

from definewtf.db import current_engine
from definewtf.tables import AuditEvent, UserValue

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def _without_token_reads(statements: list[str], engine_name: str) -> list[str]:
    """The statements but the read of the (already verified) token's row: none on
    PostgreSQL, at most one on SQLite (after a commit)."""
    token = [sql for sql in statements if 'FROM "scim_token"' in sql]
    assert len(token) <= (0 if engine_name == "postgresql" else 1), token
    return [sql for sql in statements if sql not in token]


async def test_a_lookup_is_the_token_and_the_page_with_the_groups(
    client, scim_auth, sql_log, engine_name
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
        return _without_token_reads(list(seen), engine_name)

    [missing] = await statements("nobody@x.test")  # Entra's and Okta's "does it exist?"
    assert "app_user" in missing
    [found] = await statements("a@x.test")  # the user's groups are read in its statement
    assert "group_member" in found
    response = await client.get(
        "/api/scim/Users", params={"filter": 'userName eq "a@x.test"'}, headers=scim_auth
    )
    [user] = response.json()["Resources"]
    assert [group["display"] for group in user["groups"]] == ["Alpha", "Zeta"]
    assert not any('FROM "tenant"' in sql or "COUNT" in sql.upper() for sql in (missing, found))


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
    reads = _reads(sql_log)
    user_reads = [sql for sql in reads if 'FROM "app_user"' in sql or "FROM app_user" in sql]
    assert len(user_reads) == 1, user_reads  # the user, its groups and values in it
    assert all("app_user" in sql for sql in reads if "group_member" in sql), reads
    got = await client.get(f"/api/scim/Users/{created.json()['id']}", headers=scim_auth)
    assert got.json() == response.json()


async def test_a_create_does_not_read_the_new_users_groups(
    client, scim_auth, sql_log, engine_name
) -> None:
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
    # Nothing is read: the insert itself finds whether the userName is taken.
    assert _without_token_reads(_reads(sql_log), engine_name) == [], sql_log
    # A new user has no searchable values yet: they are inserted, nothing is deleted.
    [write] = _value_writes(sql_log)
    assert "DELETE" not in write.upper(), write


def _reads(log: list[str]) -> list[str]:
    """The statements that only read (SQLite's `SELECT changes()` after a write is none)."""
    return [
        sql for sql in log if sql.lstrip().upper().startswith("SELECT") and "changes()" not in sql
    ]


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def _stored_values(user_id: str) -> dict[tuple[str, str, int], tuple[str, str]]:
    """(attr, sub, entry) → (row id, value) of the user's `user_value` rows."""
    rows = await UserValue.select(
        UserValue.id, UserValue.attr, UserValue.sub, UserValue.entry, UserValue.value
    ).where(UserValue.user == UUID(user_id))
    return {(r["attr"], r["sub"], r["entry"]): (str(r["id"]), r["value"]) for r in rows}


def _value_writes(log: list[str]) -> list[str]:
    return [sql for sql in log if "user_value" in sql and not sql.lstrip().startswith("SELECT")]


async def _found(client, scim_auth, expression: str) -> int:
    response = await client.get("/api/scim/Users", params={"filter": expression}, headers=scim_auth)
    assert response.status_code == 200, response.text
    return int(response.json()["totalResults"])


async def _replace(client, scim_auth, user_id: str, path: str, value: object):
    response = await client.patch(
        f"/api/scim/Users/{user_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        },
        headers=scim_auth,
    )
    assert response.status_code == 200, response.text
    return response


async def test_an_update_rewrites_only_the_searchable_values_that_changed(
    client, scim_auth, sql_log
) -> None:
    """Entra's attribute sync changes a title: one `user_value` row goes and one comes, the
    others (and their index entries) stay as they are; a deactivation (a column) writes none."""
    created = await client.post(
        "/api/scim/Users",
        json={
            "schemas": [CORE, ENTERPRISE],
            "userName": "a@x.test",
            "title": "Engineer",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x.test", "primary": True}, {"value": "ada@y.test"}],
            ENTERPRISE: {"department": "R&D"},
        },
        headers=scim_auth,
    )
    user_id = created.json()["id"]
    before = await _stored_values(user_id)
    response = await _replace(client, scim_auth, user_id, "title", "Architect")
    after = await _stored_values(user_id)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {("title", "", 0)}, changed
    assert after[("title", "", 0)][1] == "Architect"
    assert await _found(client, scim_auth, 'title eq "Architect"') == 1
    assert await _found(client, scim_auth, 'title eq "Engineer"') == 0
    assert await _found(client, scim_auth, 'emails.value eq "ada@y.test"') == 1
    assert await _found(client, scim_auth, f'{ENTERPRISE}:department eq "R&D"') == 1

    sql_log.clear()
    response = await _replace(client, scim_auth, user_id, "active", False)
    assert response.json()["active"] is False
    assert _value_writes(sql_log) == []
    assert await _stored_values(user_id) == after


async def test_a_replacement_that_drops_attributes_drops_their_values(client, scim_auth) -> None:
    created = await client.post(
        "/api/scim/Users",
        json={
            "schemas": [CORE],
            "userName": "a@x.test",
            "title": "Engineer",
            "emails": [{"value": "a@x.test"}, {"value": "b@x.test"}],
        },
        headers=scim_auth,
    )
    user_id = created.json()["id"]
    response = await client.put(
        f"/api/scim/Users/{user_id}",
        json={"schemas": [CORE], "userName": "a@x.test", "emails": [{"value": "b@x.test"}]},
        headers=scim_auth,
    )
    assert response.status_code == 200, response.text
    stored = await _stored_values(user_id)
    assert {key: value for key, (_, value) in stored.items()} == {
        ("emails", "value", 0): "b@x.test"
    }
    assert await _found(client, scim_auth, "title pr") == 0
    assert await _found(client, scim_auth, 'emails.value eq "a@x.test"') == 0
    assert await _found(client, scim_auth, 'emails.value eq "b@x.test"') == 1


async def test_a_whole_tenant_page_is_counted_beside_its_read(
    client, scim_auth, engine_name, monkeypatch
) -> None:
    """An admin paging through every user: on PostgreSQL the page's total is counted on a
    second connection while the page is read (latency of one statement, not two); SQLite
    reads on the event loop, one statement after the other."""
    for index in range(3):
        created = await client.post(
            "/api/scim/Users",
            json={"schemas": [CORE], "userName": f"u{index}@x.test"},
            headers=scim_auth,
        )
        assert created.status_code == 201
    engine = current_engine()
    original = type(engine).run_querystring
    spans: list[tuple[str, float, float]] = []

    async def slowed(self, querystring, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        await asyncio.sleep(0.05)
        result = await original(self, querystring, *args, **kwargs)
        spans.append((str(querystring), started, time.monotonic()))
        return result

    monkeypatch.setattr(type(engine), "run_querystring", slowed)
    response = await client.get("/api/scim/Users?count=2", headers=scim_auth)
    assert response.json()["totalResults"] == 3
    assert len(response.json()["Resources"]) == 2
    [count] = [span for span in spans if "COUNT(" in span[0].upper()]
    [page] = [span for span in spans if "app_user" in span[0] and span is not count]
    overlapped = page[1] < count[2] and count[1] < page[2]
    assert overlapped == (engine_name == "postgresql")


async def test_a_write_its_audit_event_and_values_are_one_statement(
    client, scim_auth, sql_log, engine_name, monkeypatch
) -> None:
    """An IdP's sync is a POST per user and its attribute sync a PATCH per user: on PostgreSQL
    the user's row, its audit event and its searchable values are written by one statement
    (data-modifying WITHs). A POST is that statement alone, with no transaction around it; a
    PATCH is the read of the user and that statement, written at the version read, with no
    transaction either (`users.update_user`; tests/test_writes.py loses it a race)."""
    if engine_name != "postgresql":
        pytest.skip("SQLite's statements run in process: it runs them in a transaction")

    def written(write: str) -> str:
        [statement] = [sql for sql in sql_log if "audit_event" in sql]
        assert statement.startswith(f'WITH written AS ({write} "app_user"'), statement
        assert 'INSERT INTO "user_value"' in statement, statement
        return statement

    engine = current_engine()
    transactions = 0
    original = type(engine).transaction

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1
        return original(self, *args, **kwargs)

    await client.get("/api/scim/ServiceProviderConfig", headers=scim_auth)  # token known
    sql_log.clear()
    monkeypatch.setattr(type(engine), "transaction", counted)
    created = await client.post(
        "/api/scim/Users",
        json={"schemas": [CORE], "userName": "a@x.test", "title": "Engineer"},
        headers=scim_auth,
    )
    assert len(_without_token_reads(sql_log, engine_name)) == 1, sql_log
    written("INSERT INTO")
    assert transactions == 0
    sql_log.clear()
    user_id = created.json()["id"]
    await _replace(client, scim_auth, user_id, "title", "Architect")
    assert len(_without_token_reads(sql_log, engine_name)) == 2, sql_log
    assert 'DELETE FROM "user_value"' in written("UPDATE")
    assert transactions == 0
    events = (
        await AuditEvent.select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
        .where(AuditEvent.target_id == user_id)
        .order_by(AuditEvent.id)
    )
    assert [e["action"] for e in events] == ["user.create", "user.update"]
    change = (json.loads(events[1]["before"]), json.loads(events[1]["after"]))
    assert change == ({"title": "Engineer"}, {"title": "Architect"})
    assert await _found(client, scim_auth, 'title eq "Architect"') == 1
    assert await _found(client, scim_auth, 'title eq "Engineer"') == 0
