"""Fitting surrogates from a store into a folder: models, index, metrics table and plot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from accelbench.pipeline.views import repeat_pairs, result_columns, wide
from accelbench.search_space.blocks import all_blocks
from accelbench.surrogate import saved
from accelbench.surrogate.additive import unit_of
from accelbench.surrogate.features import features
from accelbench.surrogate.fit import DEVICE_ONLY, FitSettings, TargetFit, ensemble_predict, fit_all
from accelbench.surrogate.models import SurrogateError
from accelbench.surrogate.models.block_additive import BlockAdditiveModel
from accelbench.surrogate.plots import block_costs_plot, predicted_vs_measured
from accelbench.surrogate.report import metrics_csv, metrics_markdown


def fit_store(store, settings: FitSettings, targets: list[str] | None, recipe_id: str | None, log: TextIO,
              include_noisy: bool = False, space: str | None = None) -> tuple[list[TargetFit], object]:
    """`space`: whose architectures to fit (None: the store's only space)."""
    from accelbench.surrogate.noise import noise_ceiling

    frame = wide(store, recipe_id, include_noisy=include_noisy, space=space)
    chosen = targets or [c for c in result_columns(frame) if frame[c].notna().sum() > 0]
    if frame.empty or not chosen:
        raise SurrogateError(f"{store.uri} holds no results to fit ({len(frame)} architectures); collect or import records first")
    print(f"fitting {len(chosen)} targets on {len(frame)} architectures of the {frame['space'].iloc[0]} space: {', '.join(chosen)}", file=log, flush=True)
    fits = fit_all(frame, chosen, settings, log)
    pairs = repeat_pairs(store, recipe_id)
    for fit in fits:
        fit.noise_ceiling = noise_ceiling(fit.target, pairs, frame, settings.seed)
    return fits, frame


def records_of(frame, recipe_id: str | None, include_noisy: bool = False) -> dict:
    """What a fit learned from: the wide view's architectures and a sha256 of its values (sorted rows,
    every digit), so that `release --fit` can tell whether a store still holds the same records."""
    import hashlib

    text = frame.sort_values("arch_id").to_csv(index=False, float_format="%.17g")
    space = frame["space"].iloc[0] if len(frame) else "anb"
    named = {"space": space} if space != "anb" else {}  # none named: anb, so that an anb fit's index is what it was
    return {"architectures": len(frame), **named, "recipe_id": recipe_id, "include_noisy": include_noisy, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def write_fit(fits: list[TargetFit], settings: FitSettings, folder: Path, records: dict | None = None) -> None:
    saved.save(fits, folder, settings, records)
    (folder / "metrics.csv").write_text(metrics_csv(fits))
    (folder / "metrics.md").write_text(metrics_markdown(fits))
    predicted_vs_measured(fits, folder / "predicted_vs_measured.png")
    tables = {fit.target: block_table(fit) for fit in fits if fit.model in DEVICE_ONLY}
    for target, table in tables.items():
        table.to_csv(folder / f"blocks_{target}.csv", index=False)
        block_costs_plot(target, table, folder / f"block_costs_{target}.png")


def block_table(fit: TargetFit):
    """The structured model's per-block costs, averaged over members, in the shape of a profiled lookup
    table (its device cost), with the host's cost of launching each block beside it."""
    import numpy as np
    import pandas as pd


    costs = np.mean([list(member.block_table().values()) for member in fit.members], axis=0)
    hosts = [member.host_table() for member in fit.members]
    host = None if any(h is None for h in hosts) else np.mean([list(h.values()) for h in hosts], axis=0)
    unit = "ms_per_image" if unit_of(fit.target) == "rate" else "ms"
    factor = 1.0 if unit == "ms" else 1000.0  # a throughput's time is seconds per image
    rows = [{"block": block.key, "kind": block.kind, "stage": block.stage, "expansion": block.expansion, "kernel": block.kernel,
             "se": block.se, "first": block.first, unit: cost * factor} for block, cost in zip(all_blocks(), costs)]
    if host is not None:
        for row, cost in zip(rows, host):
            row[f"host_{unit}"] = cost * factor
    return pd.DataFrame(rows)


def print_metrics(fits: list[TargetFit], file: TextIO | None = None) -> None:
    print(metrics_markdown(fits), file=file or sys.stdout, end="")


def device_sources(store, target: str, descriptors_file: str | None, log: TextIO):
    """(wide frame, its features, the cross-device predictor of `target`'s device, the sources used, the
    descriptors): every record of the other devices, none of `target`'s own device."""
    from accelbench.surrogate.cross_device import MIN_SOURCE_RECORDS, CrossDevicePredictor
    from accelbench.surrogate.devices import device_of, load_devices

    device = device_of(target)
    descriptors = {**load_devices(), **(load_devices(descriptors_file) if descriptors_file else {})}  # a user's file adds or overrides
    if device not in descriptors:
        raise SurrogateError(f"--target {target}: no descriptor for device {device!r} in {descriptors_file or 'accelbench/surrogate/devices.toml'}; "
                             f"write [devices.{device}] (the fields of accelbench/surrogate/devices.toml) to a file and pass it with --devices")
    frame = wide(store, training=False, space="anb")  # its physics and block tables are the anb space's
    metrics = [c for c in result_columns(frame) if c.startswith(("latency_", "throughput_"))]
    candidates = [m for m in metrics if device_of(m) != device]
    sources = [m for m in candidates if device_of(m) in descriptors and frame[m].notna().sum() >= MIN_SOURCE_RECORDS]
    skipped = sorted(set(candidates) - set(sources))
    if not sources:
        raise SurrogateError(f"{store.uri} has no other device with >= {MIN_SOURCE_RECORDS} records and a descriptor to learn from "
                             f"({', '.join(candidates) or 'no device metrics'}); collect or import another device's records first")
    if skipped:
        print(f"not used as sources (no descriptor, or < {MIN_SOURCE_RECORDS} records): {', '.join(skipped)}", file=log)
    x = features(frame)
    predictor = CrossDevicePredictor.from_records(x, {m: frame[m].to_numpy(dtype=float) for m in sources}, descriptors)
    return frame, x, predictor, sources, descriptors


def device_details(target: str, result, sources: list[str], descriptors: dict, **facts) -> dict:
    from accelbench.surrogate.additive import PHYSICS
    from accelbench.surrogate.devices import device_of

    return {"target": target, "device": device_of(target), **facts, "sources": sources,
            "zero_shot_weights": dict(zip(sources, map(float, result.zero_shot))),
            "combination": dict(zip([*sources, *PHYSICS], map(float, result.combination))),
            "descriptor": vars(descriptors[device_of(target)])}


def fit_device_store(store, target: str, shots: int, seed: int, descriptors_file: str | None, log: TextIO):
    """The cross-device predictor for `target` from every record of the other devices and `shots` of its own."""
    import numpy as np

    from accelbench.surrogate.cross_device import select_shots
    from accelbench.surrogate.metrics import evaluate

    frame, x, predictor, sources, descriptors = device_sources(store, target, descriptors_file, log)
    values = frame[target].to_numpy(dtype=float) if target in frame.columns else np.full(len(frame), np.nan)
    pool = np.flatnonzero(np.isfinite(values) & (values > 0))
    if shots > len(pool):
        raise SurrogateError(f"--shots {shots}: {store.uri} has only {len(pool)} measured architectures of {target}; collect more (sweep "
                             f"[architectures] select = \"spread\") or ask for fewer shots")
    chosen = select_shots(x, pool, shots, seed)
    print(f"{target}: sources {', '.join(sources)}; {shots} shots of {len(pool)} measured", file=log, flush=True)
    result = predictor.fit(target, x, values, chosen, seed=seed)
    held = np.setdiff1d(pool, chosen)
    measured, predicted = values[held], ensemble_predict(result.members, "none", x[held])[0]
    test = evaluate(measured, predicted) if len(held) >= 5 else {}
    fit = TargetFit(target, BlockAdditiveModel.name, "none", list(result.members), {}, test,
                    {"train": int(shots), "validation": 0, "test": int(len(held))}, measured, predicted)
    details = device_details(target, result, sources, descriptors, shots=int(shots), seed=int(seed), selection="select_shots (informative within MAC bins)",
                             shot_arch_ids=frame["arch_id"].iloc[chosen].tolist())
    return fit, {**details, "held_out": test}


def adapt_store(store, target: str, architectures: list, values, descriptors_file: str | None, log: TextIO):
    """The cross-device predictor for `target` from every record of the other devices and the measured
    `values` of `architectures` (`accelbench adapt fit`): the store's own rows of `target`'s device are not read."""
    import numpy as np

    _, _, predictor, sources, descriptors = device_sources(store, target, descriptors_file, log)
    print(f"{target}: sources {', '.join(sources)}; {len(values)} measured architectures", file=log, flush=True)
    result = predictor.fit(target, features(architectures), np.asarray(values, dtype=float), np.arange(len(values)))
    fit = TargetFit(target, BlockAdditiveModel.name, "none", list(result.members), {}, {}, {"train": len(values), "validation": 0, "test": 0})
    details = device_details(target, result, sources, descriptors, shots=len(values), selection="the measured file",
                             shot_arch_ids=[a.arch_id for a in architectures])
    return fit, details


def write_device_fit(fit, details: dict, folder: Path) -> None:
    import json


    settings = FitSettings(models=("block_additive",), transforms=("none",), members=len(fit.members), seed=details.get("seed", 0))
    saved.save([fit], folder, settings)
    (folder / "cross_device.json").write_text(json.dumps(details, indent=1) + "\n")
    if fit.test:
        (folder / "metrics.csv").write_text(metrics_csv([fit]))
        (folder / "metrics.md").write_text(metrics_markdown([fit]))
        predicted_vs_measured([fit], folder / "predicted_vs_measured.png")
