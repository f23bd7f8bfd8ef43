"""Writes that read first and write only if nothing changed since (definewtf.writes and the
users service): a write that loses a race is applied again on what won, never over it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from uuid import uuid4

from definewtf.principals import CLI_ACTOR
from definewtf.services import audit, users
from definewtf.services.users import IndexedValue, UserData
from definewtf.sql import compare
from definewtf.tables import AuditEvent, User, UserValue
from definewtf.writes import Delete, Insert, Update, write_together


def _titled(title: str) -> Any:
    value = IndexedValue(attr="title", entry=0, sub="", value=title, value_ci=title.lower())

    def change(data: UserData) -> UserData:
        return replace(data, attributes={**data.attributes, "title": title}, values=(value,))

    return change


def _named(given: str) -> Any:
    def change(data: UserData) -> UserData:
        return replace(data, given_name=given, attributes={**data.attributes, "given": given})

    return change


async def _create(acme, security, name: str = "ada") -> users.UserRecord:
    return await users.create_user(
        tenant_id=acme.id, data=UserData(user_name=name), actor=CLI_ACTOR, security=security
    )


def _interrupted(monkeypatch, acme, security, user_id, races: int) -> list[bool]:
    """Make another writer change the user's givenName (to G1, G2, …) right after each of the
    first `races` unlocked reads of an update; the reads' `lock` flags, as they happen."""
    real_current = users._current
    reads: list[bool] = []

    async def racing(*args: Any, **kwargs: Any) -> Any:
        read = await real_current(*args, **kwargs)
        reads.append(kwargs.get("lock", False))
        if not kwargs.get("lock") and len(reads) <= races:
            monkeypatch.setattr(users, "_current", real_current)
            await users.update_user(
                tenant_id=acme.id,
                user_id=user_id,
                change=_named(f"G{len(reads)}"),
                actor=CLI_ACTOR,
                security=security,
            )
            monkeypatch.setattr(users, "_current", racing)
        return read

    monkeypatch.setattr(users, "_current", racing)
    return reads


async def _retitle(acme, security, user_id: Any) -> users.UserRecord:
    return await users.update_user(
        tenant_id=acme.id,
        user_id=user_id,
        change=_titled("Countess"),
        actor=CLI_ACTOR,
        security=security,
    )


async def _stored_user(user_id: Any) -> dict[str, Any]:
    [row] = await User.select(User.given_name, User.attributes, User.version).where(
        User.id == user_id
    )
    return {**row, "attributes": json.loads(row["attributes"])}


async def test_an_update_that_loses_a_race_is_applied_on_the_winners_state(
    client, acme, security, monkeypatch
) -> None:
    """Between this update's read and its write another update commits: the write finds the
    version moved, writes nothing, reads again and applies its change on top."""
    created = await _create(acme, security)
    reads = _interrupted(monkeypatch, acme, security, created.id, races=1)
    updated = await _retitle(acme, security, created.id)
    assert reads == [False, False]  # read, lost, read again
    assert updated.version == created.version + 2
    row = await _stored_user(created.id)
    assert row["given_name"] == "G1"
    assert row["attributes"]["title"] == "Countess"
    assert row["version"] == updated.version
    values = await UserValue.select(UserValue.value).where(UserValue.user == created.id)
    assert [v["value"] for v in values] == ["Countess"]  # written once, by the retry
    actions = await AuditEvent.select(AuditEvent.action).where(
        AuditEvent.target_id == str(created.id)
    )
    assert [a["action"] for a in actions].count("user.update") == 2


async def test_a_user_other_writers_keep_changing_is_updated_under_a_lock(
    client, acme, security, monkeypatch
) -> None:
    """Every optimistic try loses; the last try locks the row and writes."""
    created = await _create(acme, security)
    tries = users._OPTIMISTIC_ATTEMPTS
    reads = _interrupted(monkeypatch, acme, security, created.id, races=tries)
    updated = await _retitle(acme, security, created.id)
    assert reads == [False] * tries + [True]
    row = await _stored_user(created.id)
    assert row["given_name"] == f"G{tries}"
    assert row["attributes"]["title"] == "Countess"
    assert row["version"] == updated.version == created.version + tries + 1


async def test_a_gate_that_writes_nothing_writes_nothing_else(client, acme) -> None:
    """`write_together`: the rows after the first are written only if the first wrote."""
    nobody = uuid4()
    event = audit.event(tenant_id=acme.id, actor=CLI_ACTOR, action="user.update")
    values = Insert(
        UserValue,
        (UserValue.id, UserValue.tenant, UserValue.user, UserValue.attr, UserValue.value),
        [(uuid4(), acme.id, nobody, "title", "x")],
    )
    events = await AuditEvent.count()
    missing = Update(User, {User.given_name: "x"}, compare(User.id, "=", nobody))
    assert await write_together(missing, event, values) is False
    assert await AuditEvent.count() == events
    assert await UserValue.count() == 0


async def test_rows_written_together_keep_their_values(client, acme, security) -> None:
    """Rows of several parts, JSON and NULLs included, arrive as given (on PostgreSQL they
    travel as one array per column)."""
    created = await _create(acme, security)
    ids = [uuid4() for _ in range(3)]
    rows = [
        (ids[0], acme.id, created.id, "emails", 0, "value", "a@x.test", "a@x.test"),
        (ids[1], acme.id, created.id, "emails", 1, "value", "B@x.test", "b@x.test"),
        (ids[2], acme.id, created.id, "title", 0, "", "Ünïcode 'quoted'", "ünïcode 'quoted'"),
    ]
    columns = users._VALUE_COLUMNS  # (id, tenant, user, attr, entry, sub, value, value_ci)
    event = audit.event(
        tenant_id=acme.id,
        actor=CLI_ACTOR,
        action="user.update",
        before={"title": None},
        after={"title": ["a", {"b": 1}]},
    )
    touch = Update(User, {User.display_name: "Ada"}, compare(User.id, "=", created.id))
    assert await write_together(touch, event, Insert(UserValue, columns, rows)) is True
    stored = await UserValue.select(*columns).where(UserValue.user == created.id)
    assert sorted(tuple(row.values()) for row in stored) == sorted(rows)
    [logged] = await AuditEvent.select(AuditEvent.before, AuditEvent.after).where(
        AuditEvent.action == "user.update"
    )
    assert json.loads(logged["before"]) == {"title": None}
    assert json.loads(logged["after"]) == {"title": ["a", {"b": 1}]}
    gone = Delete(UserValue, compare(UserValue.tenant, "=", acme.id), UserValue.id, ids[:2])
    assert await write_together(touch, gone) is True
    assert [r["id"] for r in await UserValue.select(UserValue.id)] == [ids[2]]


async def test_recreating_a_deleted_user_restores_it_with_new_values(
    client, acme, security
) -> None:
    """The insert finds the userName taken by a soft-deleted user: that user comes back, with
    the new representation's values instead of its old ones."""
    title = IndexedValue(attr="title", entry=0, sub="", value="Old", value_ci="old")
    first = await users.create_user(
        tenant_id=acme.id,
        data=UserData(user_name="ada", values=(title,)),
        actor=CLI_ACTOR,
        security=security,
    )
    await users.delete_user(tenant_id=acme.id, user_id=first.id, actor=CLI_ACTOR)
    new_title = replace(title, value="New", value_ci="new")
    again = await users.create_user(
        tenant_id=acme.id,
        data=UserData(user_name="ADA", values=(new_title,)),
        actor=CLI_ACTOR,
        security=security,
    )
    assert again.id == first.id
    assert again.version == first.version + 2  # deleted, restored
    values = await UserValue.select(UserValue.value).where(UserValue.user == first.id)
    assert [v["value"] for v in values] == ["New"]
    [row] = await User.select(User.user_name, User.deleted_at, User.version)
    assert (row["user_name"], row["deleted_at"], row["version"]) == ("ADA", None, again.version)
