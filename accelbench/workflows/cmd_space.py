"""`accelbench space info|sample|stats`, for any registered space (`--space`)."""

from __future__ import annotations

import argparse
import json

from accelbench.search_space import SPACES, count_macs, count_params, get_space, sample
from accelbench.search_space.jsonl import read_architectures
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import emit, json_lines


def register(commands: argparse._SubParsersAction) -> None:
    space = commands.add_parser("space", help="the search space: size, samples, params and MACs")
    actions = space.add_subparsers(dest="action", required=True, metavar="ACTION")

    info = actions.add_parser("info", help="describe the space")
    info.add_argument("--space", default="anb", help=f"one of {', '.join(SPACES)}")
    info.set_defaults(handler=info_command)

    sampler = actions.add_parser("sample", help="N distinct architectures, seeded, as JSON lines of the space's keys")
    sampler.add_argument("--n", type=int, required=True)
    sampler.add_argument("--seed", type=int, default=0)
    sampler.add_argument("--space", default="anb", help=f"one of {', '.join(SPACES)}")
    sampler.add_argument("--output", help="file to write (default: stdout)")
    sampler.set_defaults(handler=sample_command)

    stats = actions.add_parser("stats", help="arch_id, params and MACs of each architecture of a JSON-lines file")
    stats.add_argument("--input", required=True, help="JSON lines, one architecture per line in its space's keys (and its space, when not anb)")
    stats.add_argument("--resolution", type=int, help="input size in px for the MACs (default: the architecture's own; 224 for anb)")
    stats.add_argument("--output", help="file to write (default: stdout)")
    stats.set_defaults(handler=stats_command)


def info_command(arguments: argparse.Namespace) -> None:
    space = get_space(arguments.space)
    description = {
        "space": space.name,
        "size": space.size,
        "keys": {key: list(space.choices_of(key)) for key in space.keys},
        "conditions": [f"{key} applies when {parent} is one of {', '.join(map(str, values))}" for key, parent, values in space.conditions()],
        "blocks": len(space.all_blocks()),
        "num_classes": space.num_classes,
    }
    print(json.dumps(description, indent=2))


MAX_SAMPLE = 10_000_000  # a sweep of a few thousand is the reference's scale; more is a mistyped number


def sample_command(arguments: argparse.Namespace) -> None:
    if not 1 <= arguments.n <= MAX_SAMPLE:
        raise UsageError(f"--n {arguments.n} is not allowed; it must be in [1, {MAX_SAMPLE:,}]")
    architectures = sample(arguments.n, arguments.seed, arguments.space)
    emit(json_lines({"space": architecture.space, **architecture.to_reference()} for architecture in architectures), arguments.output)


def stats_command(arguments: argparse.Namespace) -> None:
    architectures = read_architectures(arguments.input)
    rows = (
        {
            "arch_id": architecture.arch_id,
            "arch": architecture.compact(),
            "params": count_params(architecture),
            "macs": count_macs(architecture, arguments.resolution),
        }
        for architecture in architectures
    )
    emit(json_lines(rows), arguments.output)
