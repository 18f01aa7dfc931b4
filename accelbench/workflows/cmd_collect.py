"""`accelbench collect | status | compact`: run a sweep into a store, see where it stands, compact it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.common.errors import InputError
from accelbench.pipeline.records import SCHEMAS
from accelbench.pipeline.store import DamagedStore, SWEEPS_FOLDER, Store, StoreError, status_counts
from accelbench.pipeline.views import result_columns, rwe_correlation, wide
from accelbench.workflows.output import check_output_folder
from accelbench.workflows.store_plots import write_store_plots

REPORT_FOLDER = "_report"  # learning curves and Pareto fronts, redrawn after each collect


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("collect", help="run a sweep (train + profile) into a store; resumes where it stopped")
    parser.add_argument("config", help="a TOML file or a preset name (default, anb-imagenet)")
    parser.add_argument("--store", help="where the records go (path or URI); default runs/<sweep name>")
    parser.add_argument("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else Ray starts here)")
    parser.add_argument("--retry", action="append", default=[], choices=["failed", "untrainable", "diverged", "unavailable", "noisy"],
                        help="run again the tasks recorded with this status (repeatable)")
    parser.set_defaults(handler=collect_command)

    parser = commands.add_parser("status", help="counts per table and status, failures with reasons, what is left")
    parser.add_argument("store")
    parser.add_argument("--failures", type=int, default=20, help="how many failure reasons to list")
    parser.add_argument("--plots", metavar="DIR", help="also draw learning curves and Pareto fronts into DIR")
    parser.set_defaults(handler=status_command)

    parser = commands.add_parser("compact", help="rewrite each table's fragments into one file, keeping every record once")
    parser.add_argument("store")
    parser.set_defaults(handler=compact_command)


def open_existing_store(path: str):
    """A store to read: a NotAStore error (exit 2) names what is wrong with the path."""
    store = Store(path)
    store.check_usable(create=False)
    return store


def read_records_checked(store, allow_damaged: bool, what: str) -> None:
    """Read every record table once; a damaged record file stops `what` (exit 1) before anything is
    written, unless `allow_damaged`, when each is named on stderr and the work goes on without it."""
    for table in ("archs", "train", "profile"):
        store.read(table, ["task_key"])
    lines = [line for table in sorted(store.damaged) for line in store.damaged[table]]
    if not lines:
        return
    if allow_damaged:
        for line in lines:
            print(f"warning: {line}", file=sys.stderr)
        return
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    raise DamagedStore(f"{lines[0]}{more}; {what} would leave those records out, so nothing was written: "
                       "collect or import them again, or pass --allow-damaged to go on without them")


def collect_command(arguments: argparse.Namespace) -> int:
    from accelbench.pipeline.run import collect
    from accelbench.workflows.config import load_sweep

    sweep = load_sweep(arguments.config)
    store = Store(arguments.store or f"runs/{sweep.name}")
    summary = collect(sweep, store, arguments.address, tuple(arguments.retry))
    print_summary(store, file=sys.stdout)
    if store.local and summary.ran:
        plots = write_store_plots(store, Path(store.root) / REPORT_FOLDER)
        print(f"plots: {', '.join(str(p) for p in plots)}" if plots else "", file=sys.stdout)
    return 130 if summary.interrupted else 0


def print_summary(store, file=None) -> None:
    """Per stage and status, the records the store holds."""
    file = file or sys.stdout

    rows = []
    train = store.read("train", ["task_key", "recipe_name", "status"])
    if train.num_rows:
        for recipe in sorted(set(train.column("recipe_name").to_pylist())):
            subset = train.filter(train.column("recipe_name").to_numpy(zero_copy_only=False) == recipe)
            rows.append((f"train ({recipe})", status_counts(subset)))
    for table in ("profile", "blocks"):
        records = store.read(table, ["task_key", "target", "status"])
        for target in sorted(set(records.column("target").to_pylist())):
            subset = records.filter(records.column("target").to_numpy(zero_copy_only=False) == target)
            rows.append((f"{table} {target}", status_counts(subset)))
    statuses = ["ok", "failed", "untrainable", "diverged", "unavailable"]
    width = max([len(stage) for stage, _ in rows] + [5])
    print(f"{'stage':<{width}}  " + "  ".join(f"{s:>11}" for s in statuses), file=file)
    for stage, counts in rows:
        print(f"{stage:<{width}}  " + "  ".join(f"{counts.get(s, 0):>11}" for s in statuses), file=file)
    spaces = store.read("archs", ["space"]).column("space").to_pylist()
    counts = {space: spaces.count(space) for space in sorted(set(spaces))}
    per_space = f" ({', '.join(f'{n} {space}' for space, n in counts.items())})" if len(counts) > 1 else ""
    print(f"{len(spaces)} architectures{per_space} in {store.uri}", file=file)
    for space, count in counts.items():
        if len(counts) > 1:
            print(f"\n{space}:", file=file)
        print_results(store, space, count <= SHOW_RESULTS_UP_TO, file)


SHOW_RESULTS_UP_TO = 20  # architectures; a larger store is summarised by counts (and the RWE correlation) only


def print_results(store, space: str, table: bool, file) -> None:
    try:
        frame = wide(store, space=space)
    except StoreError:  # several recipes: `fit --recipe-id` chooses; counts are enough here
        return
    if table:
        columns = ["compact", "params", *result_columns(frame)]
        print("\n" + frame[columns].to_string(index=False, float_format=lambda value: f"{value:.2f}"), file=file)
    print_rwe(frame, file)


def print_rwe(frame, file=None) -> None:
    correlation = rwe_correlation(frame)
    if correlation:
        print(f"\nrandom-weight top-1 vs trained top-1 over {correlation['architectures']} architectures: "
              f"Kendall tau {correlation['kendall_tau']:.3f}, Spearman {correlation['spearman']:.3f}", file=file)
    elif {"random_weight_top1", "val_top1"} <= set(frame.columns) and len(both := frame[["random_weight_top1", "val_top1"]].dropna()):
        print(f"\nrandom-weight top-1 vs trained top-1: {len(both)} architectures have both; a ranking needs at least 5", file=file)


def status_command(arguments: argparse.Namespace) -> None:
    from accelbench.pipeline.plan import make_plan
    from accelbench.pipeline.sweep import Sweep

    if arguments.plots:
        check_output_folder(Path(arguments.plots), "--plots")  # a reader never writes into what it reads
    store = open_existing_store(arguments.store)
    print_summary(store)
    failures = []
    for table in ("train", "profile", "blocks"):
        rows = store.read(table, ["task_key", "status", "error"]).to_pylist()
        failures += [row for row in rows if row["status"] != "ok"]
    if failures:
        print(f"\n{len(failures)} tasks did not end ok:")
        for row in failures[: arguments.failures]:
            print(f"  {row['task_key']}  {row['status']}: {(row['error'] or '').splitlines()[0][:160] if row['error'] else ''}")
        if len(failures) > arguments.failures:
            print(f"  ... and {len(failures) - arguments.failures} more (--failures N)")
    entries = store.quarantine_log()
    if entries:
        print(f"\n{len(entries)} unreadable files were quarantined (their tasks are redone by the next collect):")
        for entry in entries[-10:]:
            print(f"  {entry.get('file')}: {entry.get('reason')}")
    for name, saved in store.saved_sweeps().items():
        source = f"{store.uri}/{SWEEPS_FOLDER}/{name}.json"
        if not isinstance(saved, dict) or "sweep" not in saved:
            print(f"\nsweep {name}: saved by an older accelbench; run its collect again to see what is left")
            continue
        try:
            sweep = Sweep.from_dict(_drop_nones(saved["sweep"]), source=source)
            plan = make_plan(sweep, store, data_id=saved.get("data_id"))
        except InputError as error:
            print(f"\nsweep {name}: cannot say what is left: {error}")
            continue
        print(f"\nsweep {sweep.name}: {plan.done}/{plan.total} tasks recorded, {len(plan.todo)} left")
    if store.skipped:
        print(f"\n{len(store.skipped)} files were skipped (this command never changes the store):")
        for line in store.skipped[:20]:
            print(f"  {line}")
    if arguments.plots:
        for path in write_store_plots(store, Path(arguments.plots)):
            print(f"plot: {path}")


def _drop_nones(values):
    """A saved sweep back into config form (absent optional sections were written as null)."""
    if isinstance(values, dict):
        return {key: _drop_nones(value) for key, value in values.items() if value is not None}
    return values


def compact_command(arguments: argparse.Namespace) -> None:
    store = open_existing_store(arguments.store)

    for table in SCHEMAS:
        files, rows = store.compact(table)
        print(f"{table}: {files} files -> {1 if rows else 0} ({rows} records)")
