"""The `accelbench` command line: parse arguments, call one function, print the result.

Every failure ends as one line on stderr, never a traceback (`--debug` shows it): bad input exits 2
(an `InputError` from any layer, or argparse's usage errors), a failed run exits 1 (an
`AccelbenchError`, or an `OSError` naming the file and the system's reason), an interrupt exits 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Callable, Sequence

from accelbench.common.errors import AccelbenchError
from accelbench.common.threads import given_threads
from accelbench.workflows import cmd_adapt, cmd_anb, cmd_collect, cmd_data, cmd_lut, cmd_profile, cmd_proxy, cmd_recipe, cmd_release, cmd_search, cmd_space, cmd_surrogate, cmd_targets, cmd_train

# Each command module adds its subcommands; each subcommand sets `handler`.
COMMAND_MODULES = [cmd_space, cmd_recipe, cmd_data, cmd_train, cmd_profile, cmd_targets, cmd_collect, cmd_proxy, cmd_lut, cmd_anb, cmd_surrogate, cmd_adapt, cmd_release, cmd_search]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelbench", description="Accelerator-aware NAS benchmarks, collected and served.")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def describe_os_error(error: OSError) -> str:
    """'cannot use PATH: REASON' with both paths of a rename, and what to check."""
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    reason = error.strerror or str(error)
    return f"cannot use {where}: {reason}; check that the path exists, is of the right kind and is writable" if where else reason


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `kill` ending the command): unwound like Ctrl-C, so partial outputs are removed."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = arguments.handler
    prefix = f"accelbench {arguments.command}: error:"
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    try:
        with given_threads(getattr(arguments, "surrogate_threads", None)):
            return handler(arguments) or 0
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        sys.stderr.close()
        return 141
    except KeyboardInterrupt as interrupt:
        if arguments.debug:
            raise
        how = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        print(f"accelbench {arguments.command}: {how}; what was recorded is kept, run the same command again to resume", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    except AccelbenchError as error:
        if arguments.debug:
            raise
        print(f"{prefix} {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if arguments.debug:
            raise
        print(f"{prefix} {describe_os_error(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - a bug still ends as one line; --debug shows where
        if arguments.debug:
            raise
        print(f"{prefix} unexpected {type(error).__name__}: {error} (run with --debug for the traceback and report it)", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
