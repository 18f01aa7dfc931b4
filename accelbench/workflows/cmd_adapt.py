"""`accelbench adapt`: a new device from K measurements. `plan` says which K architectures to measure
(`surrogate.cross_device.select_shots`: the rule the cross-device benchmark scores), as a CSV with an empty column for the
target; `fit` takes that CSV back with the measurements filled in and fits the cross-device predictor
from a store's other devices (`surrogate.cross_device`), a surrogate `query` reads."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys

from accelbench.common.errors import InputError
from accelbench.search_space import Architecture, count_macs
from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.cmd_surrogate import add_threads_option
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import replaceable_folder, write_text_atomic

MAX_SHOTS = 1000


def register(commands: argparse._SubParsersAction) -> None:
    adapt = commands.add_parser("adapt", help="a new device from K measurements: which to measure (plan), then the surrogate (fit)")
    actions = adapt.add_subparsers(dest="action", required=True, metavar="ACTION")
    plan = actions.add_parser("plan", help="the K architectures to measure on the new device (spread over MACs, each the most informative of its bin), as a CSV to fill in")
    plan.add_argument("--target", required=True, help="latency_<device> or throughput_<device>: the column to fill in")
    plan.add_argument("--shots", type=int, required=True, help="K: how many architectures to measure (README: the held-out tau at K = 5 to 50)")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--output", required=True, help="FILE.csv: arch_id, architecture (JSON of reference keys), MACs and an empty TARGET column")
    plan.set_defaults(handler=plan_command)

    fit = actions.add_parser("fit", help="fit the new device from the plan's CSV with its TARGET column filled in and a store's other devices")
    fit.add_argument("--store", required=True, help="records of other devices (the sources); the new device's own rows in it are not read")
    fit.add_argument("--target", required=True)
    fit.add_argument("--measured", required=True, help="the plan's CSV with TARGET filled in (rows left empty are skipped)")
    fit.add_argument("--devices", help="a TOML of [devices.<name>] descriptors, the new device's among them (see accelbench/surrogate/devices.toml)")
    fit.add_argument("--out", required=True, help="folder to write: new, empty, or an earlier fit output (then replaced whole)")
    add_threads_option(fit)
    fit.set_defaults(handler=fit_command)


def check_target(target: str) -> None:
    if not target.startswith(("latency_", "throughput_")) or len(target.split("_", 1)[1]) == 0:
        raise UsageError(f"--target {target!r}: a device metric is named latency_<device> or throughput_<device>")


def plan_command(arguments: argparse.Namespace) -> None:
    check_target(arguments.target)
    if not 1 <= arguments.shots <= MAX_SHOTS:
        raise UsageError(f"--shots {arguments.shots} is not allowed; measure between 1 and {MAX_SHOTS} architectures")
    if arguments.seed < 0:
        raise UsageError(f"--seed {arguments.seed}: a seed is a non-negative integer")
    from accelbench.surrogate.cross_device import plan_shots

    architectures = plan_shots(arguments.shots, arguments.seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["arch_id", "architecture", "macs", arguments.target])
    for architecture in architectures:
        writer.writerow([architecture.arch_id, json.dumps(architecture.to_reference(), sort_keys=True), count_macs(architecture), ""])
    write_text_atomic(arguments.output, text.getvalue())
    for architecture in architectures:
        print(f"{architecture.arch_id}  {count_macs(architecture) / 1e6:7.1f} MMACs  {architecture.compact()}")
    print(f"measure these {len(architectures)} architectures' {arguments.target}, write each value into {arguments.output}, then: "
          f"accelbench adapt fit --store STORE --target {arguments.target} --measured {arguments.output} --out DIR", file=sys.stderr)


def read_measured(path: str, target: str) -> tuple[list[Architecture], list[float]]:
    """The rows of the plan's CSV whose TARGET is filled in; a row that is wrong is named."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"--measured {path}: cannot be read as CSV ({error})") from None
    missing = {"arch_id", "architecture", target} - set(rows[0] if rows else {})
    if missing:
        raise UsageError(f"--measured {path}: no column {', '.join(sorted(missing))}; give the CSV `adapt plan --target {target}` wrote, with {target} filled in")
    architectures, values = [], []
    for line, row in enumerate(rows, start=2):
        if not (row[target] or "").strip():
            continue
        where = f"--measured {path} line {line}"
        try:
            keys = json.loads(row["architecture"] or "null")
            if not isinstance(keys, dict):
                raise ValueError("the architecture column holds no JSON object of reference keys")
            architecture = Architecture.from_reference(keys)
            value = float(row[target])
        except (ValueError, InputError) as error:
            raise UsageError(f"{where}: {error}") from None
        if architecture.arch_id != row["arch_id"]:
            raise UsageError(f"{where}: arch_id {row['arch_id']} is not that of its architecture ({architecture.arch_id}); was the row edited?")
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"{where}: {target} = {row[target]!r}; a measurement is a positive number")
        architectures.append(architecture)
        values.append(value)
    if not values:
        raise UsageError(f"--measured {path}: no row has {target} filled in; measure the planned architectures and write their values first")
    return architectures, values


def fit_command(arguments: argparse.Namespace) -> None:
    from accelbench.workflows.surrogates import adapt_store, write_device_fit

    check_target(arguments.target)
    architectures, values = read_measured(arguments.measured, arguments.target)
    store = open_existing_store(arguments.store)
    read_records_checked(store, True, "adapt fit")
    with replaceable_folder(arguments.out, "fit", "--out", protected=[store.root] if store.local else []) as folder:
        fit, details = adapt_store(store, arguments.target, architectures, values, arguments.devices, sys.stderr)
        write_device_fit(fit, details, folder)
    print(f"{arguments.target} surrogate from {len(values)} measurements in {arguments.out} (query it with accelbench query --surrogates {arguments.out})")
