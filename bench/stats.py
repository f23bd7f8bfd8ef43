"""Latencies and their summaries: what the phases record and the report renders.

A phase records `OpResult`s while it runs (seconds, errors); it returns a `PhaseSummary` of
`OpSummary`s (milliseconds, percentiles), which is what is stored as JSON and rendered.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.cpu import CpuAccount
from bench.memory import ServerMemory

#: Error messages kept per operation (the count is always exact).
MAX_ERROR_SAMPLES = 5
#: Operations with at most this many samples keep every latency in the stored JSON.
RAW_SAMPLES_UP_TO = 1000


@dataclass
class OpResult:
    """One kind of request in one phase, while it runs."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    #: Wall-clock seconds of the loop the operation ran in (throughput = count / elapsed).
    elapsed: float = 0.0
    #: Where set, what its requests cost the machine's CPU (`bench.cpu`; the operations of
    #: the rivals and sizes phases, whose servers run in turns).
    cpu: CpuAccount | None = field(default=None, repr=False)

    @classmethod
    def single(cls, name: str, seconds: float) -> OpResult:
        """A one-off step (server start, a CLI command): one sample, its own wall time."""
        op = cls(name, elapsed=seconds)
        op.ok(seconds)
        return op

    def ok(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message[:300])

    def summary(self) -> OpSummary:
        ms = [s * 1000.0 for s in self.latencies]
        count = len(ms)
        p50, p95, p99 = _percentiles(ms)
        return OpSummary(
            name=self.name,
            count=count,
            errors=self.errors,
            elapsed_s=round(self.elapsed, 3),
            ops_per_s=round(count / self.elapsed, 1) if self.elapsed > 0 and count else None,
            min_ms=_round(min(ms)) if ms else None,
            mean_ms=_round(statistics.fmean(ms)) if ms else None,
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=_round(max(ms)) if ms else None,
            error_samples=list(self.error_samples),
            samples_ms=[_round(v) for v in ms] if 0 < count <= RAW_SAMPLES_UP_TO else None,
            cpu_us_per_op=self.cpu.spent.per_op_us(count + self.errors) if self.cpu else None,
        )


def _round(value: float) -> float:
    return round(value, 2)


def _percentiles(ms: list[float]) -> tuple[float | None, float | None, float | None]:
    if not ms:
        return None, None, None
    if len(ms) == 1:
        return _round(ms[0]), _round(ms[0]), _round(ms[0])
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return _round(cuts[49]), _round(cuts[94]), _round(cuts[98])


@dataclass(frozen=True)
class OpSummary:
    name: str
    count: int
    errors: int
    elapsed_s: float
    ops_per_s: float | None
    min_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    error_samples: list[str]
    samples_ms: list[float] | None
    #: Microseconds of CPU per request by part (`bench.cpu.PARTS`) and the cores busy; None
    #: where not measured (every phase but the rivals' and the sizes', and runs stored before).
    cpu_us_per_op: dict[str, float] | None = None


@dataclass(frozen=True)
class PhaseSummary:
    name: str
    ops: list[OpSummary]
    notes: list[str] = field(default_factory=list)
    #: Derived numbers worth a line of their own (e.g. the big/small latency ratios).
    figures: dict[str, float] = field(default_factory=dict)

    def op(self, name: str) -> OpSummary | None:
        return next((op for op in self.ops if op.name == name), None)


@dataclass(frozen=True)
class RunRecord:
    """One engine, one `--users` value: everything RESULTS.md shows about it."""

    engine: str
    users: int
    command: str
    started_at: str
    duration_s: float
    machine: dict[str, str]
    phases: list[PhaseSummary]
    #: Peak RSS of the server's processes; None in runs stored before it was measured.
    memory: ServerMemory | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        phases = [
            PhaseSummary(
                name=p["name"],
                ops=[OpSummary(**op) for op in p["ops"]],
                notes=list(p.get("notes", [])),
                figures=dict(p.get("figures", {})),
            )
            for p in data["phases"]
        ]
        memory = ServerMemory(**data["memory"]) if data.get("memory") else None
        return cls(**{**data, "phases": phases, "memory": memory})
