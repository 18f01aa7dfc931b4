"""Fitting surrogates from a store into a folder: models, index, metrics table and plot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from surrogate import saved
from surrogate.models import SurrogateError
from surrogate.fit import FitSettings, TargetFit, fit_all
from surrogate.plots import predicted_vs_measured
from surrogate.report import metrics_csv, metrics_markdown


def fit_store(store, settings: FitSettings, targets: list[str] | None, recipe_id: str | None, log: TextIO) -> tuple[list[TargetFit], object]:
    from pipeline.views import result_columns, wide

    frame = wide(store, recipe_id)
    chosen = targets or [c for c in result_columns(frame) if frame[c].notna().sum() > 0]
    if frame.empty or not chosen:
        raise SurrogateError(f"{store.uri} holds no results to fit ({len(frame)} architectures); collect or import records first")
    print(f"fitting {len(chosen)} targets on {len(frame)} architectures: {', '.join(chosen)}", file=log, flush=True)
    return fit_all(frame, chosen, settings, log), frame


def write_fit(fits: list[TargetFit], settings: FitSettings, folder: Path) -> None:
    saved.save(fits, folder, settings)
    (folder / "metrics.csv").write_text(metrics_csv(fits))
    (folder / "metrics.md").write_text(metrics_markdown(fits))
    predicted_vs_measured(fits, folder / "predicted_vs_measured.png")


def print_metrics(fits: list[TargetFit], file: TextIO | None = None) -> None:
    print(metrics_markdown(fits), file=file or sys.stdout, end="")
