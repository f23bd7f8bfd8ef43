"""The peers: the same phases against the SCIM servers a Python shop could run instead.

- scim2-server (python-scim): its ASGI application (`bench.peer_apps.scim2_server_app`) under
  uvicorn with uvloop and httptools like ours, over its in-memory storage — so one worker
  (each process would hold its own users) and nothing survives a restart;
- django-scim2: the smallest Django project around it (`bench.peer_apps.django_peer`, copied
  into a temporary directory, migrations generated there), on the same PostgreSQL in a
  database of its own, served by gunicorn with 2 (sync) workers and persistent connections.

Each is installed, at pinned versions, into a virtualenv of its own under
`~/.cache/definewtf-bench/peers/<name>` (reused while its requirements are unchanged), never
into the project's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench.load import LOOPBACK, Target
from bench.memory import MemorySampler
from bench.server import (
    SLUG,
    Running,
    database,
    environment,
    free_port,
    run_command,
    serving,
)
from bench.stats import OpResult

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "definewtf-bench"
PEER_APPS = Path(__file__).resolve().parent / "peer_apps"
INSTALL_TIMEOUT_S = 600.0
REQUIREMENTS = {
    "scim2-server": ["scim2-server==0.8.3", "uvicorn[standard]==0.54.0"],
    "django-scim2": [
        "django-scim2==0.23.0",
        "Django==5.2.19",
        "gunicorn==27.0.1",
        "psycopg[binary]==3.3.9",
    ],
}
PEERS = tuple(REQUIREMENTS)
WORKERS = {"scim2-server": 1, "django-scim2": 2}
#: What the peers do not have, so those phases are skipped with this note.
UNSUPPORTED = {
    "auth": "no unauthenticated endpoint to compare with, and a static token compare",
    "graphql": "no GraphQL API",
    "ceiling": "the ceiling is measured in our server's runs",
    "rivals": "the peers are driven in turns with ours in our server's runs",
    "sizes": "ours only: 10,000 users beside the run's size",
}

Serve = Callable[[str, Path], AbstractContextManager[Running]]


def description(name: str) -> str:
    pins = ", ".join(REQUIREMENTS[name])
    where = "in memory" if name == "scim2-server" else "PostgreSQL"
    return f"{where}; {pins}; {WORKERS[name]} worker(s)"


def virtualenv(name: str) -> Path:
    """The peer's virtualenv, made or updated if its requirements changed; its bin folder."""
    home = CACHE / "peers" / name
    stamp = home / "bench-requirements.txt"
    wanted = "\n".join(REQUIREMENTS[name]) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return home / "bin"
    env = environment()
    if not (home / "bin" / "python").exists():
        run_command([sys.executable, "-m", "venv", str(home)], env, timeout=INSTALL_TIMEOUT_S)
    pip = [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]]
    run_command(pip, env, timeout=INSTALL_TIMEOUT_S)
    stamp.write_text(wanted)
    return home / "bin"


def _running(
    name: str,
    port: int,
    token: str,
    scim_path: str,
    log: Path,
    setup: list[OpResult],
    memory: MemorySampler,
) -> Running:
    target = Target(
        port=port,
        slug=SLUG,
        token=token,
        scim_path=scim_path,
        remove_member_by_value=name == "django-scim2",
        pid=memory.root,
    )
    return Running(target, WORKERS[name], log, setup, dict(UNSUPPORTED), memory)


@contextlib.contextmanager
def scim2_server(admin_url: str, log_dir: Path) -> Iterator[Running]:
    bin_dir = virtualenv("scim2-server")
    port, token = free_port(), secrets.token_urlsafe(32)
    env = {**environment(), "BENCH_PEER_TOKEN": token}
    command = [
        *(str(bin_dir / "python"), "-m", "uvicorn", "scim2_server_app:create_app", "--factory"),
        *("--app-dir", str(PEER_APPS), "--host", LOOPBACK, "--port", str(port)),
        *("--workers", str(WORKERS["scim2-server"]), "--loop", "uvloop", "--http", "httptools"),
        *("--lifespan", "on", "--no-access-log"),
    ]
    log = log_dir / "scim2-server.log"
    ready = f"http://{LOOPBACK}:{port}/v2/ServiceProviderConfig"
    memory = MemorySampler()
    with serving(command, env, log, ready, memory=memory) as ready_s:
        setup = [OpResult.single("uvicorn scim2_server_app (1 worker): ready", ready_s)]
        yield _running("scim2-server", port, token, "/v2", log, setup, memory)


@contextlib.contextmanager
def django_scim2(admin_url: str, log_dir: Path) -> Iterator[Running]:
    bin_dir = virtualenv("django-scim2")
    port, token = free_port(), secrets.token_urlsafe(32)
    with (
        database("postgresql", admin_url) as database_url,
        tempfile.TemporaryDirectory(prefix="dwtf-bench-django-") as folder,
    ):
        project = Path(folder)
        shutil.copytree(
            PEER_APPS / "django_peer",
            project / "django_peer",
            ignore=shutil.ignore_patterns("__pycache__", "migrations"),
        )
        env = {
            **environment(database_url),
            "BENCH_PEER_TOKEN": token,
            "DJANGO_SETTINGS_MODULE": "django_peer.settings",
            "PYTHONPATH": str(project),
        }
        django = [str(bin_dir / "python"), "-m", "django"]
        _, made_s = run_command([*django, "makemigrations", "django_peer"], env, project)
        _, migrated_s = run_command([*django, "migrate"], env, project)
        workers = WORKERS["django-scim2"]
        command = [
            *(str(bin_dir / "gunicorn"), "django_peer.wsgi:application"),
            *("--workers", str(workers), "--bind", f"{LOOPBACK}:{port}", "--timeout", "300"),
        ]
        log = log_dir / "django-scim2.log"
        memory = MemorySampler()
        ready_url = f"http://{LOOPBACK}:{port}/healthz"
        with serving(command, env, log, ready_url, project, memory) as ready_s:
            setup = [
                OpResult.single("django makemigrations (generated project)", made_s),
                OpResult.single("django migrate", migrated_s),
                OpResult.single(f"gunicorn --workers {workers}: ready", ready_s),
            ]
            yield _running("django-scim2", port, token, "/scim/v2", log, setup, memory)


SERVE: dict[str, Serve] = {"scim2-server": scim2_server, "django-scim2": django_scim2}
