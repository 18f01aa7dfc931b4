"""Our surrogates against the reference's tuned XGBoost surrogates, on the shared Accel-NASBench records.

Both sides see the same split (by arch_id hash: 70% train, 10% validation, 20% held-out test) of the
3,576 distinct architectures. Reference: its tuned hyperparameters per target
(`../shared/data/anb/reference_xgb_hparams.json`), its encoding (the index of each choice, in
ConfigSpace order), raw targets, early stopping on the validation split. Ours: `accelbench fit`'s
defaults (candidates chosen on validation, 5-member ensemble), and the previous default (without the
structured block models and the measurement weights) beside it. Goals: better test Kendall tau than the reference on all 9,
no target worse than the previous default, 95% intervals covering 93-97% of the test split.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("ACCELBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
RECORDS = SHARED / "data" / "anb" / "anb_dataset_dev.tar.gz"
HPARAMS = SHARED / "data" / "anb" / "reference_xgb_hparams.json"


def reference_records():
    """The shared records through the real path: import into a store; its wide view and its repeats
    (the 8 architectures trained twice, as `pipeline.views.repeat_pairs` reads them)."""
    from accelbench.pipeline.anb_format import iter_anb_records, rows_from_records
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.views import repeat_pairs, wide

    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        for table, rows in rows_from_records(iter_anb_records(RECORDS), "benchmark").items():
            store.write(table, rows)
        return wide(store), repeat_pairs(store)


def reference_frame():
    return reference_records()[0]


def reference_encoding(frame) -> np.ndarray:
    from accelbench.search_space.configspace import to_configspace

    space = to_configspace()
    columns = []
    for name in space.keys():
        choices = list(space[name].choices)
        columns.append([choices.index(bool(v) if name.endswith("_se") else int(v)) for v in frame[name]])
    return np.array(columns, dtype=float).T


def reference_predictions(frame, target: str, split: np.ndarray, parameters: dict) -> np.ndarray:
    import xgboost

    x, y = reference_encoding(frame), frame[target].to_numpy(dtype=float)
    known = np.isfinite(y)
    train, validation, test = (known & (split == name) for name in ("train", "validation", "test"))
    values = {k: v for k, v in parameters.items() if k not in ("num_rounds", "early_stopping_rounds")}
    values.update(objective="reg:squarederror", nthread=2, seed=0)
    booster = xgboost.train(values, xgboost.DMatrix(x[train], label=y[train]), parameters["num_rounds"],
                            evals=[(xgboost.DMatrix(x[validation], label=y[validation]), "val")],
                            early_stopping_rounds=parameters["early_stopping_rounds"], verbose_eval=False)
    return booster.predict(xgboost.DMatrix(x[test]), iteration_range=(0, booster.best_iteration + 1)), y[test]


def main() -> None:
    from accelbench.pipeline.anb_format import REFERENCE_TARGETS
    from accelbench.surrogate.fit import FitSettings, fit_all, split_of
    from accelbench.surrogate.metrics import evaluate
    from accelbench.surrogate.noise import noise_ceiling

    frame, pairs = reference_records()
    settings = FitSettings()
    before = FitSettings(models=("xgboost", "lightgbm", "linear"), weigh_measurements=False)  # the default before the structured models and weights
    split = split_of(frame["arch_id"], settings)
    hyperparameters = json.loads(HPARAMS.read_text())["targets"]
    started = time.perf_counter()
    ours = {fit.target: fit for fit in fit_all(frame, list(REFERENCE_TARGETS), settings, log=io.StringIO())}
    our_seconds = time.perf_counter() - started
    previous = {fit.target: fit for fit in fit_all(frame, list(REFERENCE_TARGETS), before, log=io.StringIO())}
    print(f"{len(frame)} architectures; test split {int((split == 'test').sum())}; ours fitted in {our_seconds:.0f} s "
          f"(with {settings.calibration_folds}-fold calibration); intervals at {settings.interval_level:.0%}")
    print(f"| target | reference tau | previous default tau | ours tau | ours model | {settings.interval_level:.0%} coverage | noise ceiling |")
    print("|---|---|---|---|---|---|---|")
    wins = not_worse = 0
    for target in REFERENCE_TARGETS:
        predicted, measured = reference_predictions(frame, target, split, hyperparameters[target])
        reference = evaluate(measured, predicted)
        fit = ours[target]
        assert len(fit.test_measured) == len(measured)
        wins += fit.test["kendall_tau"] > reference["kendall_tau"]
        not_worse += fit.test["kendall_tau"] >= previous[target].test["kendall_tau"]
        ceiling = noise_ceiling(target, pairs, frame)
        ceiling_text = "none recorded"
        if ceiling and ceiling["source"] == "repeats":
            ceiling_text = f"{ceiling['tau']:.3f} ({ceiling['pairs']} repeats' spread; tau between them {ceiling['repeats_tau']:.3f})"
        elif ceiling:
            ceiling_text = f"{ceiling['tau']:.3f} ({ceiling['source']}, {ceiling['pairs']})"
        print(f"| {target} | {reference['kendall_tau']:.4f} | {previous[target].test['kendall_tau']:.4f} ({previous[target].model}) | "
              f"**{fit.test['kendall_tau']:.4f}** | {fit.model}/{fit.transform} | {fit.coverage:.1%} | {ceiling_text} |")
    print(f"ours ranks better than the reference on {wins} of {len(REFERENCE_TARGETS)} targets; at least as well as the previous default on {not_worse}")


if __name__ == "__main__":
    main()
