"""Writes of several rows together (definewtf.writes): all of them or none, gated on the
first, with their values as given; and the users service's create that finds its userName
taken by a soft-deleted user."""

from __future__ import annotations

import json
from dataclasses import replace
from uuid import uuid4

import pytest

from definewtf.errors import PreconditionFailed
from definewtf.principals import CLI_ACTOR
from definewtf.services import audit, users
from definewtf.services.users import IndexedValue, UserData
from definewtf.sql import compare
from definewtf.tables import AuditEvent, User, UserValue
from definewtf.writes import Delete, Insert, Update, write_together


async def _create(acme, security, name: str = "ada") -> users.UserRecord:
    return await users.create_user(
        tenant_id=acme.id, data=UserData(user_name=name), actor=CLI_ACTOR, security=security
    )


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


def _renamed(data: UserData, given_name: str) -> UserData:
    """A change of the given name, as the SCIM facade makes it (the column and the
    representation: an update compares representations)."""
    name = {**data.attributes.get("name", {}), "givenName": given_name}
    return replace(data, given_name=given_name, attributes={**data.attributes, "name": name})


def _race_once(monkeypatch, acme, security, winner) -> list[str]:
    """Make the first unlocked read of an update lose a race: right after it, `winner` (a
    change) is applied to the same user through the service, and committed. Returns a log of
    the reads (`unlocked`, `locked`)."""
    reads: list[str] = []
    real = users._current

    async def current(tenant_id, user_id, if_match, *, locked):
        first = not reads
        reads.append("locked" if locked else "unlocked")
        found = await real(tenant_id, user_id, if_match, locked=locked)
        if first:
            await users.update_user(
                tenant_id=acme.id,
                user_id=user_id,
                change=winner,
                actor=CLI_ACTOR,
                security=security,
            )
        return found

    monkeypatch.setattr(users, "_current", current)
    return reads


async def test_an_update_that_loses_a_race_is_applied_to_the_winners_user(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """An update reads without a lock and writes at the version it read (on SQLite too: its
    write is one call to the writer thread). If another write lands in between, nothing of
    the loser is written; it reads the user again, locked, and applies its change to what
    the winner left: both changes stay, one version each, one audit event each, and the
    searchable values are the final representation's."""
    title = IndexedValue(attr="title", entry=0, sub="", value="Old", value_ci="old")
    created = await users.create_user(
        tenant_id=acme.id,
        data=UserData(user_name="ada", attributes={"title": "Old"}, values=(title,)),
        actor=CLI_ACTOR,
        security=security,
    )
    reads = _race_once(monkeypatch, acme, security, lambda data: _renamed(data, "Winner"))
    seen: list[str | None] = []

    def retitle(data: UserData) -> UserData:
        seen.append(data.given_name)
        new = replace(title, value="New", value_ci="new")
        return replace(data, attributes={**data.attributes, "title": "New"}, values=(new,))

    updated = await users.update_user(
        tenant_id=acme.id, user_id=created.id, change=retitle, actor=CLI_ACTOR, security=security
    )
    assert reads == ["unlocked", "unlocked", "locked"]  # ours, the winner's, ours again
    assert seen == [None, "Winner"]  # the change ran on the stale user, then on the winner's
    assert (updated.given_name, updated.attributes["title"]) == ("Winner", "New")
    assert updated.version == created.version + 2
    stored = await users.get_user(tenant_id=acme.id, user_id=created.id, actor=CLI_ACTOR)
    assert stored == replace(updated, groups=None)
    values = await UserValue.select(UserValue.value).where(UserValue.user == created.id)
    assert [v["value"] for v in values] == ["New"]
    actions = await AuditEvent.select(AuditEvent.action).where(
        AuditEvent.target_id == str(created.id)
    )
    assert sorted(a["action"] for a in actions) == ["user.create", "user.update", "user.update"]


async def test_an_if_match_update_that_loses_a_race_is_refused(
    client, acme, security, engine_name, monkeypatch
) -> None:
    """The ETag the caller sent matched when the user was read, but another write landed
    before ours: 412, and nothing of ours is written."""
    created = await _create(acme, security)
    reads = _race_once(monkeypatch, acme, security, lambda data: _renamed(data, "Winner"))
    with pytest.raises(PreconditionFailed):
        await users.update_user(
            tenant_id=acme.id,
            user_id=created.id,
            change=lambda data: _renamed(data, "Loser"),
            actor=CLI_ACTOR,
            security=security,
            if_match=created.version,
        )
    assert reads == ["unlocked", "unlocked", "locked"]
    stored = await users.get_user(tenant_id=acme.id, user_id=created.id, actor=CLI_ACTOR)
    assert stored.given_name == "Winner"
    assert stored.version == created.version + 1
