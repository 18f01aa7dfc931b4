"""Cross-device few-shot latency prediction, leave one *device* out, on the shared Accel-NASBench records.

For each of the 6 devices (8 metrics: both metrics of the ZCU102 and VCK190 are left out together), the
other devices' records are the sources and the left-out device gets K = 0, 5, 10, 20, 50 measured
architectures, chosen from its train+validation split by the selection rule (`select_shots`) with
seeds 0..79. Kendall tau on the device's held-out test split (the 20% of `accelbench fit`), averaged over
the draws, for:
  ours      the cross-device predictor (`surrogate.cross_device`), as `accelbench fit-device` fits it;
  ours_spread  the same predictor on one architecture drawn at random from each of K bins of MACs (the
               selection before `select_shots`: what choosing within the bins is worth);
  ours_random  the same predictor on K architectures drawn at random (what the selection rule is worth);
  transfer  ridge of the target's log value on the sources' log predictions, on the same K records;
  scratch   ridge of the architecture features, on the same K records alone.
Sources are fitted on the train+validation split only, so no test architecture informs a prediction.
Prints the table and writes its CSV and plot (tau vs K per device) into a new temporary folder; with
`--docs` (python -m benchmarks.cross_device --docs) into the committed `benchmarks/results/cross_device.csv`
and `docs/results/cross_device.png`, the figure the README shows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

SHOTS = (0, 5, 10, 20, 50)
GOALS = ((10, 0.90), (20, 0.92))  # (K, the mean tau issue 26 asks for)
DRAWS = 80  # 20 left the mean at K = 10 within +-0.003 of that of other seeds (0.897-0.902 over 4 sets); 80, +-0.001
METHODS = ("ours", "ours_spread", "ours_random", "transfer", "scratch")
RESULTS = Path(__file__).with_name("results")


def taus_for(frame, x, metric: str, sources: dict[str, np.ndarray], devices, split) -> dict[tuple[str, int], float]:
    from accelbench.surrogate.additive import block_counts, to_time, unit_of
    from accelbench.surrogate.cross_device import CrossDevicePredictor, scratch_baseline, select_shots, transfer_baseline
    from accelbench.surrogate.devices import device_of
    from accelbench.search_space.sampling import spread_indices
    from accelbench.surrogate.cross_device import MACS
    from accelbench.surrogate.fit import ensemble_predict

    own = {name: costs for name, costs in sources.items() if device_of(name) != device_of(metric)}
    predictor = CrossDevicePredictor(own, devices)
    counts = block_counts(x)
    source_log = np.log(counts @ predictor.costs)
    time = to_time(unit_of(metric), frame[metric].to_numpy(dtype=float))
    known = np.isfinite(time)
    pool, test = np.flatnonzero(known & (split != "test")), known & (split == "test")
    result = {}
    for shots in SHOTS:
        for method in METHODS:
            if shots == 0 and method != "ours":
                continue
            taus = []
            for seed in range(DRAWS if shots else 1):
                if method == "ours_random":
                    chosen = np.random.default_rng(seed).choice(pool, shots, replace=False)
                elif method == "ours_spread":
                    chosen = pool[np.array(spread_indices(x[pool, MACS].tolist(), shots, seed), dtype=np.int64)]
                else:
                    chosen = select_shots(x, pool, shots, seed)
                if method.startswith("ours"):  # what a query of the fit answers: its members' mean
                    answer = ensemble_predict(predictor.fit(metric, x, frame[metric].to_numpy(dtype=float), chosen, seed=seed).members, "none", x)[0]
                    predicted = to_time(unit_of(metric), answer)
                elif method == "transfer":
                    predicted = transfer_baseline(source_log, chosen, np.log(time[chosen]))
                else:
                    predicted = scratch_baseline(x, chosen, np.log(time[chosen]))
                taus.append(kendalltau(time[test], predicted[test]).statistic)
            result[(method, shots)] = float(np.mean(taus))
    return result


def main() -> None:
    import pandas as pd

    from benchmarks.surrogates_vs_reference import reference_frame
    from accelbench.pipeline.anb_format import REFERENCE_TARGETS
    from accelbench.surrogate.cross_device import source_costs
    from accelbench.surrogate.devices import load_devices
    from accelbench.surrogate.features import features
    from accelbench.surrogate.fit import FitSettings, split_of

    frame = reference_frame()
    x = features(frame)
    split = split_of(frame["arch_id"], FitSettings())
    metrics = [t for t in REFERENCE_TARGETS if t.startswith(("latency_", "throughput_"))]
    devices = load_devices()
    sources = {}
    for metric in metrics:
        fitted = (split != "test")
        values = frame[metric].to_numpy(dtype=float)
        sources[metric] = source_costs(x[fitted], values[fitted], metric)
    rows = []
    for metric in metrics:
        for (method, shots), tau in taus_for(frame, x, metric, sources, devices, split).items():
            rows.append({"metric": metric, "method": method, "shots": shots, "kendall_tau": round(tau, 4)})
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["method", "shots"], columns="metric", values="kendall_tau")[metrics]
    wide["mean"] = wide.mean(axis=1)
    print(f"{len(frame)} architectures; Kendall tau on each device's test split, mean of {DRAWS} draws of K shots")
    print(wide.round(3).to_string())
    for shots, goal in GOALS:
        print(f"K = {shots}: ours {wide['mean'][('ours', shots)]:.3f} (goal >= {goal}), spread over MACs {wide['mean'][('ours_spread', shots)]:.3f}, "
              f"random K {wide['mean'][('ours_random', shots)]:.3f}, "
              f"transfer {wide['mean'][('transfer', shots)]:.3f}, scratch {wide['mean'][('scratch', shots)]:.3f}")
    if "--docs" in sys.argv[1:]:
        csv, png = RESULTS / "cross_device.csv", RESULTS.parents[1] / "docs" / "results" / "cross_device.png"
    else:  # `make bench` leaves the committed results alone
        folder = Path(tempfile.mkdtemp(prefix="accelbench-cross-device-"))
        csv, png = folder / "cross_device.csv", folder / "cross_device.png"
    table.to_csv(csv, index=False)
    plot(table, metrics, png)
    print(f"table in {csv}, plot in {png}")
    if "--docs" in sys.argv[1:]:
        from benchmarks.docs_blocks import replace_block

        replace_block(RESULTS.parents[1] / "README.md", BEGIN, END, block(table))


BEGIN = "<!-- cross_device: begin (python -m benchmarks.cross_device --docs) -->"
END = "<!-- cross_device: end -->"
LABELS = {"ours": "**mean: cross-device**", "ours_spread": "mean: cross-device, the K drawn one per bin of MACs",
          "ours_random": "mean: cross-device, the K drawn at random",
          "transfer": "mean: transfer (ridge on the other devices' block sums, same K)", "scratch": "mean: from scratch on the K records"}


def block(table) -> str:
    """The README's table: per held-out metric at each K, then the mean of each method."""
    metrics = list(dict.fromkeys(table.metric))
    cell = {(r.metric, r.method, r.shots): r.kendall_tau for r in table.itertuples()}
    lines = [BEGIN, "| held-out metric | " + " | ".join(f"K={k}" for k in SHOTS) + " |", "|---|" + "---|" * len(SHOTS)]
    for metric in metrics:
        lines.append(f"| {metric} | " + " | ".join(f"{cell[(metric, 'ours', k)]:.3f}" for k in SHOTS) + " |")
    for method in METHODS:
        means = [np.mean([cell[(m, method, k)] for m in metrics]) if (metrics[0], method, k) in cell else None for k in SHOTS]
        shown = [("–" if v is None else (f"**{v:.3f}**" if method == "ours" else f"{v:.3f}")) for v in means]
        lines.append(f"| {LABELS[method]} | " + " | ".join(shown) + " |")
    lines.append("")
    verdicts = []
    for shots, goal in GOALS:
        mean = float(np.mean([cell[(m, "ours", shots)] for m in metrics]))
        verdicts.append(f"{mean:.3f} at K = {shots} (goal >= {goal}: {'met' if mean >= goal else '**not met**'})")
    lines.append(f"Mean tau of the cross-device predictor: {'; '.join(verdicts)}.")
    lines.append(END)
    return "\n".join(lines)


LEGEND = {"ours": "cross-device (select_shots)", "ours_spread": "cross-device, one per bin of MACs", "ours_random": "cross-device, K at random",
          "transfer": "transfer baseline", "scratch": "from scratch"}


def plot(table, metrics: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharex=True, sharey=True)
    styles = {"ours": ("C0", "o"), "ours_spread": ("C4", "+"), "ours_random": ("C3", "x"), "transfer": ("C1", "s"), "scratch": ("C2", "^")}
    for axis, metric in zip(axes.ravel(), metrics):
        for method, (colour, marker) in styles.items():
            part = table[(table.metric == metric) & (table.method == method)].sort_values("shots")
            axis.plot(part.shots, part.kendall_tau, marker=marker, color=colour, label=LEGEND[method])
        axis.set_title(metric, fontsize=10)
        axis.set_xscale("symlog", linthresh=5)
        axis.set_xticks(SHOTS, [str(k) for k in SHOTS])
        axis.grid(alpha=0.3)
    for axis in axes[:, 0]:
        axis.set_ylabel("Kendall tau (held-out)")
    for axis in axes[-1]:
        axis.set_xlabel("K measured architectures of the device")
    axes[0, 0].legend(loc="lower right", fontsize=8)
    figure.suptitle("Leave-one-device-out: a new device from K measurements")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
