"""The append-only Parquet store: one fragment per finished task, written whole or not at all.

Layout under the root (a path, or a URI pyarrow's filesystems understand):

    <table>/<arch_id>.<config_id>.parquet   one fragment per task, named by its key
    <table>/batch-<hash>.parquet            many rows written at once (architectures, imports)
    <table>/part-<hash>.parquet             compacted fragments
    _quarantine/<table>/...                 unreadable files moved aside, their tasks redone
    _lock                                   the driver that owns the store (host, pid, since)

A row is never edited. Should one key have several rows (a redone task; a compaction that stopped
between writing its part and deleting its fragments), readers keep the most recently finished one,
so no state of the files is ever read as lost or duplicated rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.atomic import TEMPORARY_PREFIX, atomic_output
from pipeline.records import SCHEMAS, schema_of, to_table

PARQUET_MAGIC = b"PAR1"
QUARANTINE = "_quarantine"
LOCK = "_lock"
SWEEPS_FOLDER = "_sweeps"  # each sweep's config as collected, so that `status` can say what is left


class StoreError(RuntimeError):
    """A store that cannot be used as asked (locked by another driver, unreadable root, ...)."""


@dataclass
class Listing:
    """What a table holds on disk: fragment and part files, and files moved aside while listing."""

    fragments: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return self.parts + self.fragments


def fragment_name(key: str) -> str:
    arch_id, _table, config_id = key.split("/")
    return f"{arch_id}.{config_id}.parquet"


def key_of_fragment(table: str, name: str) -> str:
    arch_id, config_id = name[: -len(".parquet")].split(".", 1)
    return f"{arch_id}/{table}/{config_id}"


class Store:
    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if "://" in text:
            self.filesystem, self.root = pafs.FileSystem.from_uri(text)
        else:
            self.filesystem, self.root = pafs.LocalFileSystem(), str(Path(text).resolve())
        self.local = isinstance(self.filesystem, pafs.LocalFileSystem)
        self.uri = text
        self.reported_quarantine: list[str] = []

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self) -> bool:
        return self.filesystem.get_file_info(self.root).type == pafs.FileType.Directory

    # --- writing ---
    def write(self, table: str, rows: list[dict[str, Any]]) -> str:
        """One file holding `rows`: a task's fragment (one row) or a batch; returns its path."""
        arrow = to_table(table, rows)
        if len(rows) == 1 and table != "archs":
            name = fragment_name(rows[0]["task_key"])
        else:
            keys = "\n".join(sorted(arrow.column("task_key").to_pylist()))
            name = f"batch-{hashlib.sha256(keys.encode()).hexdigest()[:16]}.parquet"
        return self._write_file(table, name, arrow)

    def _write_file(self, table: str, name: str, arrow: pa.Table) -> str:
        folder = self.path(table)
        final = f"{folder}/{name}"
        self.filesystem.create_dir(folder, recursive=True)
        if not self.local:  # an object store: one PUT is atomic
            with self.filesystem.open_output_stream(final) as sink:
                pq.write_table(arrow, sink, compression="zstd")
            return final
        with atomic_output(final) as handle:
            pq.write_table(arrow, handle, compression="zstd")
        return final

    # --- listing and resume ---
    def list(self, table: str) -> Listing:
        """The table's files; a truncated fragment (no Parquet footer) is quarantined on the way."""
        schema_of(table)
        listing = Listing()
        selector = pafs.FileSelector(self.path(table), allow_not_found=True)
        for info in self.filesystem.get_file_info(selector):
            name = info.base_name
            if info.type != pafs.FileType.File or not name.endswith(".parquet") or name.startswith("."):
                continue
            if not self._has_footer(info):
                listing.quarantined.append(self.quarantine(table, info.path, "no Parquet footer (truncated)"))
            elif name.startswith(("part-", "batch-")):
                listing.parts.append(info.path)
            else:
                listing.fragments.append(info.path)
        listing.fragments.sort()
        listing.parts.sort()
        return listing

    def remove_temporaries(self) -> int:
        """Delete half-written files a killed writer left (`.tmp-*`); only the lock holder may call this."""
        removed = 0
        for table in SCHEMAS:
            for info in self.filesystem.get_file_info(pafs.FileSelector(self.path(table), allow_not_found=True)):
                if info.base_name.startswith(TEMPORARY_PREFIX):
                    self.filesystem.delete_file(info.path)
                    removed += 1
        return removed

    def saved_sweeps(self) -> dict[str, dict[str, Any]]:
        """The configs of the sweeps collected into this store, by name (local stores)."""
        if not self.local:
            return {}
        return {path.stem: json.loads(path.read_text()) for path in sorted(Path(self.root, SWEEPS_FOLDER).glob("*.json"))}

    def _has_footer(self, info: pafs.FileInfo) -> bool:
        if info.size is not None and info.size < 12:
            return False
        if self.local:
            with open(info.path, "rb") as handle:
                handle.seek(-4, os.SEEK_END)
                return handle.read(4) == PARQUET_MAGIC
        with self.filesystem.open_input_file(info.path) as handle:
            handle.seek(info.size - 4)
            return handle.read(4) == PARQUET_MAGIC

    def quarantine(self, table: str, path: str, reason: str) -> str:
        folder = self.path(QUARANTINE, table)
        self.filesystem.create_dir(folder, recursive=True)
        target = f"{folder}/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}-{path.rsplit('/', 1)[-1]}"
        self.filesystem.move(path, target)
        if self.local:  # a log beside the files, so that `status` can say why they were moved
            with open(self.path(QUARANTINE, "log.jsonl"), "a") as log:
                log.write(json.dumps({"table": table, "file": path, "moved_to": target, "reason": reason}) + "\n")
        self.reported_quarantine.append(f"{path}: {reason}; moved to {target}, its task will be redone")
        return target

    def done_keys(self, table: str) -> set[str]:
        """Keys with a record: fragment names, and the task_key column of parts (no full read)."""
        listing = self.list(table)
        keys = {key_of_fragment(table, path.rsplit("/", 1)[-1]) for path in listing.fragments}
        for path in listing.parts:
            keys.update(self._read_files(table, [path], columns=["task_key"]).column("task_key").to_pylist())
        return keys

    # --- reading ---
    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """Every row of the table, one per task key (the most recently finished where a key repeats)."""
        listing = self.list(table)
        arrow = self._read_files(table, listing.files, columns=None)
        arrow = latest_per_key(arrow)
        return arrow.select(columns) if columns else arrow

    def read_pandas(self, table: str, columns: list[str] | None = None):
        return self.read(table, columns).to_pandas()

    def _read_files(self, table: str, paths: list[str], columns: list[str] | None) -> pa.Table:
        schema = schema_of(table)
        if not paths:
            return schema.empty_table().select(columns) if columns else schema.empty_table()
        try:
            dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=self.filesystem)
            return dataset.to_table(columns=columns)
        except (pa.ArrowInvalid, OSError):
            pass
        tables = []  # one file is bad: find it, move it aside, read the rest
        for path in paths:
            try:
                tables.append(pq.read_table(path, schema=schema, columns=columns, filesystem=self.filesystem))
            except (pa.ArrowInvalid, OSError) as error:
                self.quarantine(table, path, f"unreadable: {error}")
        return pa.concat_tables(tables) if tables else (schema.empty_table().select(columns) if columns else schema.empty_table())

    # --- compaction ---
    def compact(self, table: str) -> tuple[int, int]:
        """Rewrite all of a table's files as one part (rows sorted by key); returns (files before, rows).

        The part is written before any fragment is deleted; a crash in between leaves duplicates that
        readers resolve and the next compaction removes."""
        with self.lock("compact"):
            listing = self.list(table)
            if len(listing.files) <= 1:
                return len(listing.files), self.read(table, ["task_key"]).num_rows
            arrow = latest_per_key(self._read_files(table, listing.files, None))
            arrow = arrow.sort_by("task_key")
            keys = "\n".join(arrow.column("task_key").to_pylist())
            name = f"part-{hashlib.sha256(keys.encode()).hexdigest()[:16]}.parquet"
            written = self._write_file(table, name, arrow)
            for path in listing.files:
                if path != written:
                    self.filesystem.delete_file(path)
            return len(listing.files), arrow.num_rows

    # --- one driver at a time ---
    @contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Exclusive ownership of the store by this process (a lock file created exclusively).

        A lock left by a dead process on this host is taken over; one held elsewhere is an error
        that says whose it is and how to release it."""
        self.filesystem.create_dir(self.root, recursive=True)
        path = self.path(LOCK)
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": purpose, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        held = self._lock_owner()
        if held and held.get("host") == owner["host"] and held.get("pid") == owner["pid"]:
            yield  # re-entrant within one process
            return
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644) if self.local else None
            except FileExistsError:
                held = self._lock_owner()
                if held and _is_dead_local_process(held):
                    Path(path).unlink(missing_ok=True)
                    continue
                raise StoreError(
                    f"{self.uri} is in use by {held.get('purpose', '?')} on {held.get('host', '?')} (pid {held.get('pid', '?')}, since "
                    f"{held.get('since', '?')}); wait for it, or if that process is gone, delete {path}"
                ) from None
            if descriptor is not None:
                with os.fdopen(descriptor, "w") as handle:
                    json.dump(owner, handle)
            else:
                with self.filesystem.open_output_stream(path) as sink:
                    sink.write(json.dumps(owner).encode())
            break
        try:
            yield
        finally:
            self.filesystem.delete_file(path)

    def _lock_owner(self) -> dict[str, Any] | None:
        try:
            with self.filesystem.open_input_stream(self.path(LOCK)) as handle:
                return json.loads(handle.read() or b"{}")
        except (FileNotFoundError, OSError, json.JSONDecodeError):
            return None


def _is_dead_local_process(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def latest_per_key(arrow: pa.Table) -> pa.Table:
    """One row per task_key: the most recently finished (the last listed where there is no time)."""
    if arrow.num_rows == 0:
        return arrow
    order = list(range(arrow.num_rows))
    if "finished_at" in arrow.column_names:
        finished = arrow.column("finished_at").cast(pa.int64()).fill_null(-(2**62)).to_pylist()
        order.sort(key=lambda index: finished[index])
    keep: dict[str, int] = {}
    keys = arrow.column("task_key").to_pylist()
    for index in order:
        keep[keys[index]] = index
    if len(keep) == arrow.num_rows:
        return arrow
    return arrow.take(pa.array(sorted(keep.values()), type=pa.int64()))


def status_counts(arrow: pa.Table) -> dict[str, int]:
    if arrow.num_rows == 0:
        return {}
    counts = pc.value_counts(arrow.column("status"))
    return {item["values"].as_py(): item["counts"].as_py() for item in counts}
