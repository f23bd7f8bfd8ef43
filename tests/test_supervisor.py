"""`definewtf.supervisor`: the workers of `definewtf serve --workers N` (its serving is tested
through the CLI in tests/test_cli.py)."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from definewtf import supervisor

pytestmark = pytest.mark.skipif(not supervisor.supported(), reason="SO_REUSEPORT is Linux's")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_workers_that_cannot_start_stop_the_server() -> None:
    """An app that cannot be loaded kills every worker at once: the supervisor gives up after
    `FAST_EXITS_TO_GIVE_UP` such exits instead of restarting them forever, says so by its
    exit status, and puts the process's signal handlers back."""
    before = signal.getsignal(signal.SIGTERM)
    options = {"app": "definewtf_no_such_module:app", "host": "127.0.0.1", "port": _free_port()}
    started = time.monotonic()
    assert supervisor.serve(options, 2) == 1
    assert time.monotonic() - started < 60
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_taken_address_fails_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            supervisor.serve(
                {"app": "definewtf.app:create_served_app", "host": "127.0.0.1", "port": port}, 2
            )
