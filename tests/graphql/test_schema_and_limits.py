"""The checked-in schema.graphql is the schema the code serves; abusive queries are refused
with a GraphQL error before any resolver runs."""

from __future__ import annotations

import dataclasses

import httpx
from strawberry.extensions.validation_cache import _get_validate_cache

from definewtf.app import create_app
from graphql_api.export import SCHEMA_FILE, schema_text
from graphql_api.limits import MAX_ALIASES, MAX_TOKENS


def test_schema_graphql_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "schema.graphql is stale: run `python -m graphql_api.export` and commit it"
    )


async def refused(client, admin_key, query: str) -> str:
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {admin_key}"}
    )
    assert response.status_code in (200, 400), response.text
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]
    return " ".join(e["message"] for e in body["errors"])


async def test_a_normal_admin_query_passes(client, admin_key) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": "{ users(first: 100) { totalCount edges { node { userName } } } "
            "viewer { label } }"
        },
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert "errors" not in response.json()


async def test_a_query_is_validated_once(client, admin_key) -> None:
    """The console sends the same documents all day: the second one is answered from the
    validation cache (the limits' rules are the same classes on every request), and a refused
    document is refused again from it."""
    cache = _get_validate_cache(256)
    query = "{ viewer { label } users(first: 7) { totalCount } }"
    headers = {"Authorization": f"Bearer {admin_key}"}
    first = await client.post("/graphql", json={"query": query}, headers=headers)
    hits = cache.cache_info().hits
    again = await client.post("/graphql", json={"query": query}, headers=headers)
    assert again.json() == first.json()
    assert "errors" not in again.json()
    assert cache.cache_info().hits == hits + 1
    deep = "{ viewer { roles " + "{ x " * 12 + "}" * 12 + " } }"
    assert "depth" in (await refused(client, admin_key, deep)).lower()
    assert "depth" in (await refused(client, admin_key, deep)).lower()


async def test_alias_limit(client, admin_key) -> None:
    query = "{ " + " ".join(f"a{i}: viewer {{ label }}" for i in range(MAX_ALIASES + 5)) + " }"
    assert "alias" in (await refused(client, admin_key, query)).lower()


async def test_token_limit(client, admin_key) -> None:
    query = "{ viewer { " + " ".join("label" for _ in range(MAX_TOKENS)) + " } }"
    assert "token" in (await refused(client, admin_key, query)).lower()


async def test_cost_multiplies_by_first(client, admin_key) -> None:
    """Refused by cost in validation, before the resolver's own page-size check runs."""
    query = "{ users(first: 100000) { edges { node { userName active email } } } }"
    assert "cost" in (await refused(client, admin_key, query)).lower()


async def test_depth_limit(client, admin_key) -> None:
    nested = "{ viewer { roles " + "{ x " * 12 + "}" * 12 + " } }"
    assert "depth" in (await refused(client, admin_key, nested)).lower()


async def test_graphiql_is_served_in_development_only(settings) -> None:
    html = {"Accept": "text/html"}
    for environment, served in (("development", True), ("production", False)):
        app = create_app(dataclasses.replace(settings, environment=environment))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),  # starts and stops what the app runs beside requests
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as c,
        ):
            page = await c.get("/graphql", headers=html)
        assert ("graphiql" in page.text.lower()) is served, (environment, page.status_code)
        if not served:
            assert page.status_code >= 400
