"""`accelbench release | verify`: a versioned, checksummed benchmark release, and its check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workflows.cmd_surrogate import add_fit_options, fit_settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("release", help="records + surrogates + search space + report + manifest, in OUT/NAME-VERSION/")
    parser.add_argument("--store", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", default="releases")
    add_fit_options(parser)
    parser.set_defaults(handler=release_command)

    parser = commands.add_parser("verify", help="check a release against its manifest: exit 0 intact, 1 naming what is wrong")
    parser.add_argument("release")
    parser.set_defaults(handler=verify_command)


def release_command(arguments: argparse.Namespace) -> None:
    from workflows.cmd_collect import open_existing_store
    from workflows.errors import UsageError
    from workflows.output import staged_folder
    from workflows.release import release_folder, write_release

    target = release_folder(arguments.out, arguments.name, arguments.version)
    if target.exists():
        raise UsageError(f"{target} exists; a release is never overwritten: choose another --version or --out")
    store = open_existing_store(arguments.store)
    settings = fit_settings(arguments)
    with staged_folder(target, replace=False) as folder:
        manifest = write_release(store, arguments.name, arguments.version, settings, arguments.targets, arguments.recipe_id, folder, sys.stderr)
    print(f"release {target}: {len(manifest['files'])} files, manifest.json at its root")


def verify_command(arguments: argparse.Namespace) -> int:
    from surrogate.manifest import problems

    found = problems(Path(arguments.release))
    if found:
        for problem in found:
            print(f"{arguments.release}: {problem}", file=sys.stderr)
        return 1
    import json

    files = json.loads((Path(arguments.release) / "manifest.json").read_text())["files"]
    print(f"{arguments.release}: intact ({len(files)} files match the manifest)")
    return 0
