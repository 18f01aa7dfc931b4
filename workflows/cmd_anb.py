"""`accelbench import-anb | export-anb`: the reference's `result_N.json` records into a store and back."""

from __future__ import annotations

import argparse
import json
import sys


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("import-anb", help="read Accel-NASBench result_N.json records (folder or tarball) into a store")
    parser.add_argument("path")
    parser.add_argument("--store", required=True)
    parser.set_defaults(handler=import_command)

    parser = commands.add_parser("export-anb", help="write a store's wide view as Accel-NASBench result_N.json records")
    parser.add_argument("store")
    parser.add_argument("folder")
    parser.add_argument("--recipe-id", help="which training recipe's accuracy, when the store has several")
    parser.set_defaults(handler=export_command)


def import_command(arguments: argparse.Namespace) -> None:
    from pipeline.anb_format import iter_anb_records, rows_from_records
    from pipeline.run import code_version
    from pipeline.store import Store

    store = Store(arguments.store)
    store.check_usable(create=True)
    tables = rows_from_records(iter_anb_records(arguments.path), code_version())  # everything parsed before anything is written
    with store.lock("accelbench import-anb"):
        store.write_tables(tables)  # every row checked, then all tables or none
    counts = ", ".join(f"{len(rows)} {table}" for table, rows in tables.items())
    print(f"imported {counts} rows from {arguments.path} into {arguments.store}", file=sys.stderr)


def export_command(arguments: argparse.Namespace) -> None:
    from pipeline.anb_format import records_from_wide
    from pipeline.views import wide
    from workflows.cmd_collect import open_existing_store
    from workflows.output import replaceable_folder

    store = open_existing_store(arguments.store)
    records = records_from_wide(wide(store, arguments.recipe_id))
    with replaceable_folder(arguments.folder, "export-anb", "FOLDER", protected=[store.root] if store.local else []) as folder:
        for number, record in enumerate(records):
            (folder / f"result_{number}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(records)} records to {arguments.folder}", file=sys.stderr)
