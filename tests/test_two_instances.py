"""Revocation reaches every worker at once: two app instances on one database.

Instance A is the in-process app (`client`); instance B is a separate uvicorn process with its
own verification cache. Both have verified (and cached) the token before it is revoked.

On SQLite B must refuse it on its very next request: every request after a commit reads the
row. On PostgreSQL B learns of it from the notification PostgreSQL sends at the commit, which
its event loop handles within milliseconds, racing any request sent meanwhile as a request in
flight at the commit would; the tests give it `PROPAGATION_S`, far below the 600 s a missed
notification would leave the token working (the verification cache's lifetime). A CI run on a
loaded machine once saw B serve a request sent 3 ms after A's response.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from definewtf.clock import utcnow
from definewtf.tables import ScimToken

#: How long B may take to refuse a token revoked elsewhere, on PostgreSQL.
PROPAGATION_S = 2.0


@pytest.fixture
def second_instance(uvicorn_server: str) -> str:
    return uvicorn_server


async def _refuses(b: httpx.AsyncClient, scim: dict[str, str], engine_name: str) -> None:
    """B refuses the token now (SQLite), or within `PROPAGATION_S` (PostgreSQL), and from
    then on."""
    deadline = time.monotonic() + (PROPAGATION_S if engine_name == "postgresql" else 0)
    while (response := await b.get("/api/scim/Users", headers=scim)).status_code == 200:
        assert time.monotonic() < deadline, "B still serves the revoked token"
        await asyncio.sleep(0.01)
    assert response.status_code == 401
    assert response.json()["status"] == "401"
    assert (await b.get("/api/scim/Users", headers=scim)).status_code == 401


async def test_revocation_through_one_instance_is_seen_by_the_other_at_once(
    client, admin_key, scim_token, second_instance, engine_name
) -> None:
    scim = {"Authorization": f"Bearer {scim_token}"}
    async with httpx.AsyncClient(base_url=second_instance, headers={"Host": "acme.localhost"}) as b:
        # Both instances have verified the token (and cached the verdict).
        for _ in range(2):
            assert (await client.get("/api/scim/Users", headers=scim)).status_code == 200
            assert (await b.get("/api/scim/Users", headers=scim)).status_code == 200

        listed = await client.post(
            "/graphql",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={"query": "{ scimTokens { id active } }"},
        )
        [token] = listed.json()["data"]["scimTokens"]
        revoked = await client.post(
            "/graphql",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={
                "query": "mutation($id: ID!) { revokeScimToken(id: $id) "
                "{ __typename ... on ScimToken { active } } }",
                "variables": {"id": token["id"]},
            },
        )
        assert revoked.json()["data"]["revokeScimToken"] == {
            "__typename": "ScimToken",
            "active": False,
        }

        # A bumped its own generation after the commit: it refuses at once on either engine.
        assert (await client.get("/api/scim/Users", headers=scim)).status_code == 401
        await _refuses(b, scim, engine_name)


async def test_a_revocation_by_sql_is_seen_by_a_served_instance_on_its_next_request(
    client, acme, scim_token, second_instance, database_url, engine_name
) -> None:
    """No service of either process is told: on PostgreSQL B learns it from the notification
    the trigger sends at the commit; on SQLite B reads the row."""
    scim = {"Authorization": f"Bearer {scim_token}"}
    async with httpx.AsyncClient(base_url=second_instance, headers={"Host": "acme.localhost"}) as b:
        for _ in range(3):
            assert (await b.get("/api/scim/Users", headers=scim)).status_code == 200
        await _revoke_behind_the_services_back(database_url, engine_name)
        await _refuses(b, scim, engine_name)


async def _revoke_behind_the_services_back(database_url: str, engine_name: str) -> None:
    if engine_name == "postgresql":
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("UPDATE scim_token SET revoked_at = $1", utcnow())
        finally:
            await connection.close()
    else:
        await ScimToken.update({ScimToken.revoked_at: utcnow()}, force=True)


async def test_requests_sent_after_a_revocation_are_refused_by_a_busy_instance(
    client, acme, scim_token, second_instance, database_url, engine_name
) -> None:
    """B serves 16 requests at a time while the token is revoked behind its back: every request
    sent once the revocation has committed (and, on PostgreSQL, B has refused one) is refused.
    On SQLite every request reads the data version (definewtf.revocations): a reading kept,
    for one request too many, shows here as on a busy instance only."""
    scim = {"Authorization": f"Bearer {scim_token}"}
    spc = "/api/scim/ServiceProviderConfig"
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=second_instance, headers={"Host": "acme.localhost"}, limits=limits
    ) as b:
        served: list[int] = []
        warmed_up = asyncio.Event()
        busy = True

        async def keep_busy() -> None:
            while busy:
                served.append((await b.get(spc, headers=scim)).status_code)
                if len(served) >= 200:
                    warmed_up.set()

        loaders = [asyncio.create_task(keep_busy()) for _ in range(16)]
        try:
            await asyncio.wait_for(warmed_up.wait(), timeout=60)
            assert set(served) == {200}
            await _revoke_behind_the_services_back(database_url, engine_name)
            if engine_name == "postgresql":
                await _refuses(b, scim, engine_name)
            after = await asyncio.gather(*(b.get(spc, headers=scim) for _ in range(16)))
        finally:
            busy = False
            await asyncio.gather(*loaders)
        assert [r.status_code for r in after] == [401] * 16
