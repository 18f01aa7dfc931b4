"""`accelbench data prepare`: a prepared copy of an ImageNet-layout folder (training.prepare)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from accelbench.pipeline.progress import format_duration
from accelbench.training.prepare import PrepareSettings, prepare
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import check_output_folder


def register(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="training data: prepared copies of ImageNet-layout folders")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    prepared = actions.add_parser("prepare", help="copy SRC to DST with each image's longer side at most --max-side px, re-encoded at --quality "
                                                  "(the reference's FFCV store: 400 px, quality 90); resumable; SRC is only read")
    prepared.add_argument("source", metavar="SRC", help="ImageNet-layout folder: SRC/{train,val}/<class>/<image>")
    prepared.add_argument("target", metavar="DST", help="new folder (or one an earlier run of the same command started)")
    prepared.add_argument("--max-side", type=int, default=PrepareSettings.max_side)
    prepared.add_argument("--quality", type=int, default=PrepareSettings.quality)
    prepared.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    prepared.set_defaults(handler=prepare_command)


def prepare_command(arguments: argparse.Namespace) -> None:
    if arguments.workers is not None and arguments.workers < 1:
        raise UsageError(f"--workers={arguments.workers} is not allowed; it must be at least 1")
    settings = PrepareSettings(arguments.max_side, arguments.quality)
    check_output_folder(Path(arguments.target), "DST")  # an earlier prepared copy carries no accelbench mark: resuming stays allowed
    shown = [0.0]

    def progress(done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if now - shown[0] >= 5 or done == total:
            shown[0] = now
            rate = done / seconds if seconds > 0 else 0.0
            eta = format_duration((total - done) / rate) if rate > 0 else "?"
            print(f"[{format_duration(seconds)}] {done}/{total} images, {rate:.0f}/s, ETA {eta}", file=sys.stderr, flush=True)

    report = prepare(arguments.source, arguments.target, settings, arguments.workers, progress)
    print(f"prepared {arguments.target}: {report.written} images written, {report.kept} kept from an earlier run, "
          f"{report.total} in all ({settings.max_side} px, quality {settings.quality}) in {format_duration(report.seconds)}")
