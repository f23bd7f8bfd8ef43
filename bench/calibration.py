"""How fast the machine is while a server is measured, so that runs compared in one report
can be told apart from a machine that changed under them.

This machine's two cores are shared: the speed of one core and whether the second is there
at all vary within minutes (one afternoon, every server ran at half the morning's speed; one
evening, two busy processes each ran at half the speed of one). Each server's run starts and
ends with the same check, and RESULTS.md shows them side by side (`bench.summary`).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

#: Steps of the loop: about a quarter of a second on this machine at its slowest.
STEPS = 1_000_000


def _loop(steps: int) -> float:
    """Seconds for a fixed pure-Python loop: one core's speed, as a server worker sees it."""
    started = time.perf_counter()
    total = 0
    for step in range(steps):
        total += step
    return time.perf_counter() - started


def cpu_check() -> str:
    """The loop alone, in ms, and how much slower it runs twice at once in two processes:
    1.0x when both cores are there, 2.0x when the two share one."""
    alone = min(_loop(STEPS) for _ in range(2))
    with ProcessPoolExecutor(max_workers=2) as pool:
        both = max(pool.map(_loop, [STEPS, STEPS]))
    return f"loop {alone * 1000:,.0f} ms; two at once {both / alone:.2f}x"


#: The machine facts of a run (`RunRecord.machine`) the checks are stored under.
CPU_AT_START = "CPU check at start"
CPU_AT_END = "CPU check at end"
