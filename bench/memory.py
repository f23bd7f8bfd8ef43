"""Server memory (issue 6: RSS per worker under 300 MB): the VmRSS of every process of a
server's tree, sampled about once a second by a background thread from the server's start to
its stop, kept as peaks.

The tree is the server's first process (the master) and its descendants, found by walking the
parent pids in `/proc/*/stat` (no psutil). multiprocessing's helper processes (the resource
tracker uvicorn's spawned workers start) count in the whole tree only. A server of one
process (uvicorn with one worker) is its own worker and has no master. MB are MiB: VmRSS, in
KiB, / 1024; VmRSS counts shared pages in every process that maps them, so the whole tree's
sum overstates what forked workers (gunicorn) really use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
INTERVAL_S = 1.0
HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
MASTER, WORKER, HELPER = "master", "worker", "helper"


@dataclass(frozen=True)
class ServerMemory:
    """Peak VmRSS in MB over one run, as stored in the run's JSON."""

    #: One per worker process seen (a worker restarted under a new pid counts twice).
    worker_peaks_mb: list[float]
    #: None: the server was a single process, master and worker at once.
    master_peak_mb: float | None
    #: The peak of the sum over every process of the tree at one sample.
    tree_peak_mb: float
    samples: int
    interval_s: float

    @property
    def worker_peak_mb(self) -> float:
        return max(self.worker_peaks_mb)

    def describe(self) -> str:
        workers = len(self.worker_peaks_mb)
        each = ", ".join(f"{mb:,.0f}" for mb in self.worker_peaks_mb)
        master = "no master (one process)"
        if self.master_peak_mb is not None:
            master = f"master {self.master_peak_mb:,.0f} MB"
        return (
            f"peak RSS per worker {self.worker_peak_mb:,.0f} MB (max over {workers} worker"
            f"{'s' if workers != 1 else ''}: {each}), {master}, whole process tree"
            f" {self.tree_peak_mb:,.0f} MB; VmRSS sampled every"
            f" {self.interval_s:g} s ({self.samples:,} samples) from server start to stop"
        )


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    #: The command's name as `/proc/<pid>/stat` gives it (`postgres` for every backend).
    comm: str


def processes() -> list[Process]:
    """Every process of the machine, from one pass over `/proc/*/stat`."""
    found = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid …", where comm may hold spaces and parentheses.
            head, tail = stat.read_text().rsplit(")", 1)
            ppid = int(tail.split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process just exited
        found.append(Process(int(stat.parent.name), ppid, head.split("(", 1)[1]))
    return found


def process_tree(root: int, everyone: list[Process] | None = None) -> list[int]:
    """`root` and its descendants (among `everyone`, by default read now)."""
    children: dict[int, list[int]] = {}
    for process in processes() if everyone is None else everyone:
        children.setdefault(process.ppid, []).append(process.pid)
    tree = [root]
    for pid in tree:
        tree.extend(children.get(pid, []))
    return tree


def _rss_mb(pid: int) -> float | None:
    """VmRSS in MB; None once the process is gone (a zombie has no VmRSS line)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _role(pid: int, root: int) -> str:
    if pid == root:
        return MASTER
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return WORKER
    return HELPER if any(helper in cmdline for helper in HELPERS) else WORKER


class MemorySampler:
    """`start(pid)` when the server process exists, `stop()` before stopping it, then
    `summary()`."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._root = 0
        #: pid → (role, peak MB).
        self._peaks: dict[int, tuple[str, float]] = {}
        self._tree_peak = 0.0
        self._samples = 0

    @property
    def root(self) -> int | None:
        """The server's first process, once `start`ed."""
        return self._root or None

    def start(self, root: int) -> None:
        self._root = root
        self._thread = threading.Thread(target=self._run, name=f"rss-{root}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def sample(self) -> None:
        rss = {pid: mb for pid in process_tree(self._root) if (mb := _rss_mb(pid)) is not None}
        if not rss:
            return
        for pid, mb in rss.items():
            role, peak = self._peaks.get(pid) or (_role(pid, self._root), 0.0)
            self._peaks[pid] = role, max(peak, mb)
        self._tree_peak = max(self._tree_peak, sum(rss.values()))
        self._samples += 1

    def summary(self) -> ServerMemory | None:
        """The peaks; None if no sample found the server."""
        if not self._samples:
            return None
        workers = [round(mb, 1) for role, mb in self._peaks.values() if role == WORKER]
        master = self._peaks[self._root][1] if self._root in self._peaks else None
        if not workers and master is not None:
            workers, master = [round(master, 1)], None
        if not workers:
            return None
        return ServerMemory(
            worker_peaks_mb=workers,
            master_peak_mb=None if master is None else round(master, 1),
            tree_peak_mb=round(self._tree_peak, 1),
            samples=self._samples,
            interval_s=self.interval_s,
        )
