"""`accelbench search | search-compare | explain`: NAS on a benchmark, optimizers compared, the
explainable model's view of each choice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.optimizers import ALGORITHMS
from accelbench.optimizers.problem import Constraint, SurrogateOracle, TableBenchmark
from accelbench.pipeline.views import wide
from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.cmd_surrogate import add_threads_option
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import replaceable_folder


def add_problem_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark", help="a release (verified first) or an `accelbench fit` output: its surrogates answer")
    source.add_argument("--store", help="a store: its measured architectures answer (a tabular benchmark; random_weight_top1 too)")
    parser.add_argument("--recipe-id", help="with --store: which training recipe's results, when it has several")
    parser.add_argument("--space", help="with --store: whose architectures (default: the store's only space)")
    parser.add_argument("--objective", action="append", required=True, help="a target to optimise (accuracy and throughput up, latency down); "
                        "once: uni-objective, twice or more: a Pareto front")
    parser.add_argument("--constraint", action="append", default=[], help='TARGET<=NUMBER or TARGET>=NUMBER, e.g. "latency_zcu102<=5"')
    parser.add_argument("--budget", type=int, required=True, help="queries (the reference: 1,500 = 250 architecture-epochs x 6 episodes)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("search", help="search a benchmark (random, evolution, reinforce, annealing, nsga2)")
    add_problem_options(parser)
    parser.add_argument("--algorithm", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="folder: queries.parquet, result.json, trajectory.png or pareto.png")
    add_threads_option(parser)
    parser.set_defaults(handler=search_command)

    parser = commands.add_parser("search-compare", help="every algorithm x seeds at one budget: mean best or hypervolume, with spread")
    add_problem_options(parser)
    parser.add_argument("--algorithms", nargs="+", help="default: every one that can take the objectives")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per algorithm (default 5)")
    parser.add_argument("--reference", action="extend", nargs="+", default=[], metavar="TARGET=VALUE",
                        help="hypervolume reference point, one TARGET=VALUE per objective (the worst value that still counts), "
                             "e.g. --reference val_top1=50 throughput_vck190=0")
    parser.add_argument("--output", required=True, help="folder: compare.csv, compare.md, trajectory.png or pareto.png, runs/*.parquet")
    add_threads_option(parser)
    parser.set_defaults(handler=compare_command)

    parser = commands.add_parser("explain", help="what the explainable (linear) model says each choice of each stage is worth (and an ofa resolution)")
    parser.add_argument("--surrogates", required=True, help="a `fit` output or a release folder")
    parser.add_argument("--target", required=True)
    parser.add_argument("--output", help="folder for contributions.csv, stages.csv and contributions.png (default: print only)")
    add_threads_option(parser)
    parser.set_defaults(handler=explain_command)


def open_problem(arguments: argparse.Namespace):
    """(oracle, objectives, constraints, protected paths) from the command line."""
    constraints = tuple(Constraint.parse(text) for text in arguments.constraint)
    objectives = tuple(arguments.objective)
    if arguments.benchmark:
        from accelbench.surrogate.benchmark import Benchmark

        return SurrogateOracle(Benchmark.load(arguments.benchmark)), objectives, constraints, [Path(arguments.benchmark)]

    store = open_existing_store(arguments.store)
    read_records_checked(store, True, "search")  # names any damaged record file
    frame = wide(store, arguments.recipe_id, space=arguments.space)
    needed = list(dict.fromkeys([*objectives, *(c.target for c in constraints)]))
    unknown = [name for name in needed if name not in frame.columns]
    if unknown:
        have = [c for c in frame.columns if c == "random_weight_top1" or c.startswith(("val_top1", "latency_", "throughput_")) and not c.endswith("_std")]
        raise UsageError(f"--store {arguments.store}: no {', '.join(unknown)} recorded; it has {', '.join(have) or 'no results'}")
    measured = frame.dropna(subset=needed)
    if len(measured) < 2:
        raise UsageError(f"--store {arguments.store}: {len(measured)} architectures have {', '.join(needed)} all recorded; a search needs at least 2")
    print(f"tabular benchmark: {len(measured)} measured architectures of {store.uri}", file=sys.stderr)
    return TableBenchmark(measured, needed), objectives, constraints, [store.root] if store.local else []


def search_command(arguments: argparse.Namespace) -> None:
    from accelbench.optimizers.run import SearchSpec, run_search, summary, write_search

    oracle, objectives, constraints, protected = open_problem(arguments)
    spec = SearchSpec(arguments.algorithm, objectives, constraints, arguments.budget, arguments.seed)
    spec.check()
    with replaceable_folder(arguments.output, "search", "--output", protected=protected) as folder:
        result = run_search(oracle, spec)
        write_search(result, folder)
    values = summary(result)
    print(f"{spec.algorithm} seed {spec.seed}: {spec.budget} queries in {result.seconds:.2f} s, {values['feasible_queries']} feasible")
    if "best" in values:
        best = values["best"]
        print("no feasible architecture found" if best is None else f"best {objectives[0]} {best[f'{objectives[0]}_mean']:.4g}: {best['compact']}")
    else:
        print(f"Pareto front of {len(values['pareto_front'])} architectures")
    print(f"queries.parquet, result.json and plots in {arguments.output}")


def compare_command(arguments: argparse.Namespace) -> None:
    from accelbench.optimizers.run import compare, pareto_plot, trajectory_plot

    oracle, objectives, constraints, protected = open_problem(arguments)
    if not 1 <= arguments.seeds <= 1000:
        raise UsageError(f"--seeds {arguments.seeds}: must be in [1, 1000]")
    algorithms = arguments.algorithms or [name for name, module in ALGORITHMS.items() if len(objectives) == 1 or module.MULTI_OBJECTIVE]
    reference = {}
    for text in arguments.reference:
        name, _, value = text.partition("=")
        try:
            reference[name] = float(value)
        except ValueError:
            raise UsageError(f"--reference {text!r}: write TARGET=NUMBER, e.g. val_top1=50") from None
    with replaceable_folder(arguments.output, "search-compare", "--output", protected=protected) as folder:
        table, runs = compare(oracle, algorithms, objectives, constraints, arguments.budget, list(range(arguments.seeds)), reference, sys.stderr)
        table.to_csv(folder / "compare.csv", index=False)
        point = "" if len(objectives) == 1 else " reference point " + ", ".join(f"{o}={reference[o]:g}" for o in objectives) + ";"
        header = f"budget {arguments.budget} queries, {arguments.seeds} seeds;{point} objectives {', '.join(objectives)}" + \
            (f"; constraints {', '.join(map(str, constraints))}" if constraints else "")
        (folder / "compare.md").write_text(f"{header}\n\n{markdown(table)}\n")
        (folder / "runs").mkdir()
        for name, results in runs.items():
            for result in results:
                result.records.to_parquet(folder / "runs" / f"{name}-seed{result.spec.seed}.parquet", index=False)
        if len(objectives) == 1:
            trajectory_plot(runs, folder / "trajectory.png")
        else:
            pareto_plot(runs, folder / "pareto.png")
    print(header)
    print(table.to_string(index=False, float_format=number))
    print(f"compare.csv, compare.md, plots and every run's queries in {arguments.output}")


def number(value: float) -> str:
    """4 significant digits, written out in full (17,220, not 1.722e+04)."""
    if value != value or abs(value) < 1000:
        return f"{value:.4g}"
    return f"{float(f'{value:.4g}'):,.0f}"


def markdown(table) -> str:
    cells = lambda row: "| " + " | ".join(number(v) if isinstance(v, float) else str(v) for v in row) + " |"
    return "\n".join([cells(table.columns), "|" + "---|" * len(table.columns), *(cells(row) for row in table.itertuples(index=False))])


def explain_command(arguments: argparse.Namespace) -> None:
    from accelbench.surrogate.benchmark import surrogates_folder
    from accelbench.surrogate.explain import contributions, contributions_plot, load_explainer

    folder = Path(arguments.surrogates)
    model, explainer, entry = load_explainer(surrogates_folder(folder), arguments.target)  # a release is verified first
    effects, stages = contributions(model)
    unit = f"log {arguments.target}" if explainer["transform"] == "log" else arguments.target
    print(f"{arguments.target}: the linear model ranks the test split with Kendall tau {explainer['test']['kendall_tau']:.4f}; "
          f"the chosen surrogate ({entry['model']}/{entry['transform']}) {entry['test']['kendall_tau']:.4f}")
    print(f"main effect of each choice, per stage, in {unit} (relative to the stage's mean; log: x exp(effect)):")
    per_stage = effects[effects["stage"] >= 0]
    print(per_stage.assign(label=per_stage["choice"] + "=" + per_stage["value"].astype(str)).pivot(index="stage", columns="label", values="effect")
          .to_string(float_format=lambda v: f"{v:+.4f}"))
    resolution = effects[effects["stage"] < 0]
    if len(resolution):
        print("\neffect of the input resolution (relative to the mean over resolutions):")
        print("  " + "  ".join(f"{int(r)}: {e:+.4f}" for r, e in zip(resolution["value"], resolution["effect"])))
    print("\nper stage: range of its term and the share of its variance the choices' interactions carry")
    print(stages.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if arguments.output:
        with replaceable_folder(arguments.output, "explain", "--output", protected=[folder]) as out:
            effects.to_csv(out / "contributions.csv", index=False)
            stages.to_csv(out / "stages.csv", index=False)
            contributions_plot(effects, f"{arguments.target}: main effects of each choice (linear model, test tau "
                               f"{explainer['test']['kendall_tau']:.3f}; chosen surrogate {entry['test']['kendall_tau']:.3f})", unit, out / "contributions.png")
        print(f"contributions.csv, stages.csv and contributions.png in {arguments.output}")
