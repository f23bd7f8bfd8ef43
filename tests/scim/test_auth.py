"""Bearer authentication of the SCIM endpoint (RFC 7644 §2, DESIGN.md §4)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from definewtf.clock import utcnow
from definewtf.principals import CLI_ACTOR
from definewtf.security import ALPHABET, Security
from definewtf.services import tokens
from definewtf.services.tenants import TenantRecord
from definewtf.tables import ScimToken

USERS = "/api/scim/Users"


def assert_refused(response) -> None:
    """401, a SCIM error body, and a Bearer challenge."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "401"
    assert "detail" in body


async def test_a_valid_token_is_accepted(client, scim_auth) -> None:
    response = await client.get(USERS, headers=scim_auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/scim+json")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_scheme_name_is_case_insensitive(client, scim_token, scheme) -> None:
    response = await client.get(USERS, headers={"Authorization": f"{scheme} {scim_token}"})
    assert response.status_code == 200


async def test_a_missing_token_is_refused(client, scim_token) -> None:
    assert_refused(await client.get(USERS))


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Token {t}",
        "Bearer {t} extra",
        "{t}",
        "Bearer {t}x",
    ],
)
async def test_a_malformed_authorization_header_is_refused(client, scim_token, header) -> None:
    assert_refused(await client.get(USERS, headers={"Authorization": header.format(t=scim_token)}))


async def test_a_wrong_secret_with_a_known_prefix_is_refused(client, scim_token) -> None:
    tampered = scim_token[:-1] + ("a" if scim_token[-1] != "a" else "b")
    assert_refused(await client.get(USERS, headers={"Authorization": f"Bearer {tampered}"}))


async def test_an_unknown_token_is_refused_without_running_argon2(
    client, scim_token, security: Security
) -> None:
    before = security.hasher.verifications
    unknown = "Z" * 64
    assert_refused(await client.get(USERS, headers={"Authorization": f"Bearer {unknown}"}))
    assert security.hasher.verifications == before


async def test_a_revoked_token_is_refused_at_once_without_argon2(
    client, acme: TenantRecord, scim_token, scim_auth, security: Security
) -> None:
    assert (await client.get(USERS, headers=scim_auth)).status_code == 200
    [info] = await tokens.list_scim_tokens(tenant_id=acme.id, actor=CLI_ACTOR)
    await tokens.revoke_scim_token(tenant_id=acme.id, token_id=info.id, actor=CLI_ACTOR)
    before = security.hasher.verifications
    assert_refused(await client.get(USERS, headers=scim_auth))
    assert security.hasher.verifications == before


async def test_an_expired_token_is_refused(client, acme: TenantRecord, security: Security) -> None:
    """Expiry is checked on every request. The row is changed behind the services' back, so
    the test waits for PostgreSQL's notification to be handled, as a served request does by
    arriving through the event loop after it (tests/test_revocations.py)."""
    issued = await tokens.generate_scim_token(
        tenant_id=acme.id, actor=CLI_ACTOR, security=security, expires_in_days=1
    )
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert (await client.get(USERS, headers=auth)).status_code == 200
    await ScimToken.update({ScimToken.expires_at: utcnow() - timedelta(seconds=1)}).where(
        ScimToken.id == issued.info.id
    )
    await security.revocations.settled()
    assert_refused(await client.get(USERS, headers=auth))


async def test_regenerating_revokes_the_previous_token(
    client, acme: TenantRecord, scim_auth, security: Security
) -> None:
    new = await tokens.generate_scim_token(tenant_id=acme.id, actor=CLI_ACTOR, security=security)
    assert_refused(await client.get(USERS, headers=scim_auth))
    assert (
        await client.get(USERS, headers={"Authorization": f"Bearer {new.token}"})
    ).status_code == 200


async def test_an_overlap_keeps_the_previous_token_until_it_ends(
    client, acme: TenantRecord, scim_auth, security: Security
) -> None:
    new = await tokens.generate_scim_token(
        tenant_id=acme.id, actor=CLI_ACTOR, security=security, overlap_minutes=30
    )
    assert (await client.get(USERS, headers=scim_auth)).status_code == 200
    assert (
        await client.get(USERS, headers={"Authorization": f"Bearer {new.token}"})
    ).status_code == 200
    # The overlap ends: the old token's revocation time is reached.
    await ScimToken.update({ScimToken.revoked_at: utcnow() - timedelta(seconds=1)}).where(
        ScimToken.id != new.info.id
    )
    await security.revocations.settled()  # changed behind the services' back, as above
    assert_refused(await client.get(USERS, headers=scim_auth))


async def test_another_tenants_token_is_refused(client, globex, scim_auth) -> None:
    """acme's token on globex's host: 401, and the body says nothing about acme."""
    response = await client.get(USERS, headers={**scim_auth, "Host": "globex.localhost"})
    assert_refused(response)
    assert "acme" not in response.text.lower()


async def test_an_unknown_tenant_host_is_404(client, scim_auth) -> None:
    for host in ("nope.localhost", "evil.example.com", "localhost"):
        response = await client.get(USERS, headers={**scim_auth, "Host": host})
        assert response.status_code == 404, host
        assert response.json()["status"] == "404"


async def test_argon2_runs_once_per_token_per_process(
    client, scim_auth, security: Security
) -> None:
    before = security.hasher.verifications
    responses = await asyncio.gather(*(client.get(USERS, headers=scim_auth) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    for _ in range(5):
        assert (await client.get(USERS, headers=scim_auth)).status_code == 200
    assert security.hasher.verifications - before == 1


async def test_the_token_is_stored_only_as_an_argon2_hash(client, acme, scim_token) -> None:
    rows = await ScimToken.select().where(ScimToken.tenant == acme.id)
    assert len(rows) == 1
    assert rows[0]["secret_hash"].startswith("$argon2id$")
    assert rows[0]["prefix"] == scim_token[:12]
    assert scim_token not in str(rows)
    assert len(scim_token) == 64
    assert set(scim_token) <= set(ALPHABET)


async def test_last_used_at_is_kept_without_a_write_per_request(client, acme, scim_auth) -> None:
    async def last_used():
        row = (
            await ScimToken.select(ScimToken.last_used_at)
            .where(ScimToken.tenant == acme.id)
            .first()
        )
        return row["last_used_at"]

    assert await last_used() is None
    assert (await client.get(USERS, headers=scim_auth)).status_code == 200
    first = await last_used()
    assert first is not None
    assert abs((utcnow() - first).total_seconds()) < 5
    # Later requests within the write interval (60 s by default) don't write it again.
    await ScimToken.update({ScimToken.last_used_at: first - timedelta(hours=1)}).where(
        ScimToken.tenant == acme.id
    )
    for _ in range(3):
        assert (await client.get(USERS, headers=scim_auth)).status_code == 200
    assert await last_used() == first - timedelta(hours=1)


async def test_a_secret_shares_an_argon2_run_only_with_requests_for_the_same_token(
    client,
    acme: TenantRecord,
    globex: TenantRecord,
    scim_token: str,
    security: Security,
    monkeypatch,
) -> None:
    """Prefixes are unique per tenant only: globex's token here has acme's token's prefix and
    the hash of another secret. acme's secret presented on both hosts at once must not let
    globex's request in on the verification of acme's token that runs meanwhile."""
    other = scim_token[:12] + ("A" if scim_token[12] != "A" else "B") + scim_token[13:]
    await ScimToken.insert(
        ScimToken(
            tenant=globex.id,
            prefix=scim_token[:12],
            secret_hash=await security.hasher.hash(other),
            created_at=utcnow(),
        )
    )
    argon2 = security.hasher._hasher

    class SlowArgon2:
        def verify(self, secret_hash: str, secret: str) -> bool:
            time.sleep(0.2)  # in argon2's thread: the other request arrives meanwhile
            return argon2.verify(secret_hash, secret)

    monkeypatch.setattr(security.hasher, "_hasher", SlowArgon2())
    auth = {"Authorization": f"Bearer {scim_token}"}
    on_acme, on_globex = await asyncio.gather(
        client.get(USERS, headers=auth),
        client.get(USERS, headers={**auth, "Host": "globex.localhost"}),
    )
    assert on_acme.status_code == 200
    assert_refused(on_globex)
