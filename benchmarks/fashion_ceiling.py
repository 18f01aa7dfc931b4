"""The proxy method on real data: is there a ranking signal on Fashion-MNIST at a recipe this machine can
run, and does the Accel-NASBench proxy scheme, carried over, keep the ranking?

1. The noise ceiling: `accelbench proxy-search proxy-fashion --ceiling-only` trains the preset's reference
   recipe (the truth) on its 12 sampled architectures with seeds 0 and 1, through the pipeline (a store,
   Ray, resume: a stopped run continues, a rerun has nothing to do). Seed-to-seed Kendall tau with its
   95% bootstrap interval, and the accuracies' spread between architectures beside their seed-to-seed
   differences.
2. The transfer question: the `anb-proxy` recipe's proportions to the `full` recipe (epochs, resolution,
   data fraction; `proxy.candidates.transferred`) applied to the truth, trained on the same 12 with seed
   0; its tau against the truth.

Needs Debian's dataset-fashion-mnist (`make fashion-mnist`); about an hour on 2 cores. Writes
`benchmarks/results/fashion_ceiling.json` and `docs/results/fashion_ceiling.png`; `--docs` renders the
README's block from them. `--store DIR` (default runs/proxy-fashion) is where the trainings are kept.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results") / "fashion_ceiling.json"
FIGURE = Path(__file__).parents[1] / "docs" / "results" / "fashion_ceiling.png"
PRESET = "proxy-fashion"
BEGIN = "<!-- fashion_ceiling: begin (python -m benchmarks.fashion_ceiling --docs) -->"
END = "<!-- fashion_ceiling: end -->"


def store_path(arguments: list[str]) -> str:
    return arguments[arguments.index("--store") + 1] if "--store" in arguments else f"runs/{PRESET}"


def measure(store_root: str) -> dict:
    from accelbench.pipeline.ranking import agreement, seed_to_seed
    from accelbench.pipeline.run import local_identity
    from accelbench.pipeline.store import Store
    from accelbench.proxy.candidates import derive, transferred
    from accelbench.proxy.search import ProxySearch
    from accelbench.training.fashion_mnist import FILES, DEFAULT_DIR, FashionMnistError, idx_path
    from accelbench.training.recipe import get_recipe
    from accelbench.workflows import cli
    from accelbench.workflows.config import load_proxy_config

    try:
        [idx_path(DEFAULT_DIR, name) for pair in FILES.values() for name in pair]
    except FashionMnistError as error:
        sys.exit(str(error))
    config = load_proxy_config(PRESET)
    search = ProxySearch(config, Store(store_root))
    search.data_id = local_identity(config.reference).data_id
    truth = search.reference
    count = len(search.architectures)
    ceiling_todo = sum(search.todo(sweep) for sweep in search.ceiling_sweeps())  # the truth (seed 0) and the noise seed (1): no overlap
    started = time.monotonic()
    if cli.main(["proxy-search", PRESET, "--ceiling-only", "--store", store_root]) != 0:
        sys.exit("the noise-ceiling run failed (see above); run the same command again to resume")
    ceiling_wall = time.monotonic() - started
    changes = transferred(get_recipe("full"), get_recipe("anb-proxy"), truth)
    carried = derive(truth, changes, config.lr_scaling, f"{PRESET}-anb-scheme")
    carried_sweep = search.sweep(carried, (0,), count, "anb-scheme")
    transfer_todo = search.todo(carried_sweep)
    started = time.monotonic()
    search.run_sweep(carried_sweep)
    transfer_wall = time.monotonic() - started

    by_seed = {seed: search.scores(truth.recipe_id, (seed,), count) for seed in (0, 1)}
    noise = seed_to_seed(list(by_seed.values()))
    carried_scores = search.scores(carried.recipe_id, (0,), count)
    transfer = agreement(by_seed[0], carried_scores)
    arch_ids = [a.arch_id for a in search.architectures]
    both = [arch for arch in arch_ids if by_seed[0][arch] is not None and by_seed[1][arch] is not None]
    cost = lambda recipe_id, seeds: search.cost_per_architecture(recipe_id, seeds, count)  # noqa: E731
    truth_cost = cost(truth.recipe_id, (0,))[0]  # seed 0's: the cost a candidate is compared with (ProxySearch.results)
    truth_failed = cost(truth.recipe_id, (0, 1))[2]
    carried_cost, _, carried_failed = cost(carried.recipe_id, (0,))
    values = lambda scores: [scores[arch] for arch in arch_ids if scores[arch] is not None]  # noqa: E731
    return {
        "architectures": count, "truth_recipe_id": truth.recipe_id, "transferred_recipe_id": carried.recipe_id, "transferred_changes": changes,
        "noise": {"kendall_tau": noise.kendall_tau, "low": noise.kendall_low, "high": noise.kendall_high, "spearman": noise.spearman, "compared": noise.compared},
        "transfer": {"kendall_tau": transfer.kendall_tau, "low": transfer.kendall_low, "high": transfer.kendall_high, "spearman": transfer.spearman, "compared": transfer.compared},
        "top1": {str(seed): {arch: by_seed[seed][arch] for arch in arch_ids} for seed in (0, 1)} | {"transferred": {arch: carried_scores[arch] for arch in arch_ids}},
        "top1_range": {str(seed): [min(values(by_seed[seed])), max(values(by_seed[seed]))] for seed in (0, 1)},
        "top1_spread_between_architectures": statistics.pstdev(values(by_seed[0])),
        "top1_mean_seed_difference": statistics.fmean(abs(by_seed[0][a] - by_seed[1][a]) for a in both),
        "device_s_per_training": {"truth": truth_cost, "transferred": carried_cost},
        "trainings": {"truth": len(search.trainings(truth.recipe_id, (0, 1), set(arch_ids))), "transferred": len(search.trainings(carried.recipe_id, (0,), set(arch_ids)))},
        "workers": config.reference.training.workers,
        "failed": {"truth": truth_failed, "transferred": carried_failed},
        "this_run": {"to_train": {"ceiling": ceiling_todo, "transfer": transfer_todo}, "wall_s": {"ceiling": ceiling_wall, "transfer": transfer_wall}},
    }


def block(results: dict) -> str:
    noise, transfer, changes = results["noise"], results["transfer"], results["transferred_changes"]
    low, high = results["top1_range"]["0"]
    cost = results["device_s_per_training"]
    signal = "clear of" if noise["low"] > 0.5 else "not clear of"
    trainings = results["trainings"]
    minutes = lambda kind: f"{cost[kind] * trainings[kind] / results['workers'] / 60:.0f}"  # noqa: E731
    lines = [BEGIN,
             f"| {results['architectures']} architectures, Fashion-MNIST | Kendall tau [95% interval] | Spearman | device-s per training |",
             "|---|---|---|---|",
             f"| the truth, seed 0 against seed 1 (the noise ceiling) | **{noise['kendall_tau']:.3f}** [{noise['low']:.3f}, {noise['high']:.3f}] | "
             f"{noise['spearman']:.3f} | {cost['truth']:.0f} |",
             f"| the anb-proxy scheme carried over ({', '.join(f'{k} {v}' for k, v in changes.items())}) against the truth | "
             f"{transfer['kendall_tau']:.3f} [{transfer['low']:.3f}, {transfer['high']:.3f}] | {transfer['spearman']:.3f} | {cost['transferred']:.0f} |",
             "",
             f"Top-1 of the truth (seed 0) from {low:.1f}% to {high:.1f}% (standard deviation {results['top1_spread_between_architectures']:.2f} points "
             f"between architectures); the two seeds differ by {results['top1_mean_seed_difference']:.2f} points per architecture on average. "
             f"The noise ceiling's interval is {signal} 0.5. The ceiling's {trainings['truth']} trainings took {minutes('truth')} minutes here "
             f"({results['workers']} at a time), the carried-over scheme's {trainings['transferred']} took {minutes('transferred')}; "
             f"failed trainings: {results['failed']['truth']} and {results['failed']['transferred']}. {rerun(results['this_run'])}",
             END]
    return "\n".join(lines)


def rerun(this_run: dict) -> str:
    to_train, wall = this_run["to_train"], this_run["wall_s"]
    if to_train["ceiling"] or to_train["transfer"]:
        return f"This run trained {to_train['ceiling'] + to_train['transfer']} of them."
    return f"These figures come from a rerun of the command over the recorded store: nothing to train, {wall['ceiling'] + wall['transfer']:.0f} s."


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top1 = results["top1"]
    arch_ids = [a for a in top1["0"] if top1["0"][a] is not None]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    for axis, other, label, agreement in ((axes[0], "1", "truth, seed 1", results["noise"]), (axes[1], "transferred", "anb-proxy scheme carried over, seed 0", results["transfer"])):
        shown = [a for a in arch_ids if top1[other][a] is not None]
        x, y = [top1["0"][a] for a in shown], [top1[other][a] for a in shown]
        axis.scatter(x, y, s=18, color="C0")
        if other == "1":
            ends = [min(x + y), max(x + y)]
            axis.plot(ends, ends, color="grey", linewidth=0.8)
        axis.set(xlabel="truth, seed 0: top-1 (%)", ylabel=f"{label}: top-1 (%)",
                 title=f"Kendall tau {agreement['kendall_tau']:.2f} [{agreement['low']:.2f}, {agreement['high']:.2f}]")
    figure.suptitle(f"Fashion-MNIST, {len(arch_ids)} sampled architectures ({PRESET})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)


def render() -> None:
    import json

    from benchmarks.docs_blocks import replace_block

    results = json.loads(RESULTS.read_text())
    plot(results, FIGURE)
    replace_block(Path(__file__).parents[1] / "README.md", BEGIN, END, block(results))


def main() -> None:
    from benchmarks.docs_blocks import measure_or_render

    arguments = sys.argv[1:]
    measure_or_render(arguments, lambda: measure(store_path(arguments)), RESULTS, render)
    if "--docs" not in arguments:
        render()


if __name__ == "__main__":
    main()
