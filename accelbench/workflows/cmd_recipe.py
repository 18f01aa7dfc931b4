"""`accelbench recipe show NAME`: a training recipe's resolved values as JSON."""

from __future__ import annotations

import argparse
import json

from accelbench.training.recipe import load_recipe


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("recipe", help="training recipes")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a recipe's resolved values (with global_batch, peak_lr and recipe_id) as JSON")
    show.add_argument("recipe", help="a preset name (anb-proxy, smoke, full) or a recipe file (.toml)")
    show.set_defaults(handler=show_command)


def recipe_summary(recipe) -> dict:
    return {**recipe.to_dict(), "global_batch": recipe.global_batch, "peak_lr": recipe.peak_lr, "trainability_rule": recipe.trainability_rule(),
            "recipe_id": recipe.recipe_id}


def show_command(arguments: argparse.Namespace) -> None:
    print(json.dumps(recipe_summary(load_recipe(arguments.recipe)), indent=1))
