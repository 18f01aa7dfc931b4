"""Predicted vs. measured on the held-out test split, one panel per target, as a PNG (byte-stable:
no timestamps or software versions in the file)."""

from __future__ import annotations

import math
from pathlib import Path

from accelbench.surrogate.fit import TargetFit


def unit_of(target: str) -> str | None:
    if target.startswith("latency_"):
        return "ms"
    if target.startswith("throughput_"):
        return "images/s"
    if target.startswith(("val_top", "random_weight_top")):
        return "%"
    return None


def unit_label(target: str) -> str:
    """What a target's values are, with their unit, for an axis of a panel that names the target."""
    unit = unit_of(target)
    if unit is None:
        return target
    kind = target.replace("_", " ") if unit == "%" else target.split("_")[0]
    return f"{kind} ({unit})"


def target_label(target: str) -> str:
    """A target's name with its unit, for an axis that does not say which target elsewhere."""
    unit = unit_of(target)
    return target if unit is None else f"{target} ({unit})"


def plain_log_axis(axis, which: str) -> None:
    """A log axis labelled by a few plain numbers (1, 2, 5 times powers of ten): no minor labels, so
    labels cannot crowd over a narrow range."""
    from matplotlib import ticker

    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=4))
    target.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 10 else f"{value:g}"))
    target.set_minor_formatter(ticker.NullFormatter())


def predicted_vs_measured(fits: list[TargetFit], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = predicted_vs_measured_figure(fits)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)


def predicted_vs_measured_figure(fits: list[TargetFit]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(fits))
    rows = math.ceil(len(fits) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.0 * rows), squeeze=False)
    for axis, fit in zip(axes.flat, fits):
        measured, predicted = fit.test_measured, fit.test_predicted
        low, high = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
        axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
        axis.scatter(measured, predicted, s=5, alpha=0.5)
        if fit.target.startswith(("latency_", "throughput_")):
            axis.set_xscale("log")
            axis.set_yscale("log")
            plain_log_axis(axis, "x")
            plain_log_axis(axis, "y")
        axis.tick_params(labelsize=8)
        axis.set_title(f"{fit.target}\n{fit.model}/{fit.transform}: tau {fit.test['kendall_tau']:.3f}, R² {fit.test['r2']:.3f}", fontsize=9)
        axis.set_xlabel(f"measured {unit_label(fit.target)}", fontsize=8)
        axis.set_ylabel(f"predicted {unit_label(fit.target)}", fontsize=8)
    for axis in list(axes.flat)[len(fits) :]:
        axis.axis("off")
    figure.tight_layout()
    return figure


def block_costs_plot(target: str, table, path: Path) -> None:
    """The structured model's per-block costs: one panel per stage, a bar per (expansion, kernel, SE),
    the first (strided) layer and a repeated one side by side; for a launch-queue model, a last panel
    with the host's cost of launching each kind of block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = "ms_per_image" if "ms_per_image" in table.columns else "ms"
    host = f"host_{unit}"
    layers = table[table["kind"] == "mbconv"]
    stages = sorted(layers["stage"].dropna().unique())
    panels = len(stages) + (host in table.columns)
    figure, axes = plt.subplots(panels, 1, figsize=(12, 2.0 * panels), squeeze=False)
    for axis, stage in zip(axes.flat, stages):
        rows = layers[layers["stage"] == stage].sort_values(["expansion", "kernel", "se"])
        for offset, (first, label) in enumerate(((True, "first layer"), (False, "repeated layer"))):
            part = rows[rows["first"] == first]
            axis.bar([i * 2.5 + offset for i in range(len(part))], part[unit], width=1.0, label=label)
        part = rows[rows["first"]]
        axis.set_xticks([i * 2.5 + 0.5 for i in range(len(part))])
        axis.set_xticklabels([f"e{int(e)} k{int(k)}{' se' if se else ''}" for e, k, se in zip(part["expansion"], part["kernel"], part["se"])], fontsize=6, rotation=90)
        axis.set_ylabel(f"stage {int(stage)}\n{unit}", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    if host in table.columns:  # one cost per launch kind: the same for every block of the kind
        from accelbench.surrogate.additive import block_keys, launch_kinds

        kind, names = launch_kinds()
        launch = dict(zip(block_keys(), (names[k] for k in kind)))
        costs = table.assign(launch=table["block"].map(launch)).groupby("launch", sort=True)[host].mean()
        axis = axes.flat[-1]
        axis.bar(range(len(costs)), costs.to_numpy(), color="grey")
        axis.set_xticks(range(len(costs)))
        axis.set_xticklabels(costs.index, fontsize=6, rotation=15)
        axis.set_ylabel(f"host launch\n{unit}", fontsize=8)
    fixed = table[table["kind"] != "mbconv"][unit].sum()
    axes.flat[0].set_title(f"{target}: learned per-block device costs (stem + head: {fixed:.4g} {unit})", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
