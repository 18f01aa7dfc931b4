"""`accelbench release | verify`: a versioned, checksummed benchmark release, and its check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.cmd_surrogate import FIT_OPTION_DEFAULTS, add_fit_options, fit_settings
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import new_folder


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("release", help="records + surrogates + search space + report + manifest, in OUT/NAME-VERSION/")
    parser.add_argument("--store", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", default="releases")
    parser.add_argument("--fit", metavar="FOLDER", help="an `accelbench fit` output of this store's records: released as it is, with its settings "
                                                       "(no second fit; the fit options below are then refused)")
    add_fit_options(parser)
    parser.set_defaults(handler=release_command)

    parser = commands.add_parser("verify", help="check a release against its manifest: exit 0 intact, 1 naming what is wrong")
    parser.add_argument("release")
    parser.add_argument("--digest", help="the sha256 that `release` printed: also checks that the manifest itself is the one published")
    parser.set_defaults(handler=verify_command)


def release_command(arguments: argparse.Namespace) -> None:
    from accelbench.surrogate.manifest import release_digest
    from accelbench.workflows.release import release_folder, write_release

    target = release_folder(arguments.out, arguments.name, arguments.version)
    if arguments.fit:
        given = [f"--{name.replace('_', '-')}" for name in FIT_OPTION_DEFAULTS if getattr(arguments, name) != FIT_OPTION_DEFAULTS[name]]
        if given:
            raise UsageError(f"--fit reuses that fit with its own settings; {', '.join(given)} cannot change them: drop them, or release without --fit")
    store = open_existing_store(arguments.store)
    settings = fit_settings(arguments)
    read_records_checked(store, arguments.allow_damaged, "release")
    with new_folder(target, "release", protected=[store.root] if store.local else []) as folder:
        manifest = write_release(store, arguments.name, arguments.version, settings, arguments.targets, arguments.recipe_id, folder, sys.stderr,
                                 Path(arguments.fit) if arguments.fit else None, arguments.include_noisy, arguments.space)
        digest = release_digest(folder)
    print(f"release {target}: {len(manifest['files'])} files, manifest.json at its root")
    print(f"digest {digest} (sha256 of manifest.json; check with: accelbench verify {target} --digest {digest})")


def verify_command(arguments: argparse.Namespace) -> int:
    from accelbench.surrogate.manifest import problems, release_digest

    from accelbench.surrogate.manifest import SHA256

    if arguments.digest is not None and not SHA256.fullmatch(arguments.digest):
        raise UsageError(f"--digest {arguments.digest!r} is not a sha256 (64 lowercase hex digits, nothing around them); give the digest `release` printed")
    folder = Path(arguments.release)
    found = problems(folder, arguments.digest)
    if found:
        for problem in found:
            print(f"{arguments.release}: {problem}", file=sys.stderr)
        return 1
    print(f"{arguments.release}: intact (every file matches the manifest; digest {release_digest(folder)})")
    return 0
