"""`definewtf serve --workers N` on Linux: N uvicorn processes, each listening on a socket of
its own (`SO_REUSEPORT`), so that the kernel spreads clients' connections over them.

uvicorn's own workers share one listening socket, and the worker that wakes first accepts the
whole burst of connections a client opens: an IdP's dozen long-lived connections often all
went to one worker while the other idled (2 workers, a new client of 16 connections per
round: CPU seconds 0 / 3.94 and 3.91 / 0.02 in two rounds of four, bench/results/notes.md).
With a socket per worker, Linux picks the socket of each new connection by a hash of its
addresses (only processes of the same user may bind a port so shared). A connection waiting
in the queue of a worker that dies is reset; the client connects again.

The supervisor is small on purpose: it starts the workers, starts another when one dies, and
on SIGTERM or SIGINT passes SIGTERM on (uvicorn's graceful shutdown: requests in flight
finish) and waits for them. Workers that keep dying right after their start
(`FAST_EXITS_TO_GIVE_UP` in a row, each within `STARTUP_GRACE_S`: an app that cannot start)
stop the whole server, rather than restarting in a loop.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("definewtf.supervisor")

#: How every server of ours runs under uvicorn (`definewtf serve`, and the benchmark's
#: ceilings and twin, which must be served alike).
UVICORN_OPTIONS: dict[str, Any] = {
    "factory": True,
    "access_log": False,
    "lifespan": "on",
    "loop": "uvloop",
    "http": "definewtf.http_writes:CoalescingHttpToolsProtocol",
}

#: A worker that exits sooner than this after its start exited "at startup"…
STARTUP_GRACE_S = 10.0
#: … and this many such exits in a row stop the server.
FAST_EXITS_TO_GIVE_UP = 3
#: How long stopping workers may take before they are killed.
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.5


def supported() -> bool:
    """Where the kernel spreads connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other processes of this user may bind too; uvicorn
    listens on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(options: dict[str, Any]) -> None:
    """One worker process: uvicorn with `options`, on a socket of its own."""
    import uvicorn

    config = uvicorn.Config(**options)
    uvicorn.Server(config).run(sockets=[listening_socket(config.host, config.port)])


def run(app: str, host: str, port: int, workers: int) -> int:
    """Serve the app factory `app` ("module:function") on (host, port) with `workers`
    processes, until SIGTERM or SIGINT; the exit status. Several workers get a socket each
    where the kernel spreads connections over them (`supported`), else uvicorn's own."""
    import uvicorn

    options = {**UVICORN_OPTIONS, "app": app, "host": host, "port": port}
    if workers > 1 and supported():
        return serve(options, workers)
    uvicorn.run(workers=workers, **options)
    return 0


def serve(options: dict[str, Any], workers: int) -> int:
    """Run `workers` uvicorn workers (`options`: uvicorn.Config's) until SIGTERM or SIGINT;
    the exit status."""
    # Fail at once, in this process, if the address cannot be had (another program holds it).
    listening_socket(options["host"], options["port"]).close()
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []
    handlers = {
        signum: signal.signal(signum, lambda signum, _frame: stopping.append(signum))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=_worker, args=(options,), name="definewtf-worker")
        process.start()
        return process, time.monotonic()

    running = [start() for _ in range(workers)]
    try:
        return _supervise(running, start, stopping)
    finally:
        _stop([process for process, _ in running])
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _supervise(
    running: list[tuple[BaseProcess, float]],
    start: Callable[[], tuple[BaseProcess, float]],
    stopping: list[int],
) -> int:
    """Replace dead workers in `running` until a signal arrives (0), or until they keep
    exiting at startup (1)."""
    fast_exits = 0
    while not stopping:
        time.sleep(_POLL_S)
        for index, (process, started) in enumerate(running):
            if process.is_alive() or stopping:
                continue
            fast_exits = fast_exits + 1 if time.monotonic() - started < STARTUP_GRACE_S else 0
            log.warning("worker %s exited (%s)", process.pid, process.exitcode)
            if fast_exits >= FAST_EXITS_TO_GIVE_UP:
                log.error("workers keep exiting at startup: stopping")
                return 1
            running[index] = start()
    return 0


def _stop(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            with contextlib.suppress(OSError):
                process.kill()
            process.join()
