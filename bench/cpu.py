"""CPU per operation (the rivals phase): the CPU time a server's processes, PostgreSQL's and
the load generator spent while an operation's requests ran, read from /proc (the time each
thread has run, as the scheduler counts it).

Why: this machine's two cores are shared by whatever the turn's server runs on. scim2-server
is one process over an in-memory store, so one core bounds it; ours is two workers and
PostgreSQL, and the load generator takes its share from both. Throughput alone cannot tell
which ratio comes from doing more work per request and which from the cores each server can
use: the CPU per operation and the cores busy during it can (`CpuSpent`).

Parts, each summed over its processes: `server`, the server's process tree (its first
process and every descendant); `database`, every process of the machine named `postgres`
(the one cluster every server of the run uses; only the server whose turn it is sends it
anything); `client`, this process. A process started meanwhile (a new database connection)
counts from zero; one that ended meanwhile loses what it spent since the last reading, which
the pooled connections of a turn do not do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.memory import PROC, process_tree, processes

SERVER, DATABASE, CLIENT = "server", "database", "client"
PARTS = (SERVER, DATABASE, CLIENT)


def _cpu_s(pid: int) -> float | None:
    """The CPU seconds `pid`'s threads have run; None once it is gone. From each thread's
    `schedstat` (nanoseconds): `stat`'s utime and stime come in clock ticks of 10 ms, as long
    as a share of a fast operation's requests takes."""
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return None
    total_ns = 0
    for task in tasks:
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread just exited
    return total_ns / 1e9


def _by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: cpu for pid in pids if (cpu := _cpu_s(pid)) is not None}


@dataclass(frozen=True)
class CpuReading:
    """The CPU seconds of the server's and the database's processes at one moment."""

    server: dict[int, float]
    database: dict[int, float]


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass
class CpuSpent:
    """CPU seconds per part, and the wall seconds they were spent in, summed over shares."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    wall_s: float = 0.0

    def add(self, before: CpuReading, after: CpuReading, client_s: float, wall_s: float) -> None:
        self.seconds[SERVER] += _spent(before.server, after.server)
        self.seconds[DATABASE] += _spent(before.database, after.database)
        self.seconds[CLIENT] += client_s
        self.wall_s += wall_s

    def per_op_us(self, ops: int) -> dict[str, float]:
        """Microseconds per operation of each part, and `cores`: the cores all parts kept
        busy on average (CPU seconds over wall seconds)."""
        if ops <= 0 or self.wall_s <= 0:
            return {}
        figures = {part: round(1e6 * seconds / ops, 1) for part, seconds in self.seconds.items()}
        figures["cores"] = round(sum(self.seconds.values()) / self.wall_s, 2)
        return figures


class CpuAccount:
    """What one operation's requests cost: readings of the server's processes (the tree
    under `root`), PostgreSQL's and ours around each share of them."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.spent = CpuSpent()

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Around a share of requests. Reading /proc takes this process some milliseconds,
        as long as a share of a fast operation's requests takes: ours (the client part)
        and the wall time are read inside the two readings of the other processes, which
        are idle outside the share."""
        before = self.read()
        wall, client = time.monotonic(), time.process_time()
        try:
            yield
        finally:
            client_s, wall_s = time.process_time() - client, time.monotonic() - wall
            self.spent.add(before, self.read(), client_s, wall_s)

    def read(self) -> CpuReading:
        everyone = processes()
        postgres = [process.pid for process in everyone if process.comm == "postgres"]
        return CpuReading(_by_pid(process_tree(self.root, everyone)), _by_pid(postgres))
