"""The system under test: a fresh database, `definewtf serve` as a subprocess, and the tenant
and SCIM token made through the CLI — the way an operator sets a tenant up.

The server's environment is the caller's minus every `DEFINEWTF_*` variable, so argon2 runs at
its production default cost and tenants are served at `{slug}.localhost`; only the rate limits
are turned off (`environment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from bench.load import LOOPBACK, Target
from bench.memory import MemorySampler
from bench.stats import OpResult

ENGINES = ("postgresql", "sqlite")
#: Workers per engine: several need PostgreSQL (SQLite serialises writers in one process).
WORKERS = {"postgresql": 2, "sqlite": 1}
SLUG = "bench"
#: The tenant admin whose API key the graphql phase uses (a user of the tenant, too).
ADMIN = "admin@bench.example.com"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 60.0
DEFINEWTF = Path(sys.executable).with_name("definewtf")


class ServerError(RuntimeError):
    """The server or the CLI did not do what the benchmark needs."""


@dataclass(frozen=True)
class Running:
    target: Target
    workers: int
    log: Path
    #: Timings of the setup itself (server start, CLI commands), one sample each.
    setup: list[OpResult]
    #: Phases this server cannot run, and why (peers: no GraphQL, no database of ours).
    unsupported: dict[str, str] = field(default_factory=dict)
    #: The RSS of the server's processes, sampled from its start to its stop.
    memory: MemorySampler | None = None
    #: The server's environment (ours only): a twin server started by a phase uses it too.
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (LOOPBACK, "localhost"):
        raise ServerError(f"only {LOOPBACK} may be targeted, not {host!r}")


def _database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


async def _admin(admin_url: str, sql: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        if sql.upper().startswith("SHOW"):
            return str(await conn.fetchval(sql))
        await conn.execute(sql)
        return ""
    finally:
        await conn.close()


def postgres_version(admin_url: str) -> str:
    return asyncio.run(_admin(admin_url, "SHOW server_version"))


def sqlite_version() -> str:
    """The SQLite library of this interpreter, which the server (same venv) links too."""
    return sqlite3.sqlite_version


@contextlib.contextmanager
def database(engine: str, admin_url: str) -> Iterator[str]:
    """A `DATABASE_URL` nobody else uses, removed afterwards."""
    if engine == "postgresql":
        check_loopback(admin_url)
        name = f"dwtf_bench_{secrets.token_hex(4)}"
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        try:
            yield _database_url(admin_url, name)
        finally:
            asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        with tempfile.TemporaryDirectory(prefix="dwtf-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"


def environment(database_url: str | None = None) -> dict[str, str]:
    """The caller's environment minus `DEFINEWTF_*`, plus `DATABASE_URL` if given, and the
    rate limits off: the benchmark measures what a worker can serve, and one client at
    concurrency 16 goes past the per-credential default (1,000/s per worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFINEWTF_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["DEFINEWTF_RATE_LIMITS"] = "0,0"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def run_command(
    command: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> tuple[str, float]:
    """Run a setup command; its stdout and how long it took."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 -- commands the benchmark builds itself
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        shown = " ".join(Path(command[0]).name if i == 0 else a for i, a in enumerate(command))
        raise ServerError(f"{shown} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip(), elapsed


def _cli(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run `definewtf ARGS`; its stdout and how long it took."""
    return run_command([str(DEFINEWTF), *args], env)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{url}: server exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise ServerError(f"{url}: not ready after {START_TIMEOUT_S:.0f} s:\n{tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (uvicorn's workers included), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    log: Path,
    ready_url: str,
    cwd: Path | None = None,
    memory: MemorySampler | None = None,
) -> Iterator[float]:
    """`command` in a process group of its own, its output in `log`; yields the seconds it
    took until `ready_url` answered 200, and stops the whole group afterwards. `memory`, if
    given, samples the process tree's RSS from the start until just before the stop."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 -- commands the benchmark builds itself
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if memory is not None:
        memory.start(process.pid)
    try:
        _wait_ready(process, ready_url, log)
        yield time.perf_counter() - started
    finally:
        if memory is not None:
            memory.stop()
        _stop(process)


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def log_problems(log: Path, limit: int = 5) -> tuple[int, list[str]]:
    """How many error lines the server logged, and the first few."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0, []
    found = [
        line.strip()
        for line in text.splitlines()
        if "Traceback" in line or " ERROR" in line or "ERROR:" in line
    ]
    return len(found), found[:limit]


@contextlib.contextmanager
def running(engine: str, admin_url: str, log_dir: Path) -> Iterator[Running]:
    """A fresh database, `definewtf serve` on it, tenant `bench`, its SCIM token and an
    admin's API key (for /graphql)."""
    workers = WORKERS[engine]
    with database(engine, admin_url) as database_url:
        env = environment(database_url)
        port = free_port()
        log = log_dir / f"server-{engine}.log"
        command = [str(DEFINEWTF), "serve", "--host", LOOPBACK, "--port", str(port)]
        ready_url = f"http://{LOOPBACK}:{port}/readyz"
        memory = MemorySampler()
        with serving(
            [*command, "--workers", str(workers)], env, log, ready_url, memory=memory
        ) as ready_s:
            ready = OpResult.single(
                f"definewtf serve --workers {workers}: ready (migrations included)", ready_s
            )
            _, tenant_s = _cli(env, "tenant", "create", SLUG)
            token, token_s = _cli(env, "token", "generate", SLUG)
            api_key, key_s = _cli(env, "admin", "create", ADMIN, "--tenant", SLUG)
            if len(token.split()) != 1 or len(api_key.split()) != 1:
                raise ServerError("definewtf did not print one token / one API key")
            yield Running(
                Target(
                    port=port,
                    slug=SLUG,
                    token=token,
                    api_key=api_key,
                    database_url=database_url if engine == "postgresql" else None,
                    pid=memory.root,
                ),
                workers,
                log,
                [
                    ready,
                    OpResult.single(f"definewtf tenant create {SLUG}", tenant_s),
                    OpResult.single(f"definewtf token generate {SLUG} (argon2 hash)", token_s),
                    OpResult.single(f"definewtf admin create … --tenant {SLUG} (API key)", key_s),
                ],
                memory=memory,
                env=env,
            )
