"""`accelbench train`: train each architecture of a JSON-lines file under a recipe."""

from __future__ import annotations

import argparse
import json
import sys
import time

from accelbench.search_space import SPACES
from accelbench.search_space.jsonl import read_architectures
from accelbench.training.folders import resolve_data
from accelbench.training.recipe import RecipeError, load_recipe
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import check_output_file, emit, json_lines


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="train architectures (reference keys, one per line) under a recipe")
    parser.add_argument("--recipe", required=True, help="preset name (anb-proxy, smoke, full) or a recipe file (.toml)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a recipe field, e.g. --set epochs=2")
    parser.add_argument("--input", required=True, help="JSON lines of architectures")
    parser.add_argument("--space", default="anb", choices=list(SPACES), help="the architectures' space (a line may name it; one of another space is refused)")
    parser.add_argument("--data", default="embedded", help="'embedded' (default), 'fashion-mnist' (Debian's dataset-fashion-mnist; 'fashion-mnist:DIR' for its IDX files elsewhere) or an ImageNet-layout folder")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--output", help="file to write (default: stdout)")
    parser.set_defaults(handler=train_command)


def recipe_with_overrides(name: str, assignments: list[str]):
    recipe = load_recipe(name)
    changes = {}
    for assignment in assignments:
        field, separator, text = assignment.partition("=")
        if not separator:
            raise RecipeError(f"--set {assignment!r} is not of the form FIELD=VALUE")
        try:
            changes[field] = json.loads(text)
        except json.JSONDecodeError:
            changes[field] = text
    return recipe.replace(**changes) if changes else recipe


def train_command(arguments: argparse.Namespace) -> None:
    import torch

    from accelbench.training.data import TrainingData
    from accelbench.training.trainer import train

    recipe = recipe_with_overrides(arguments.recipe, arguments.set)
    if arguments.output:
        check_output_file(arguments.output)  # before any training
    architectures = read_architectures(arguments.input, (arguments.space,), f"--space {arguments.space}", arguments.space)
    if arguments.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible here")
    data = TrainingData(resolve_data(arguments.data), workers=arguments.workers, pin_memory=arguments.device == "cuda")
    rows = []
    for number, architecture in enumerate(architectures, start=1):
        started = time.monotonic()

        def progress(record, number=number, started=started) -> None:
            validated = f", val top-1 {record.val_top1:.1f}%" if record.val_top1 is not None else ""
            print(f"[{number}/{len(architectures)}] epoch {record.epoch + 1}/{recipe.epochs} at {record.resolution} px: loss {record.train_loss:.3f}, "
                  f"train top-1 {record.train_top1:.1f}%{validated} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

        result = train(architecture, recipe, data, arguments.device, arguments.seed, on_epoch=progress)
        took = f" ({result.train_time_s:.0f} s)" if result.train_time_s is not None else ""
        print(f"[{number}/{len(architectures)}] {architecture.arch_id} {result.status} top1={result.val_top1}{took}{': ' + result.error if result.error else ''}", file=sys.stderr)
        row = result.to_dict()
        row["curve"] = [dict(epoch) for epoch in row["curve"]]
        rows.append(row)
    emit(json_lines(rows), arguments.output)
