"""The `definewtf` command-line contract, through real subprocesses on the test database.

Commands that issue a secret print it alone on stdout (one line); everything else goes to
stderr; failures exit non-zero (2 for invalid input, 1 otherwise). HTTP checks go through the
in-process app (`client` fixture, same database) or through real uvicorn subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client.mmap_dict import MmapedDict

from definewtf.app import create_served_app
from definewtf.security import Security

BIN = Path(sys.executable).parent
DEFINEWTF = shutil.which("definewtf", path=str(BIN)) or str(BIN / "definewtf")
SECRET_LINE = re.compile(r"[A-Za-z0-9]{64}\n")
SLUG_RULE = "1-63 lowercase letters, digits and '-'"
USERS_QUERY = "{ users(first: 10) { totalCount edges { node { userName } } } }"
CREATE_NEWCO = 'mutation { createTenant(slug: "newco") { __typename ... on Tenant { slug } } }'
SERVER_START_TIMEOUT = 20.0
DEMO_PORT = 8000


def definewtf(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DEFINEWTF, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def secret_of(result: subprocess.CompletedProcess[str]) -> str:
    """The secret a command printed; asserts the contract: exit 0, one line, nothing else."""
    assert result.returncode == 0, result.stderr
    assert SECRET_LINE.fullmatch(result.stdout), repr(result.stdout)
    return result.stdout[:-1]


def create_tenant(env: dict[str, str], slug: str, *extra: str) -> None:
    result = definewtf(env, "tenant", "create", slug, *extra)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def server(env: dict[str, str], args: list[str], stdout: Any, stderr: Any) -> Iterator[Any]:
    """A `definewtf` server process in its own process group, always stopped afterwards
    (uvicorn's worker processes included)."""
    proc = subprocess.Popen(
        [DEFINEWTF, *args],
        env=env,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_healthy(proc: Any, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"server not healthy after {SERVER_START_TIMEOUT} s: {log.read_text()}")


def gql(query: str) -> dict[str, str]:
    return {"query": query}


# --- migrate -------------------------------------------------------------------------------


def test_migrate_exits_zero_and_is_idempotent(cli_env: dict[str, str]) -> None:
    for _ in range(2):
        result = definewtf(cli_env, "migrate")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert "migrations applied" in result.stderr
    # The schema is intact after re-running: the tables still work.
    create_tenant(cli_env, "acme")


def test_migrate_creates_the_schema_on_a_fresh_database(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    unmigrated = definewtf(env, "tenant", "create", "acme")  # no tables yet
    assert unmigrated.returncode == 1
    assert "Traceback" not in unmigrated.stderr
    assert "definewtf migrate" in unmigrated.stderr
    for _ in range(2):
        result = definewtf(env, "migrate")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
    create_tenant(env, "acme")


# --- tenant create -------------------------------------------------------------------------


async def test_tenant_create_makes_a_tenant(
    client: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    result = definewtf(cli_env, "tenant", "create", "acme", "--name", "Acme Corp")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "https://acme.localhost/api/scim" in result.stderr

    scim_token = secret_of(definewtf(cli_env, "token", "generate", "acme"))
    users = await client.get("/api/scim/Users", headers=bearer(scim_token))
    assert users.status_code == 200, users.text

    key = secret_of(definewtf(cli_env, "admin", "create", "admin@acme.test", "--tenant", "acme"))
    tenant = await client.post(
        "/graphql", json=gql("{ tenant { slug name } }"), headers=bearer(key)
    )
    assert tenant.status_code == 200, tenant.text
    assert tenant.json()["data"]["tenant"] == {"slug": "acme", "name": "Acme Corp"}


def test_tenant_exists_only_after_create(cli_env: dict[str, str]) -> None:
    missing = definewtf(cli_env, "token", "generate", "acme")
    assert missing.returncode == 1
    assert missing.stdout == ""
    create_tenant(cli_env, "acme")
    secret_of(definewtf(cli_env, "token", "generate", "acme"))


@pytest.mark.parametrize(
    "slug",
    ["Bad_Slug", "x-", "a" * 64, "", "a.b", "-x", "é", "a b"],
    ids=["uppercase-underscore", "trailing-dash", "64-chars", "empty", "dot", "leading-dash",
         "non-ascii", "space"],
)  # fmt: skip
def test_tenant_create_rejects_a_bad_slug(cli_env: dict[str, str], slug: str) -> None:
    # `--` lets a slug that starts with '-' through argparse to the slug rule.
    result = definewtf(cli_env, "tenant", "create", "--", slug)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"invalid tenant slug {slug!r}" in result.stderr
    assert SLUG_RULE in result.stderr
    assert "DNS label" in result.stderr
    # Nothing was created under that name.
    assert definewtf(cli_env, "token", "generate", "--", slug).returncode == 1


def test_tenant_create_rejects_a_dash_slug_given_as_an_option(cli_env: dict[str, str]) -> None:
    # Without `--`, argparse reads `-x` as an (unknown) option: a usage error, exit 2.
    result = definewtf(cli_env, "tenant", "create", "-x")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: definewtf tenant create" in result.stderr
    assert "slug" in result.stderr


@pytest.mark.parametrize("slug", ["www", "api", "admin", "platform"])
def test_tenant_create_rejects_a_reserved_slug(cli_env: dict[str, str], slug: str) -> None:
    result = definewtf(cli_env, "tenant", "create", slug)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"tenant slug {slug!r} is reserved" in result.stderr


def test_tenant_create_rejects_a_slug_with_a_trailing_newline(cli_env: dict[str, str]) -> None:
    result = definewtf(cli_env, "tenant", "create", "x\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert SLUG_RULE in result.stderr


def test_tenant_create_twice_is_a_conflict(cli_env: dict[str, str]) -> None:
    create_tenant(cli_env, "acme")
    again = definewtf(cli_env, "tenant", "create", "acme", "--name", "Other")
    assert again.returncode != 0
    assert again.stdout == ""
    assert "already exists" in again.stderr
    assert "acme" in again.stderr


# --- token generate ------------------------------------------------------------------------


def test_token_generate_prints_one_secret_line(cli_env: dict[str, str]) -> None:
    create_tenant(cli_env, "acme")
    first = definewtf(cli_env, "token", "generate", "acme")
    second = definewtf(cli_env, "token", "generate", "acme")
    assert SECRET_LINE.fullmatch(first.stdout), repr(first.stdout)
    assert SECRET_LINE.fullmatch(second.stdout), repr(second.stdout)
    assert first.stdout.count("\n") == 1
    assert first.stdout != second.stdout


async def test_token_generate_revokes_the_previous_token(
    client: httpx.AsyncClient, cli_env: dict[str, str], security: Security
) -> None:
    create_tenant(cli_env, "acme")
    old = secret_of(definewtf(cli_env, "token", "generate", "acme"))
    assert (await client.get("/api/scim/Users", headers=bearer(old))).status_code == 200

    new = secret_of(definewtf(cli_env, "token", "generate", "acme"))
    # Another process revoked the token: this one learns it from PostgreSQL's notification,
    # which a served request finds handled, having arrived through the event loop after it;
    # the CLI call blocked this test's loop, so the test lets it run first.
    await security.revocations.settled()
    refused = await client.get("/api/scim/Users", headers=bearer(old))
    assert refused.status_code == 401, refused.text
    accepted = await client.get("/api/scim/Users", headers=bearer(new))
    assert accepted.status_code == 200, accepted.text


def test_token_generate_for_an_unknown_tenant_fails(cli_env: dict[str, str]) -> None:
    create_tenant(cli_env, "acme")
    result = definewtf(cli_env, "token", "generate", "nope")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "definewtf: error:" in result.stderr
    assert "nope" in result.stderr


def test_token_generate_does_not_reach_the_platform_tenant(cli_env: dict[str, str]) -> None:
    secret_of(definewtf(cli_env, "admin", "create", "ops@define.wtf"))  # creates "platform"
    result = definewtf(cli_env, "token", "generate", "platform")
    assert result.returncode == 1
    assert result.stdout == ""


# --- admin create --------------------------------------------------------------------------


async def test_admin_key_works_on_its_tenant_only(
    client: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    create_tenant(cli_env, "acme")
    create_tenant(cli_env, "globex")
    key = secret_of(definewtf(cli_env, "admin", "create", "admin@acme.test", "--tenant", "acme"))

    own = await client.post(
        "http://acme.localhost/graphql", json=gql(USERS_QUERY), headers=bearer(key)
    )
    assert own.status_code == 200, own.text
    body = own.json()
    assert "errors" not in body, body
    users = body["data"]["users"]
    assert users["totalCount"] == 1
    assert [e["node"]["userName"] for e in users["edges"]] == ["admin@acme.test"]

    other = await client.post(
        "http://globex.localhost/graphql", json=gql(USERS_QUERY), headers=bearer(key)
    )
    assert other.status_code == 401, other.text


def test_admin_create_for_an_unknown_tenant_fails(cli_env: dict[str, str]) -> None:
    result = definewtf(cli_env, "admin", "create", "admin@acme.test", "--tenant", "nope")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "nope" in result.stderr


async def test_operator_key_creates_tenants_on_the_platform_host(
    client: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    key = secret_of(definewtf(cli_env, "admin", "create", "ops@define.wtf"))
    created = await client.post(
        "http://localhost/graphql", json=gql(CREATE_NEWCO), headers=bearer(key)
    )
    assert created.status_code == 200, created.text
    assert created.json()["data"]["createTenant"] == {"__typename": "Tenant", "slug": "newco"}
    secret_of(definewtf(cli_env, "token", "generate", "newco"))


async def test_tenant_admin_key_cannot_create_tenants(
    client: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    create_tenant(cli_env, "acme")
    key = secret_of(definewtf(cli_env, "admin", "create", "admin@acme.test", "--tenant", "acme"))
    denied = await client.post(
        "http://acme.localhost/graphql", json=gql(CREATE_NEWCO), headers=bearer(key)
    )
    assert denied.status_code == 200, denied.text
    assert denied.json()["data"]["createTenant"]["__typename"] == "DeniedError"
    assert definewtf(cli_env, "token", "generate", "newco").returncode == 1


# --- serve ---------------------------------------------------------------------------------


def test_serve_answers_healthz_and_readyz(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with (
        log.open("w") as out,
        server(cli_env, ["serve", "--port", str(port)], out, subprocess.STDOUT) as proc,
    ):
        base = f"http://127.0.0.1:{port}"
        wait_healthy(proc, base, log)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ok"}
        # Its line in the server's log, as the engineer on call reads it (written when the
        # response is sent: flushed by the time the client has it).
        request_id = ready.headers["X-Request-ID"]
        [line] = [
            json.loads(text)
            for text in log.read_text().splitlines()
            if text.startswith("{") and request_id in text
        ]
        assert line["logger"] == "definewtf.request"
        assert (line["level"], line["msg"], line["request_id"]) == ("info", "request", request_id)
        assert (line["method"], line["route"], line["status"]) == ("GET", "/readyz", 200)


def test_serve_with_two_workers(cli_env: dict[str, str], engine_name: str, tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "--port", str(port), "--workers", "2"]
    log = tmp_path / "serve.log"
    if engine_name == "sqlite":
        # In a process group of its own: should it start serving, its workers are stopped too.
        with (
            log.open("w") as err,
            server(cli_env, args, subprocess.PIPE, err) as proc,
        ):
            try:
                stdout, _ = proc.communicate(timeout=SERVER_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail("serve --workers 2 on SQLite did not exit")
        assert proc.returncode == 2
        assert stdout == ""
        assert "SQLite supports one worker" in log.read_text()
        return
    with log.open("w") as out, server(cli_env, args, out, subprocess.STDOUT) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(proc, base, log)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        # Both worker processes come up (uvicorn logs one startup per worker).
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log.read_text()
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        # Whichever worker a scrape reaches, /metrics counts the requests of both.
        with httpx.Client(base_url=base, timeout=5) as client:
            before = _healthz_count(client.get("/metrics").text)  # wait_healthy's own
            for _ in range(40):
                client.get("/healthz", headers={"Connection": "close"})
            counts = {_healthz_count(client.get("/metrics").text) for _ in range(6)}
        assert counts == {before + 40}


def test_two_workers_share_the_connections_of_one_client(
    cli_env: dict[str, str], engine_name: str, tmp_path: Path
) -> None:
    """An IdP keeps a handful of connections open. uvicorn's workers shared one listening
    socket, and the first to wake accepted a client's whole burst of connections: one worker
    served everything in half the rounds of a 16-connection client (bench/results/notes.md).
    With a socket per worker (definewtf.supervisor) the kernel spreads them: each of three
    clients opening 16 connections at once is served by both workers, counted in each
    worker's own metrics file."""
    if engine_name != "postgresql":
        pytest.skip("SQLite serves with one worker")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {**cli_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    port = free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "--port", str(port), "--workers", "2"]
    with log.open("w") as out, server(env, args, out, subprocess.STDOUT) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(proc, base, log)
        _wait_for_workers(proc.pid, 2, log)  # both listening: a burst could reach either
        for _ in range(3):
            before = _healthz_per_process(metrics)
            asyncio.run(_burst(base, connections=16, requests=30))
            after = _healthz_per_process(metrics)
            served = {pid: after[pid] - before.get(pid, 0) for pid in after}
            # Both served. Not how much: the client's pool hands each request to whichever
            # connection is free, and the quicker worker's take more: one served 11 of 480 once.
            assert len([count for count in served.values() if count]) == 2, served


def test_a_killed_worker_is_replaced(
    cli_env: dict[str, str], engine_name: str, tmp_path: Path
) -> None:
    """A worker that dies (the OOM killer, a crash) is replaced, and the server keeps its
    number of workers, each listening."""
    if engine_name != "postgresql":
        pytest.skip("SQLite serves with one worker")
    port = free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "--port", str(port), "--workers", "2"]
    with log.open("w") as out, server(cli_env, args, out, subprocess.STDOUT) as proc:
        wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        first = _wait_for_workers(proc.pid, 2, log)
        os.kill(first[0], signal.SIGKILL)
        after = _wait_for_workers(proc.pid, 2, log, without=first[0])
        assert first[1] in after
        assert proc.poll() is None, log.read_text()
        for _ in range(20):  # on a new connection each: both sockets answer
            response = httpx.get(
                f"http://127.0.0.1:{port}/healthz", headers={"Connection": "close"}, timeout=5
            )
            assert response.status_code == 200


def _wait_for_workers(parent: int, count: int, log: Path, without: int | None = None) -> list[int]:
    """The pids of `parent`'s `count` workers listening, once there are (and `without` is not
    one of them)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        children = [pid for pid in _children(parent) if pid != without and _listens(pid)]
        if len(children) == count:
            return sorted(children)
        time.sleep(0.1)
    pytest.fail(f"not {count} listening workers: {log.read_text()}")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def _listens(pid: int) -> bool:
    """Whether `pid` holds a listening TCP socket (its fds' inodes among /proc/net/tcp's
    listening ones)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    listening.add(fields[9])
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in listening:
                    return True
    return False


async def _burst(base: str, *, connections: int, requests: int) -> None:
    """One client opening `connections` connections at once, `requests` on each."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def one_connection() -> None:
            for _ in range(requests):
                assert (await client.get("/healthz")).status_code == 200

        await asyncio.gather(*(one_connection() for _ in range(connections)))


def _healthz_per_process(metrics: Path) -> dict[str, float]:
    """/healthz requests counted by each worker (its `counter_<pid>.db`)."""
    counts: dict[str, float] = {}
    for path in metrics.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        counts[path.stem] = sum(
            value
            for key, value, *_ in values
            if "definewtf_requests_total" in key and '"/healthz"' in key
        )
    return counts


def _healthz_count(exposition: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("definewtf_requests_total{") and 'route="/healthz"' in line
    )


def test_serve_rejects_zero_workers(cli_env: dict[str, str]) -> None:
    result = definewtf(cli_env, "serve", "--port", str(free_port()), "--workers", "0")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--workers must be at least 1" in result.stderr


# --- demo ----------------------------------------------------------------------------------


def test_demo_prints_endpoint_and_token_then_serves(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    if port_in_use(DEMO_PORT):
        pytest.skip(f"port {DEMO_PORT} is already in use on this machine")
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    stdout, log = tmp_path / "demo.out", tmp_path / "demo.log"
    with (
        stdout.open("w") as out,
        log.open("w") as err,
        server(env, ["demo"], out, err) as proc,
    ):
        endpoint = token = None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while endpoint is None or token is None:
            if time.monotonic() > deadline:
                pytest.fail(f"demo printed no endpoint and token: {stdout.read_text()!r}")
            exited = proc.poll() is not None
            for line in stdout.read_text().split("\n")[:-1]:  # complete lines only
                if "SCIM endpoint:" in line:
                    endpoint = line.split("SCIM endpoint:", 1)[1].strip()
                elif match := re.fullmatch(r"SCIM token:\s+([A-Za-z0-9]{64})", line):
                    token = match.group(1)
            if exited and (endpoint is None or token is None):
                pytest.fail(f"demo exited with {proc.returncode}: {log.read_text()}")
            time.sleep(0.05)
        assert endpoint == f"http://demo.localhost:{DEMO_PORT}/api/scim"
        # Migration progress and server logs go to stderr: stdout holds these two lines only.
        assert len(stdout.read_text().splitlines()) == 2, stdout.read_text()

        base = f"http://127.0.0.1:{DEMO_PORT}"
        wait_healthy(proc, base, log)
        users = httpx.get(
            f"{base}/api/scim/Users",
            headers={**bearer(token), "Host": f"demo.localhost:{DEMO_PORT}"},
            timeout=10,
        )
        assert users.status_code == 200, users.text
        assert users.json()["totalResults"] == 0


# --- configuration -------------------------------------------------------------------------


def test_base_domain_is_read_from_the_environment(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DEFINEWTF_BASE_DOMAIN": "example.test"}
    result = definewtf(env, "tenant", "create", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "https://x.example.test/api/scim" in result.stderr
    default = definewtf(cli_env, "tenant", "create", "y")
    assert "https://y.localhost/api/scim" in default.stderr


def test_the_served_app_freezes_what_start_up_built() -> None:
    """`serve` runs `create_served_app`: the objects start-up built are left out of every
    garbage collection from then on (bench: a sixth of a 100-user page's CPU went to full
    collections walking them)."""
    gc.unfreeze()
    try:
        app = create_served_app()
        assert isinstance(app, Litestar)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
