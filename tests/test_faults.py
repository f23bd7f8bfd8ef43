"""Faults: the database going away under a running server, and the server stopping while
requests are in flight.

The outage is made by a TCP proxy between the server and PostgreSQL that drops every
connection and refuses new ones, then lets them through again: what a PostgreSQL restart or
fail-over looks like to the server, without restarting the PostgreSQL the rest of the suite
(and everyone else on the machine) is using.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from conftest import free_port, running_uvicorn

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class OutageProxy:
    """Forwards 127.0.0.1:`port` to the database; `down()` cuts every connection and refuses
    new ones until `up()`. Runs its own event loop in a thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.available = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._started.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()  # its self-pipe sockets, else a ResourceWarning in a later test

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.available:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def down(self) -> None:
        self.available = False
        self._loop.call_soon_threadsafe(self._cut)

    def up(self) -> None:
        self.available = True

    def __enter__(self) -> OutageProxy:
        self._thread.start()
        self._started.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._cut)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def scim_token_on_disk(cli_env: dict[str, str]) -> str:
    """Tenant `acme` and a SCIM token, made with the CLI like an operator would."""
    run = [str(Path(sys.executable).parent / "definewtf")]
    subprocess.run([*run, "tenant", "create", "acme"], env=cli_env, check=True, capture_output=True)
    issued = subprocess.run(
        [*run, "token", "generate", "acme"], env=cli_env, check=True, capture_output=True, text=True
    )
    return issued.stdout.strip()


@pytest.fixture
def through_proxy(cli_env: dict[str, str], engine_name: str) -> Iterator[tuple[dict, OutageProxy]]:
    if engine_name != "postgresql":
        pytest.skip("an embedded SQLite database cannot become unreachable")
    parts = urlsplit(cli_env["DATABASE_URL"])
    with OutageProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}"
        env = {**cli_env, "DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}
        yield env, proxy


def test_database_outage_is_a_clean_503_and_recovery_needs_no_restart(
    through_proxy: tuple[dict, OutageProxy], scim_token_on_disk: str, tmp_path: Path
) -> None:
    env, proxy = through_proxy
    headers = {"Authorization": f"Bearer {scim_token_on_disk}", "Host": "acme.localhost"}
    with (
        running_uvicorn(env, tmp_path / "server.log") as base,
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
    ):
        assert client.get("/api/scim/Users").status_code == 200

        proxy.down()
        during = [
            client.post("/api/scim/Users", json={"schemas": [CORE], "userName": f"o{i}@x.test"})
            for i in range(3)
        ] + [client.get("/api/scim/Users"), client.get("/readyz")]
        for response in during[:4]:
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"].isdigit()
            assert response.json()["schemas"] == [ERROR]
            assert response.json()["status"] == "503"
        assert during[4].status_code == 503
        graphql = client.post("/graphql", json={"query": "{ tenant { slug } }"})
        assert graphql.status_code == 503

        proxy.up()
        deadline = time.monotonic() + 20
        while (answer := client.get("/api/scim/Users")).status_code != 200:
            # A pooled connection that died with the outage fails once, cleanly, then is
            # replaced.
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        created = client.post("/api/scim/Users", json={"schemas": [CORE], "userName": "a@x.test"})
        assert created.status_code == 201
        # Nothing sent during the outage was half-written.
        assert client.get("/api/scim/Users").json()["totalResults"] == 1
    lines = [
        json.loads(line)
        for line in (tmp_path / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    statuses = [line["status"] for line in lines if line["msg"] == "request"]
    assert 503 in statuses
    assert 500 not in statuses
    assert not [line for line in lines if line["level"] == "error"]


def test_stopping_lets_in_flight_requests_finish(
    cli_env: dict[str, str], scim_token_on_disk: str, tmp_path: Path
) -> None:
    """SIGTERM while a request is being received: uvicorn stops accepting, answers it, then
    exits; the write is kept."""
    headers = {
        "Authorization": f"Bearer {scim_token_on_disk}",
        "Host": "acme.localhost",
        "Content-Type": "application/scim+json",
    }
    body = f'{{"schemas": ["{CORE}"], "userName": "late@x.test"}}'.encode()
    log_path = tmp_path / "server.log"
    with running_uvicorn(cli_env, log_path) as base:
        pid = _server_pid(log_path)
        halfway = threading.Event()
        result: dict[str, httpx.Response] = {}

        def send() -> None:
            def slow_body() -> Iterator[bytes]:
                yield body[:10]
                halfway.set()
                time.sleep(1.0)  # SIGTERM arrives now
                yield body[10:]

            with httpx.Client(base_url=base, timeout=30) as client:
                result["response"] = client.post(
                    "/api/scim/Users",
                    content=slow_body(),
                    headers={**headers, "Content-Length": str(len(body))},
                )

        sender = threading.Thread(target=send)
        sender.start()
        assert halfway.wait(10)
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        sender.join(30)
        assert result["response"].status_code == 201, result["response"].text
    assert "Finished server process" in log_path.read_text()


def _server_pid(log_path: Path) -> int:
    for line in log_path.read_text().splitlines():
        if "Started server process [" in line:
            return int(line.split("[", 1)[1].split("]", 1)[0])
    raise AssertionError(log_path.read_text())
