"""What every backend shares (`Measurement`, its statuses, the load monitor) and the one timing protocol.

Protocol: warm up until two consecutive windows of runs agree (median within `stable_tolerance`), then
time at least `repeats` runs and at least `min_time_s`; report median, mean, std, p90 and the raw
samples. Latency is measured at the target's batch; throughput is batch / median latency.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import psutil

from accelbench.common.errors import InputError

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

MEASUREMENT_STATUSES = ("ok", "unavailable", "failed", "noisy")  # noisy: other processes loaded the host past the limit, retries too


class TargetError(InputError):
    """A target specification that is not allowed."""


@dataclass(frozen=True)
class LatencySummary:
    median_ms: float
    mean_ms: float
    std_ms: float
    p90_ms: float
    n: int

    @classmethod
    def of(cls, samples_ms: list[float], median_ms: float | None = None) -> "LatencySummary":
        ordered = sorted(samples_ms)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        return cls(
            median_ms=statistics.median(ordered) if median_ms is None else median_ms,
            mean_ms=statistics.fmean(ordered),
            std_ms=statistics.pstdev(ordered),
            p90_ms=p90,
            n=len(ordered),
        )


@dataclass(frozen=True)
class Measurement:
    arch_id: str
    target: Target
    status: str
    latency: LatencySummary | None = None
    samples_ms: tuple[float, ...] = ()
    throughput_ips: float | None = None
    build_time_s: float | None = None  # compile / engine build, where the backend has one
    other_load: float | None = None  # share of the machine's CPU used by other processes while timing
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    throughput_std_ips: float | None = None  # measured spread (passes, rate samples); else propagated from latency
    accuracy_top1: float | None = None  # where the target evaluates too (a quantised model on its device)
    accuracy_top5: float | None = None

    @classmethod
    def of_samples(cls, arch_id: str, target: Target, samples_ms: list[float], median_ms: float | None = None, **rest: Any) -> "Measurement":
        summary = LatencySummary.of(samples_ms, median_ms)
        return cls(arch_id, target, "ok", summary, tuple(samples_ms), target.batch * 1000.0 / summary.median_ms, **rest)

    def to_row(self) -> dict[str, Any]:
        """Flat JSON-able form: the CLI's output line and the pipeline's record."""
        row: dict[str, Any] = {
            "arch_id": self.arch_id,
            "target": self.target.name,
            "target_id": self.target.target_id,
            "backend": self.target.backend,
            "device": self.target.device,
            "batch": self.target.batch,
            "resolution": self.target.resolution,
            "precision": self.target.precision,
            "threads": self.target.threads,
            "status": self.status,
        }
        summary = self.latency
        row.update(
            latency_ms_median=summary.median_ms if summary else None,
            latency_ms_mean=summary.mean_ms if summary else None,
            latency_ms_std=summary.std_ms if summary else None,
            latency_ms_p90=summary.p90_ms if summary else None,
            n=summary.n if summary else 0,
            throughput_ips=self.throughput_ips,
            throughput_ips_std=self.throughput_std_ips,
            accuracy_top1=self.accuracy_top1,
            accuracy_top5=self.accuracy_top5,
            samples_ms=list(self.samples_ms),
            build_time_s=self.build_time_s,
            other_load=self.other_load,
            environment=self.environment,
            error=self.error,
        )
        return row


def unavailable(arch_id: str, target: Target, reason: str) -> Measurement:
    return Measurement(arch_id, target, "unavailable", error=reason)


def failed(arch_id: str, target: Target, error: str) -> Measurement:
    return Measurement(arch_id, target, "failed", error=error)


@dataclass(frozen=True)
class TimingPlan:
    min_warmup: int = 5
    max_warmup: int = 200
    window: int = 5
    stable_tolerance: float = 0.05
    repeats: int = 30
    min_time_s: float = 0.5
    max_repeats: int = 2000


def time_runs(run: Callable[[], Any], plan: TimingPlan = TimingPlan(), clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Milliseconds of each timed call of `run`, after a warm-up that ends once timings are stable."""

    def timed() -> float:
        started = clock()
        run()
        return (clock() - started) * 1000.0

    warmup = [timed() for _ in range(plan.min_warmup)]
    previous = statistics.median(warmup[-plan.window :])
    while len(warmup) < plan.max_warmup:
        window = [timed() for _ in range(plan.window)]
        warmup += window
        current = statistics.median(window)
        if abs(current - previous) <= plan.stable_tolerance * previous:
            break
        previous = current
    samples: list[float] = []
    started = clock()
    while len(samples) < plan.max_repeats and (len(samples) < plan.repeats or clock() - started < plan.min_time_s):
        samples.append(timed())
    return samples


class LoadMonitor:
    """CPU used by *other* processes while a block runs, as a share of the whole machine (0..1).

    From /proc/stat (psutil): the machine's busy time minus this process's own CPU time.
    """

    def __enter__(self) -> "LoadMonitor":
        self._process = psutil.Process(os.getpid())
        self._wall = time.perf_counter()
        self._system = self._busy()
        self._own = self._own_time()
        self.other_load = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self._wall
        busy = self._busy() - self._system
        own = self._own_time() - self._own
        # /proc/stat counts in 10 ms ticks: over a short window the share can round past either end
        self.other_load = min(1.0, max(0.0, busy - own) / max(wall * (psutil.cpu_count() or 1), 1e-9))

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def _own_time(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system
