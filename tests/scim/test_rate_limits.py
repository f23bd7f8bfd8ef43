"""Rate limits: per tenant and per credential (429, `Retry-After`, a SCIM error body; GraphQL
too), and wrong secrets for a known token prefix throttled before they cost argon2 runs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from definewtf.app import create_app
from definewtf.principals import CLI_ACTOR
from definewtf.security import Hasher
from definewtf.services import api_keys, tenants, tokens
from definewtf.settings import RateLimits, Settings

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclasses.dataclass
class World:
    client: httpx.AsyncClient
    token: str
    overlap_token: str
    other_tenant_token: str


async def _world(settings: Settings, limits: RateLimits) -> AsyncIterator[World]:
    app = create_app(dataclasses.replace(settings, rate_limits=limits))
    security = app.state.runtime.security
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as client,
    ):
        acme = await tenants.create_tenant(slug="acme", actor=CLI_ACTOR)
        globex = await tenants.create_tenant(slug="globex", actor=CLI_ACTOR)
        first = await tokens.generate_scim_token(
            tenant_id=acme.id, actor=CLI_ACTOR, security=security
        )
        second = await tokens.generate_scim_token(
            tenant_id=acme.id, actor=CLI_ACTOR, security=security, overlap_minutes=60
        )
        other = await tokens.generate_scim_token(
            tenant_id=globex.id, actor=CLI_ACTOR, security=security
        )
        yield World(client, first.token, second.token, other.token)


def _bearer(token: str, host: str = "acme.localhost") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Host": host}


async def _statuses(world: World, headers: dict[str, str], n: int) -> list[int]:
    return [
        (await world.client.get("/api/scim/Users", headers=headers)).status_code for _ in range(n)
    ]


async def test_a_credential_over_its_rate_gets_429_with_retry_after(settings: Settings) -> None:
    limits = RateLimits(tenant_per_second=0, credential_per_second=1)  # bursts of 2
    async for world in _world(settings, limits):
        assert await _statuses(world, _bearer(world.token), 2) == [200, 200]
        refused = await world.client.get("/api/scim/Users", headers=_bearer(world.token))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        body = refused.json()
        assert body["schemas"] == [ERROR]
        assert body["status"] == "429"
        assert "too many requests" in body["detail"]
        # Another credential of the same tenant, and another tenant, are not held back.
        assert await _statuses(world, _bearer(world.overlap_token), 2) == [200, 200]
        assert await _statuses(world, _bearer(world.other_tenant_token, "globex.localhost"), 1) == [
            200
        ]


async def test_a_tenant_over_its_rate_gets_429_whatever_the_token(settings: Settings) -> None:
    limits = RateLimits(tenant_per_second=1, credential_per_second=0)
    async for world in _world(settings, limits):
        assert await _statuses(world, _bearer(world.token), 2) == [200, 200]
        assert await _statuses(world, _bearer(world.overlap_token), 1) == [429]
        # Floods without a valid token count against the tenant too (and never reach argon2).
        assert await _statuses(world, _bearer("nope"), 1) == [429]
        assert await _statuses(world, _bearer(world.other_tenant_token, "globex.localhost"), 1) == [
            200
        ]


async def test_graphql_is_limited_per_credential_too(settings: Settings) -> None:
    limits = RateLimits(tenant_per_second=0, credential_per_second=1)
    async for world in _world(settings, limits):
        security = world.client._transport.app.state.runtime.security  # type: ignore[attr-defined]
        issued = await api_keys.create_admin(
            email="admin@acme.test", tenant_slug="acme", actor=CLI_ACTOR, security=security
        )
        query = {"query": "{ viewer { label } }"}
        answers = [
            await world.client.post("/graphql", json=query, headers=_bearer(issued.key))
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1


async def test_wrong_secrets_for_a_known_prefix_are_throttled_before_argon2(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifications = 0
    real_verify = Hasher.verify

    async def counting(self: Hasher, secret_hash: str, secret: str) -> bool:
        nonlocal verifications
        verifications += 1
        return await real_verify(self, secret_hash, secret)

    monkeypatch.setattr(Hasher, "verify", counting)
    limits = RateLimits(failed_secret_burst=3, failed_secret_per_second=0.01)
    async for world in _world(settings, limits):
        assert await _statuses(world, _bearer(world.token), 1) == [200]  # verified, remembered
        prefix = world.token[:12]
        guesses = [prefix + "x" * (len(world.token) - 12 - len(str(i))) + str(i) for i in range(6)]
        answers = [
            (await world.client.get("/api/scim/Users", headers=_bearer(g))).status_code
            for g in guesses
        ]
        assert answers == [401, 401, 401, 429, 429, 429]
        assert verifications == 1 + 3  # the real token once, then only the first 3 guesses
        # The IdP holding the real token is not locked out by someone guessing.
        assert await _statuses(world, _bearer(world.token), 1) == [200]


async def test_the_defaults_let_an_idp_burst_through(settings: Settings) -> None:
    async for world in _world(settings, RateLimits()):
        assert set(await _statuses(world, _bearer(world.token), 300)) == {200}
