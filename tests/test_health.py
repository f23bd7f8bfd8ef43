from __future__ import annotations


async def test_healthz_answers_on_any_host(client) -> None:
    for host in ("acme.localhost", "localhost", "whatever.example"):
        response = await client.get("/healthz", headers={"Host": host})
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client, app) -> None:
    assert (await client.get("/readyz")).status_code == 200


async def test_every_response_carries_a_request_id(client) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 100})
    assert hostile.headers["x-request-id"] != "a b\tc" + "x" * 100
    assert len(hostile.headers["x-request-id"]) == 32
