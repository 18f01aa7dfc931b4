"""Live progress of a sweep: done, running, failed, rate and ETA, one line at a time."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


APART = ("noisy",)  # measured, but under other load: not a failure, not a quiet result


class Progress:
    def __init__(self, total: int, interval_s: float = 10.0, stream: TextIO | None = None, clock=time.monotonic) -> None:
        self.total = total
        self.interval_s = interval_s
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.last_shown = -float("inf")
        self.statuses: Counter[str] = Counter()
        self.running = 0

    @property
    def finished(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        """Tasks that did not end ok, other than those counted apart (`APART`)."""
        return self.finished - self.statuses["ok"] - sum(self.statuses[status] for status in APART)

    def record(self, status: str) -> None:
        self.statuses[status] += 1

    def line(self) -> str:
        elapsed = self.clock() - self.started
        rate = self.finished / elapsed if elapsed > 0 else 0.0
        remaining = self.total - self.finished
        eta = format_duration(remaining / rate) if rate > 0 else "?"
        per_minute = rate * 60
        return (
            f"[{format_duration(elapsed)}] {self.finished}/{self.total} done ({self.statuses['ok']} ok, {self.failed} failed"
            f"{''.join(f', {self.statuses[status]} {status}' for status in APART if self.statuses[status])}), "
            f"{self.running} running, {per_minute:.1f} tasks/min, ETA {eta if remaining else '0s'}"
        )

    def maybe_show(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self.last_shown >= self.interval_s:
            self.last_shown = now
            print(self.line(), file=self.stream, flush=True)
