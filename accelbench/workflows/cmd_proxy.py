"""`accelbench proxy-search CONFIG`: the cheapest training recipe that ranks architectures like a reference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.pipeline.store import Store
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import check_output_folder


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("proxy-search", help="find the cheapest training recipe that still ranks architectures like a reference recipe")
    parser.add_argument("config", help="a TOML file or a preset name (proxy-embedded)")
    parser.add_argument("--store", help="where the trainings are recorded (path or URI); default runs/<name>")
    parser.add_argument("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else Ray starts here)")
    parser.add_argument("--out", help="folder for the table, plot and chosen recipe; default STORE/_proxy/<name>")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="train the reference recipe and its noise seeds only: the seed-to-seed agreement no proxy can be judged above")
    parser.set_defaults(handler=proxy_command)


def proxy_command(arguments: argparse.Namespace) -> None:
    from accelbench.proxy.search import OUTPUT_FOLDER, ProxySearch
    from accelbench.workflows.config import load_proxy_config
    from accelbench.workflows.proxy_report import markdown_table, write_report

    config = load_proxy_config(arguments.config)
    store = Store(arguments.store or f"runs/{config.name}")
    if arguments.out is None and not store.local:
        raise UsageError(f"--store {arguments.store} is an object store: give --out, a local folder for the table, plot and chosen recipe")
    if arguments.out:  # its default is inside the store it collects into, its own; anywhere else, no accelbench folder

        check_output_folder(Path(arguments.out), "--out")
    out = Path(arguments.out) if arguments.out else Path(store.root) / OUTPUT_FOLDER / config.name
    result = ProxySearch(config, store, arguments.address).run(arguments.ceiling_only)
    paths = write_report(result, out)
    print(markdown_table(result))
    for note in result.notes:
        print(f"note: {note}")
    if result.chosen is not None:
        chosen = result.results[result.chosen]
        print(f"\nchosen: {chosen.candidate.label} — {result.rule}\nrecipe: {paths['recipe']} (use it as training.recipe, or `accelbench recipe show {paths['recipe']}`)")
    print(f"table: {paths['table']}\nplot: {paths['plot']}", file=sys.stdout)
