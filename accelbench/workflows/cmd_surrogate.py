"""`accelbench fit | query`: surrogates from a store, and predictions for any architectures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.search_space.jsonl import read_architectures
from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import check_output_file, replaceable_folder, write_text_atomic


FIT_OPTION_DEFAULTS = {"targets": None, "models": None, "members": 5, "calibration_folds": 10, "seed": 0, "include_noisy": False, "max_trees": 8000}  # what --fit fixes


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", nargs="+", help="result columns to fit (default: every one the store has)")
    parser.add_argument("--models", nargs="+", help="candidate models (default: xgboost lightgbm linear block_additive block_queue block_additive_robust block_queue_robust; also random_forest)")
    parser.add_argument("--members", type=int, default=FIT_OPTION_DEFAULTS["members"], help="ensemble members per target (mean and std)")
    parser.add_argument("--calibration-folds", type=int, default=FIT_OPTION_DEFAULTS["calibration_folds"],
                        help="folds of the cross-conformal intervals (more: intervals closer to their level, a longer fit)")
    parser.add_argument("--seed", type=int, default=FIT_OPTION_DEFAULTS["seed"])
    parser.add_argument("--max-trees", type=int, default=FIT_OPTION_DEFAULTS["max_trees"], metavar="N",
                        help="query budget: trees a target's members hold together (a query costs in proportion; 0: no budget)")
    parser.add_argument("--recipe-id", help="which training recipe's accuracy, when the store has several")
    parser.add_argument("--allow-damaged", action="store_true", help="fit even if some record files cannot be read (each is named)")
    parser.add_argument("--include-noisy", action="store_true", help="fit on profiles measured under other load (status noisy) too")
    add_space_option(parser)
    add_threads_option(parser)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, dest="surrogate_threads", metavar="N",
                        help="threads for fitting and querying (default: the cores given: Ray's CPUs for a task, else the affinity mask)")


def add_space_option(parser: argparse.ArgumentParser) -> None:
    from accelbench.search_space import SPACES

    parser.add_argument("--space", choices=list(SPACES), help="whose architectures (default: the store's only space; a store of several needs it)")


def fit_settings(arguments: argparse.Namespace):
    from accelbench.surrogate.fit import FitSettings

    values = {"members": arguments.members, "seed": arguments.seed, "calibration_folds": arguments.calibration_folds,
              "max_trees": arguments.max_trees or None}
    if arguments.models:
        values["models"] = tuple(arguments.models)
    return FitSettings(**values)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("fit", help="fit a surrogate per target; metrics table and predicted-vs-measured plot")
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", required=True, help="folder to write: new, empty, or an earlier fit output (then replaced whole)")
    add_fit_options(parser)
    parser.set_defaults(handler=fit_command)

    parser = commands.add_parser("fit-device", help="fit a device from other devices' records and K of its own (cross-device, few-shot)")
    parser.add_argument("--store", required=True, help="records of other devices (and the K shots of TARGET's, if K > 0)")
    parser.add_argument("--target", required=True, help="latency_<device> or throughput_<device>; the device needs a descriptor")
    parser.add_argument("--shots", type=int, required=True, help="K: measured architectures of TARGET to use (0: zero-shot, from the descriptor)")
    parser.add_argument("--seed", type=int, default=0, help="which K, among those measured (`adapt plan`'s rule)")
    parser.add_argument("--devices", help="a TOML of [devices.<name>] descriptors that adds to (or overrides) accelbench/surrogate/devices.toml, the reference's devices")
    parser.add_argument("--out", required=True, help="folder to write: new, empty, or an earlier fit output (then replaced whole)")
    add_threads_option(parser)
    parser.set_defaults(handler=fit_device_command)

    parser = commands.add_parser("query", help="predict every target (mean and std) for architectures")
    parser.add_argument("--surrogates", required=True, help="a `fit` output or a release folder")
    parser.add_argument("--input", required=True, help="JSON lines of architectures (reference keys) of the surrogates' space")
    parser.add_argument("--output", required=True, help="FILE.csv or FILE.parquet")
    parser.add_argument("--targets", nargs="+")
    add_threads_option(parser)
    parser.set_defaults(handler=query_command)


def fit_command(arguments: argparse.Namespace) -> None:
    from accelbench.workflows.surrogates import fit_store, print_metrics, records_of, write_fit

    settings = fit_settings(arguments)
    store = open_existing_store(arguments.store)
    read_records_checked(store, arguments.allow_damaged, "fit")
    with replaceable_folder(arguments.out, "fit", "--out", protected=[store.root] if store.local else []) as folder:
        fits, frame = fit_store(store, settings, arguments.targets, arguments.recipe_id, sys.stderr, arguments.include_noisy, arguments.space)
        write_fit(fits, settings, folder, records_of(frame, arguments.recipe_id, arguments.include_noisy))
    print_metrics(fits)
    print(f"surrogates, metrics.csv and predicted_vs_measured.png in {arguments.out}")


def fit_device_command(arguments: argparse.Namespace) -> None:
    from accelbench.workflows.surrogates import fit_device_store, print_metrics, write_device_fit

    if arguments.shots < 0:
        raise UsageError(f"--shots {arguments.shots}: must be 0 (zero-shot) or more")
    if arguments.seed < 0:
        raise UsageError(f"--seed {arguments.seed}: a seed is a non-negative integer")
    store = open_existing_store(arguments.store)
    read_records_checked(store, True, "fit-device")  # names any damaged record file
    with replaceable_folder(arguments.out, "fit", "--out", protected=[store.root] if store.local else []) as folder:
        fit, details = fit_device_store(store, arguments.target, arguments.shots, arguments.seed, arguments.devices, sys.stderr)
        write_device_fit(fit, details, folder)
    if fit.test:
        print(f"held-out {arguments.target} ({fit.rows['test']} measured architectures not among the {arguments.shots} shots):")
        print_metrics([fit])
    print(f"{arguments.target} surrogate in {arguments.out} (query it with accelbench query --surrogates {arguments.out})")


def query_command(arguments: argparse.Namespace) -> None:
    import time

    import pandas as pd

    from accelbench.search_space import get_space
    from accelbench.surrogate.benchmark import Benchmark

    suffix = Path(arguments.output).suffix
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--output {arguments.output}: the suffix must be .csv or .parquet")
    check_output_file(arguments.output)
    benchmark = Benchmark.load(arguments.surrogates)
    architectures = read_architectures(arguments.input, (benchmark.space,), f"a benchmark of the {benchmark.space} space", benchmark.space)
    frame = pd.DataFrame([a.to_reference() for a in architectures], columns=list(get_space(benchmark.space).keys))
    started = time.perf_counter()
    predictions = benchmark.query(architectures, arguments.targets)
    elapsed = time.perf_counter() - started
    result = pd.concat([pd.DataFrame({"arch_id": [a.arch_id for a in architectures]}), frame, predictions], axis=1)
    if suffix == ".csv":
        write_text_atomic(arguments.output, result.to_csv(index=False))
    else:
        import io

        buffer = io.BytesIO()
        result.to_parquet(buffer, index=False)
        write_text_atomic(arguments.output, buffer.getvalue())
    print(f"{len(result)} architectures x {len(predictions.columns) // 4} targets (mean, std, lo, hi) in {elapsed:.3f} s -> {arguments.output}", file=sys.stderr)
    without = [name for name, level in benchmark.interval_levels.items() if level is None and (not arguments.targets or name in arguments.targets)]
    if without:
        print(f"{', '.join(without)}: no calibrated interval (a fit-device surrogate has none): their _lo and _hi columns are empty", file=sys.stderr)
