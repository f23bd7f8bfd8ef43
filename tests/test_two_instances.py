"""Revocation reaches every worker at once: two app instances on one database.

Instance A is the in-process app (`client`); instance B is a separate uvicorn process with its
own verification cache. Both have verified (and cached) the token before it is revoked
through A; B must refuse it on its very next request.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def second_instance(cli_env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "definewtf.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"second instance did not start: {process.stderr.read()!r}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=10)


async def test_revocation_through_one_instance_is_seen_by_the_other_at_once(
    client, admin_key, scim_token, second_instance
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

        response = await b.get("/api/scim/Users", headers=scim)
        assert response.status_code == 401
        assert response.json()["status"] == "401"
        assert (await client.get("/api/scim/Users", headers=scim)).status_code == 401
