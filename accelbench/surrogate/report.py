"""The metrics table of a fit: CSV for machines, Markdown for people."""

from __future__ import annotations

from accelbench.surrogate.fit import TargetFit
from accelbench.surrogate.metrics import METRICS

COLUMNS = ["target", "model", "transform", *METRICS, "interval_level", "test_coverage", "noise_ceiling_tau", "noise_pairs", "noise_source", "noise_repeats_tau",
           "train_rows", "validation_rows", "test_rows"]


def metrics_rows(fits: list[TargetFit]) -> list[list]:
    return [[fit.target, fit.model, fit.transform, *(fit.test[m] for m in METRICS), *_interval(fit), *_ceiling(fit),
             fit.rows["train"], fit.rows["validation"], fit.rows["test"]] for fit in fits]


def _interval(fit: TargetFit) -> list:
    return [fit.interval["level"], fit.coverage] if fit.interval else [float("nan"), float("nan")]


def _ceiling(fit: TargetFit) -> list:
    """Beside each tau, what a repeat of the same training or measurement achieves (surrogate.noise)."""
    ceiling = fit.noise_ceiling
    if not ceiling:
        return [float("nan"), 0, "none", float("nan")]
    return [ceiling["tau"], ceiling["pairs"], ceiling["source"], ceiling.get("repeats_tau", float("nan"))]


def metrics_csv(fits: list[TargetFit]) -> str:
    lines = [",".join(COLUMNS)]
    for row in metrics_rows(fits):
        lines.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    return "\n".join(lines) + "\n"


def metrics_markdown(fits: list[TargetFit]) -> str:
    header = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    body = "".join("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |\n" for row in metrics_rows(fits))
    return header + body
