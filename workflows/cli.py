"""The `accelbench` command line: parse arguments, call one function, print the result.

Bad input (a known error type from any layer) prints one line naming what was wrong and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from workflows import cmd_anb, cmd_collect, cmd_profile, cmd_release, cmd_space, cmd_surrogate, cmd_train
from workflows.errors import UsageError

# Each command module adds its subcommands; each subcommand sets `handler`.
COMMAND_MODULES = [cmd_space, cmd_train, cmd_profile, cmd_collect, cmd_anb, cmd_surrogate, cmd_release]


USER_ERRORS = [
    ("search_space.space", "SpaceError"),
    ("training.recipe", "RecipeError"),
    ("training.data", "DataError"),
    ("profiling.protocol", "TargetError"),
    ("pipeline.sweep", "ConfigError"),
    ("pipeline.store", "StoreError"),
    ("pipeline.records", "RecordError"),
    ("pipeline.anb_format", "AnbFormatError"),
    ("surrogate.models.base", "SurrogateError"),
]


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "bad input", not "bug". Imported only when an error is being
    handled, and only from modules already loaded: a command that never touched torch must not
    import it here (the surrogate side runs without torch)."""
    import importlib

    types: list[type[BaseException]] = [UsageError]
    for module_name, class_name in USER_ERRORS:
        if module_name in sys.modules:
            types.append(getattr(importlib.import_module(module_name), class_name))
    return tuple(types)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelbench", description="Accelerator-aware NAS benchmarks, collected and served.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = arguments.handler
    try:
        return handler(arguments) or 0
    except user_errors() as error:
        print(f"accelbench {arguments.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
