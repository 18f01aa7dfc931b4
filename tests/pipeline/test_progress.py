"""The progress line: done, running, failed, rate and ETA from a controlled clock."""

import io

from accelbench.pipeline.progress import Progress, format_duration


def test_progress_line_reports_counts_rate_and_eta():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(total=10, interval_s=30, stream=stream, clock=lambda: now[0])
    progress.maybe_show()
    assert "0/10 done" in stream.getvalue() and "ETA ?" in stream.getvalue()
    now[0] = 60.0
    for status in ("ok", "ok", "ok", "failed"):
        progress.record(status)
    progress.running = 2
    assert progress.line() == "[1m00s] 4/10 done (3 ok, 1 failed), 2 running, 4.0 tasks/min, ETA 1m30s"
    progress.record("noisy")
    assert "5/10 done (3 ok, 1 failed, 1 noisy)" in progress.line()
    progress.maybe_show()  # 60 s after the last line, interval 30 s: shown
    now[0] = 70.0
    progress.maybe_show()  # 10 s later: not shown
    assert stream.getvalue().count("\n") == 2


def test_durations_read_naturally():
    assert [format_duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]
