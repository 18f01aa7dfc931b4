"""`accelbench lut`: a target's per-block latency table against its end-to-end measurements."""

from __future__ import annotations

import argparse
import random
import sys

from accelbench.pipeline.views import choose_space
from accelbench.search_space import Architecture
from accelbench.search_space.blocks import all_blocks
from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.output import replaceable_folder


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("lut", help="predict a target's latency from its per-block table (collected with blocks = true) and score it against end-to-end measurements")
    parser.add_argument("--store", required=True)
    parser.add_argument("--target", required=True, help="a profiling target with both a block table and end-to-end latencies")
    parser.add_argument("--calibrate", type=int, default=5, metavar="K", help="end-to-end measurements the calibration is fitted on (the rest score it)")
    parser.add_argument("--seed", type=int, default=0, help="which K architectures calibrate")
    parser.add_argument("--out", help="folder for lut_blocks.csv, lut_scores.csv and lut_vs_measured.png")
    parser.add_argument("--space", help="whose blocks and architectures (default: the store's only space)")
    parser.set_defaults(handler=lut_command)


def latest_target(frame, target: str, what: str, resolution: int | None = None):
    """The rows of `target` under its most recently measured settings (target_id); `resolution`: of
    those measured at it (a table serves one resolution; an ofa architecture is measured at its own)."""
    from accelbench.surrogate.models.base import SurrogateError

    rows = frame[(frame["target"] == target) & (frame["status"] == "ok")]
    if resolution is not None:
        rows = rows[rows["resolution"] == resolution]
    if rows.empty:
        raise SurrogateError(f"the store has no ok {what} of target {target!r}; collect it first ({'blocks = true on the target' if 'block timings' in what else 'end-to-end profiling'})")
    latest = rows.sort_values("finished_at").iloc[-1]["target_id"]
    return rows[rows["target_id"] == latest]


def lut_command(arguments: argparse.Namespace) -> None:
    import numpy as np

    from accelbench.surrogate.lut import Calibration, blocks_per_network, errors, lut_sum
    from accelbench.surrogate.models.base import SurrogateError

    store = open_existing_store(arguments.store)
    read_records_checked(store, True, "lut")  # names any damaged record file
    space = choose_space(store, arguments.space)
    block_ids = {block.block_id for block in all_blocks(space)}
    blocks = store.read_pandas("blocks")
    blocks = latest_target(blocks[blocks["block_id"].isin(block_ids)], arguments.target, f"{space} block timings")
    resolution = int(blocks["resolution"].iloc[0])
    archs = store.read_pandas("archs", ["arch_id", "space", "compact"])
    compact = dict(zip(*archs[archs["space"] == space][["arch_id", "compact"]].to_dict("list").values()))
    profile = store.read_pandas("profile")
    profile = latest_target(profile[profile["arch_id"].isin(compact)], arguments.target, f"end-to-end latencies of {space} architectures at {resolution} px "
                            "(the block table's resolution)", resolution)
    table = dict(zip(blocks["block"], blocks["latency_ms_median"]))
    architectures = [Architecture.from_compact(compact[arch_id], space) for arch_id in profile["arch_id"]]
    measured = profile["latency_ms_median"].to_numpy()
    if len(measured) < arguments.calibrate + 5:
        raise SurrogateError(f"{len(measured)} end-to-end measurements: too few to calibrate on {arguments.calibrate} and score on the rest (need {arguments.calibrate + 5})")
    lut, count = lut_sum(architectures, table), blocks_per_network(architectures)
    chosen = set(random.Random(arguments.seed).sample(range(len(measured)), arguments.calibrate))
    fit = np.array([i in chosen for i in range(len(measured))])
    calibration = Calibration.fit(lut[fit], count[fit], measured[fit])
    raw, calibrated = errors(measured[~fit], lut[~fit]), errors(measured[~fit], calibration.predict(lut[~fit], count[~fit]))
    print(f"{arguments.target}: {len(table)} blocks, {len(measured)} architectures measured end to end; calibrated on {arguments.calibrate}, scored on {int((~fit).sum())}")
    print("| predictor | Kendall tau | MAPE (%) | within ±10% (%) | predicted / measured |\n|---|---|---|---|---|")
    for name, scores in (("LUT sum", raw), ("calibrated LUT", calibrated)):
        print(f"| {name} | {scores['kendall_tau']:.3f} | {scores['mape']:.1f} | {scores['within_10']:.0f} | {scores['mean_ratio']:.3f} |")
    print(f"calibration: latency = {calibration.lut_slope:.3f} x LUT + {calibration.per_block:.4f} ms x blocks + {calibration.intercept:.3f} ms")
    if arguments.out:
        with replaceable_folder(arguments.out, "lut", "--out", protected=[store.root] if store.local else []) as folder:
            blocks[["block", "kind", "stage", "expansion", "kernel", "se", "first", "input_channels", "input_size", "latency_ms_median", "latency_ms_std"]].sort_values("block").to_csv(folder / "lut_blocks.csv", index=False)
            rows = ["predictor,kendall_tau,mape,within_10,mean_ratio"] + [f"{n},{s['kendall_tau']:.6g},{s['mape']:.6g},{s['within_10']:.6g},{s['mean_ratio']:.6g}" for n, s in (("lut_sum", raw), ("calibrated", calibrated))]
            (folder / "lut_scores.csv").write_text("\n".join(rows) + "\n")
            plot(measured[~fit], lut[~fit], calibration.predict(lut[~fit], count[~fit]), folder / "lut_vs_measured.png", arguments.target)
        print(f"table, scores and plot in {arguments.out}", file=sys.stdout)


def plot(measured, raw, calibrated, path, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4.5))
    low, high = float(min(measured.min(), raw.min(), calibrated.min())), float(max(measured.max(), raw.max(), calibrated.max()))
    axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
    axis.fill_between([low, high], [0.9 * low, 0.9 * high], [1.1 * low, 1.1 * high], color="grey", alpha=0.15, label="±10%")
    axis.scatter(measured, raw, s=12, label="LUT sum", alpha=0.8)
    axis.scatter(measured, calibrated, s=12, label="calibrated LUT", alpha=0.8)
    axis.set(xlabel="measured latency (ms)", ylabel="predicted latency (ms)", title=f"per-block table vs end to end: {target}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
