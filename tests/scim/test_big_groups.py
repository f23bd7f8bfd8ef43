"""Groups of thousands written in one request: POST, PUT and PATCH with more members than one
SQL statement may bind (PostgreSQL: 32,767 parameters; SQLite: 32,766). They were a 503
("retry shortly", forever) on PostgreSQL and a 500 on SQLite."""

from __future__ import annotations

import uuid

from definewtf.clock import utcnow
from definewtf.tables import GroupMember, User
from definewtf.text import fold

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MEMBERS = 6_000  # x 6 parameters per group_member row: over both engines' limits


async def _seed_users(tenant_id: uuid.UUID, n: int) -> list[str]:
    now = utcnow()
    rows = [
        User(
            tenant=tenant_id,
            user_name=f"m{i}@x.test",
            user_name_ci=fold(f"m{i}@x.test"),
            active=True,
            attributes={},
            version=1,
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]
    for start in range(0, n, 1000):
        await User.insert(*rows[start : start + 1000])
    return [str(row.id) for row in rows]


async def test_thousands_of_members_in_one_request(client, scim_auth, acme) -> None:
    ids = await _seed_users(acme.id, MEMBERS)
    created = await client.post(
        "/api/scim/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Everyone",
            "members": [{"value": i} for i in ids],
        },
        headers=scim_auth,
    )
    assert created.status_code == 201, created.text[:300]
    group_id = created.json()["id"]
    assert await GroupMember.count().where(GroupMember.group == group_id) == MEMBERS

    half = ids[: MEMBERS // 2]
    replaced = await client.put(
        f"/api/scim/Groups/{group_id}",
        json={
            "schemas": [GROUP],
            "displayName": "Everyone",
            "members": [{"value": i} for i in half],
        },
        headers=scim_auth,
    )
    assert replaced.status_code == 200, replaced.text[:300]
    kept = await GroupMember.select(GroupMember.user).where(GroupMember.group == group_id)
    assert {str(row["user"]) for row in kept} == set(half)

    removed = await client.patch(
        f"/api/scim/Groups/{group_id}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "remove", "path": "members", "value": [{"value": i} for i in half]}
            ],
        },
        headers=scim_auth,
    )
    assert removed.status_code in (200, 204), removed.text[:300]
    assert await GroupMember.count().where(GroupMember.group == group_id) == 0

    unknown = [*ids[:10], str(uuid.uuid4())]
    refused = await client.patch(
        f"/api/scim/Groups/{group_id}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": i} for i in batch]}
                for batch in (ids, unknown)
            ],
        },
        headers=scim_auth,
    )
    assert refused.status_code == 400  # one unknown member: nothing of the request applies
    assert await GroupMember.count().where(GroupMember.group == group_id) == 0
