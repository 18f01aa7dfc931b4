"""`accelbench import-anb | export-anb`: the reference's `result_N.json` records into a store and back."""

from __future__ import annotations

import argparse
import json
import sys

from accelbench.pipeline.anb_format import iter_anb_records, records_from_wide, rows_from_records
from accelbench.pipeline.store import Store
from accelbench.pipeline.views import wide
from accelbench.workflows.cmd_collect import open_existing_store, read_records_checked
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import replaceable_folder


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("import-anb", help="read Accel-NASBench result_N.json records (folder or tarball) into a store")
    parser.add_argument("path")
    parser.add_argument("--store", required=True)
    parser.set_defaults(handler=import_command)

    parser = commands.add_parser("export-anb", help="write a store's wide view as Accel-NASBench result_N.json records")
    parser.add_argument("store")
    parser.add_argument("folder")
    parser.add_argument("--recipe-id", help="which training recipe's accuracy, when the store has several")
    parser.add_argument("--allow-damaged", action="store_true", help="export even if some record files cannot be read (each is named)")
    parser.set_defaults(handler=export_command)


def import_command(arguments: argparse.Namespace) -> None:
    from accelbench.pipeline.run import code_version

    store = Store(arguments.store)
    store.check_usable(create=True)
    tables = rows_from_records(iter_anb_records(arguments.path), code_version())  # everything parsed before anything is written
    if not tables.get("archs"):
        raise UsageError(f"{arguments.path} holds no Accel-NASBench records (result_N.json files); nothing to import, no store was made")
    with store.lock("accelbench import-anb"):
        present = {table: store.done_keys(table) if store.exists() else set() for table in tables}
        new = {table: [row for row in rows if row["task_key"] not in present[table]] for table, rows in tables.items()}
        if any(new.values()):
            store.write_tables(new)  # every row checked, then all tables or none
    counts = ", ".join(f"{len(rows)} {table}" for table, rows in new.items())
    kept = sum(len(rows) for rows in tables.values()) - sum(len(rows) for rows in new.values())
    already = f"; {kept} rows were in the store already and were left as they are" if kept else ""
    print(f"imported {counts} rows from {arguments.path} into {arguments.store}{already}", file=sys.stderr)


def export_command(arguments: argparse.Namespace) -> None:
    store = open_existing_store(arguments.store)
    read_records_checked(store, arguments.allow_damaged, "export-anb")
    records = records_from_wide(wide(store, arguments.recipe_id, space="anb"))
    if store.damaged.get("train"):  # --allow-damaged: accuracies lost with a file are left out, never written as nulls
        kept = [record for record in records if record["metrics"]["val_top1"] is not None]
        print(f"warning: {len(records) - len(kept)} architectures without a readable training record are left out", file=sys.stderr)
        records = kept
    with replaceable_folder(arguments.folder, "export-anb", "FOLDER", protected=[store.root] if store.local else []) as folder:
        for number, record in enumerate(records):
            (folder / f"result_{number}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(records)} records to {arguments.folder}", file=sys.stderr)
