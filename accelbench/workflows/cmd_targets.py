"""`accelbench targets show CONFIG`: every target of a sweep config with its settings fully resolved."""

from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("targets", help="the profiling targets of a sweep config")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="one JSON object per target: backend, batch, resolution, precision, report, options with defaults")
    show.add_argument("config", help="a TOML file or a preset name")
    show.set_defaults(handler=show_command)


def target_summary(spec) -> dict:
    target = spec.target
    return {"name": target.name, "backend": target.backend, "device": target.device, "batch": target.batch, "resolution": target.resolution,
            "precision": target.precision, "threads": target.threads, "report": list(spec.reported), "options": dict(target.options),
            "resources": dict(target.resources), "target_id": target.target_id}


def show_command(arguments: argparse.Namespace) -> None:
    from accelbench.workflows.config import load_sweep

    sweep = load_sweep(arguments.config)
    for spec in sweep.profiling.targets if sweep.profiling else ():
        print(json.dumps(target_summary(spec)))
