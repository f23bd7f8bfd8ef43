"""The service owns the transaction: a failure half-way through leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from definewtf.db import write_transaction
from definewtf.principals import CLI_ACTOR
from definewtf.services import audit, tenants, users
from definewtf.services.users import UserData
from definewtf.tables import AuditEvent, Role, Tenant, User


class Boom(Exception):
    pass


async def test_a_failure_half_way_through_create_tenant_leaves_nothing(client, monkeypatch) -> None:
    """create_tenant inserts the tenant, then its roles, then the audit event; the audit
    write fails: neither the tenant nor its roles may remain."""

    async def failing_record(**_: object) -> None:
        assert await Tenant.count().where(Tenant.slug == "halfway") == 1  # written so far
        raise Boom

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(Boom):
        await tenants.create_tenant(slug="halfway", actor=CLI_ACTOR)
    assert await Tenant.count() == 0
    assert await Role.count() == 0


async def test_a_failure_half_way_through_create_user_leaves_nothing(
    client, acme, security, monkeypatch
) -> None:
    async def failing_record(**_: object) -> None:
        raise Boom

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(Boom):
        await users.create_user(
            tenant_id=acme.id, data=UserData(user_name="ghost"), actor=CLI_ACTOR, security=security
        )
    assert await User.count() == 0


async def test_nested_write_transactions_join_the_outer_one(client, acme, security) -> None:
    with pytest.raises(Boom):  # noqa: PT012 - the block is the transaction under test
        async with write_transaction():
            await users.create_user(
                tenant_id=acme.id,
                data=UserData(user_name="inner"),
                actor=CLI_ACTOR,
                security=security,
            )
            raise Boom
    assert await User.count() == 0


async def test_concurrent_write_transactions_all_commit(client, acme, security) -> None:
    """Read-then-write transactions under concurrency: no "database is locked" on SQLite, no
    lost write on PostgreSQL."""

    async def create(i: int) -> None:
        await users.create_user(
            tenant_id=acme.id, data=UserData(user_name=f"c{i}"), actor=CLI_ACTOR, security=security
        )

    await asyncio.gather(*(create(i) for i in range(40)))
    assert await User.count() == 40
    assert await AuditEvent.count().where(AuditEvent.action == "user.create") == 40
