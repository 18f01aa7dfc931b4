"""The append-only Parquet store: one fragment per finished task, written whole or not at all.

Layout under the root (a path, or a URI pyarrow's filesystems understand):

    _store.json                             marks the folder as a store (format, schema version)
    <table>/<arch_id>.<config_id>.parquet   one fragment per task, named by its key
    <table>/batch-<hash>.parquet            many rows written at once (architectures, imports)
    <table>/part-<hash>.parquet             compacted fragments
    _quarantine/<table>/...                 unreadable files moved aside (by the lock holder), their tasks redone
    _quarantine/log.jsonl                   why each was moved
    _sweeps/<name>.json                     each sweep's config as collected
    _artifacts/weights/<arch_id>.<config_id>.safetensors   trained weights, named by their train task's key
    _lock                                   the process that owns the store (host, pid, since)

A row is never edited. Should one key have several rows (a redone task; a compaction that stopped
between writing its part and deleting its fragments), readers keep the most recently finished one,
so no state of the files is ever read as lost or duplicated rows.

Only the lock holder changes files: readers without the lock (`status`, `fit`, `export-anb`) skip an
unreadable or foreign file and report it, and never write. On a local or NFS file system the lock is
an `flock` held for the process's lifetime: the kernel frees it when the process ends, however it
ends, so no takeover of a dead owner's lock is needed and no two processes can hold it. On object
stores (no atomic create through pyarrow) the lock is advisory: it keeps two careful users apart,
not two racing ones.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
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

from accelbench.common.errors import AccelbenchError, InputError, check_name
from accelbench.pipeline.atomic import TEMPORARY_PREFIX, atomic_output
from accelbench.pipeline.records import SCHEMAS, SCHEMA_VERSION, schema_of, to_table

PARQUET_MAGIC = b"PAR1"
MARKER = "_store.json"
QUARANTINE = "_quarantine"
LOCK = "_lock"
SWEEPS_FOLDER = "_sweeps"  # each sweep's config as collected, so that `status` can say what is left
ARTIFACTS = "_artifacts"
FRAGMENT_NAME = re.compile(r"[0-9a-f]{16}\.[A-Za-z0-9][A-Za-z0-9._-]*\.parquet")
_HELD_LOCKS: dict[str, int] = {}  # lock path -> depth: the lock is re-entrant within one process


class StoreError(AccelbenchError):
    """A store that cannot be used as asked (locked by another process, unreadable, ...)."""


class DamagedStore(StoreError):
    """Record files that cannot be read: a command that would silently leave their records out stops."""


class NotAStore(InputError):
    """A path given as a store that is not one (a file, a foreign folder)."""


@dataclass
class Listing:
    """What a table holds on disk: fragment and part files; files skipped or moved aside while listing."""

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


def schema_problem(found: pa.Schema, table: str) -> str | None:
    """Why a file's own schema cannot hold `table`'s records (None when it can)."""
    missing = [f.name for f in schema_of(table) if not f.nullable and f.name not in found.names]
    return f"not a {table} record file (no column {', '.join(missing)})" if missing else None


class Store:
    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if "://" in text:
            self.filesystem, self.root = pafs.FileSystem.from_uri(text)
        else:
            self.filesystem, self.root = pafs.LocalFileSystem(), str(Path(text).resolve())
        self.local = isinstance(self.filesystem, pafs.LocalFileSystem)
        self.uri = text
        self.reported_quarantine: list[str] = []  # files moved aside by this process (lock holder)
        self.skipped: list[str] = []  # files a reader without the lock left alone, with the reason
        self.damaged: dict[str, list[str]] = {}  # of those, record files that could not be read, by table (their records are missing)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _type(self, *parts: str) -> pafs.FileType:
        return self.filesystem.get_file_info(self.path(*parts)).type

    def exists(self) -> bool:
        return self._type() == pafs.FileType.Directory

    def is_store(self) -> bool:
        """A store: marked by `_store.json`, or (written before the mark existed) holding a table folder, or
        held by a process that is making it (its `_lock` comes before its mark)."""
        return (self._type(MARKER) == pafs.FileType.File or self._type(LOCK) == pafs.FileType.File
                or any(self._type(table) == pafs.FileType.Directory for table in SCHEMAS))

    def check_usable(self, create: bool) -> None:
        """Raise NotAStore unless this is a store (or, with `create`, a new or empty folder to make one in)."""
        if self.holds_lock():  # this process owns it (a proxy search's collects, say)
            return
        kind = self._type()
        if kind == pafs.FileType.File:
            raise NotAStore(f"{self.uri} is a file, not a store folder")
        if kind == pafs.FileType.NotFound:
            if create:
                return
            raise NotAStore(f"{self.uri}: no such store (a folder written by `accelbench collect` or `import-anb`)")
        if self.is_store():
            return
        empty = not self.filesystem.get_file_info(pafs.FileSelector(self.root, recursive=False))
        if not (create and empty):
            raise NotAStore(f"{self.uri} is not an accelbench store (no {MARKER}, no {', '.join(SCHEMAS)} folder)"
                            + ("; give a new or empty folder for a new store" if create else ""))

    @property
    def lock_is_advisory(self) -> bool:
        return not self.local

    # --- writing (the lock holder) ---
    def write(self, table: str, rows: list[dict[str, Any]]) -> str:
        """One file holding `rows`: a task's fragment (one row) or a batch; returns its path."""
        arrow = to_table(table, rows)
        return self._write_files({table: [(self._file_name(table, arrow), arrow)]})[0]

    def write_tables(self, tables: dict[str, list[dict[str, Any]]]) -> list[str]:
        """All or nothing: every row of every table is checked, every file written under a temporary
        name, and only then are they renamed into place."""
        arrows = {table: to_table(table, rows) for table, rows in tables.items() if rows}
        return self._write_files({table: [(self._file_name(table, arrow, batch=True), arrow)] for table, arrow in arrows.items()})

    @staticmethod
    def _file_name(table: str, arrow: pa.Table, batch: bool = False) -> str:
        if arrow.num_rows == 1 and table != "archs" and not batch:
            return fragment_name(arrow.column("task_key")[0].as_py())
        keys = "\n".join(sorted(arrow.column("task_key").to_pylist()))
        return f"batch-{hashlib.sha256(keys.encode()).hexdigest()[:16]}.parquet"

    def _write_files(self, files: dict[str, list[tuple[str, pa.Table]]]) -> list[str]:
        written = []
        self._mark()
        if not self.local:  # an object store: each PUT is atomic
            for table, items in files.items():
                self.filesystem.create_dir(self.path(table), recursive=True)
                for name, arrow in items:
                    with self.filesystem.open_output_stream(self.path(table, name)) as sink:
                        pq.write_table(arrow, sink, compression="zstd")
                    written.append(self.path(table, name))
            return written
        staged: list[tuple[Path, Path]] = []
        try:
            for table, items in files.items():
                for name, arrow in items:
                    final = Path(self.path(table, name))
                    final.parent.mkdir(parents=True, exist_ok=True)
                    temporary = final.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{name}")
                    staged.append((temporary, final))
                    with open(temporary, "wb") as handle:
                        pq.write_table(arrow, handle, compression="zstd")
                        handle.flush()
                        os.fsync(handle.fileno())
            for temporary, final in staged:
                os.replace(temporary, final)
                written.append(str(final))
        finally:
            for temporary, _ in staged:
                temporary.unlink(missing_ok=True)
        return written

    def _mark(self) -> None:
        if self._type(MARKER) != pafs.FileType.File:
            self.filesystem.create_dir(self.root, recursive=True)
            payload = json.dumps({"format": "accelbench-store", "schema_version": SCHEMA_VERSION}) + "\n"
            if self.local:
                with atomic_output(self.path(MARKER)) as handle:
                    handle.write(payload.encode())
            else:
                with self.filesystem.open_output_stream(self.path(MARKER)) as sink:
                    sink.write(payload.encode())

    def save_sweep(self, name: str, config: dict[str, Any]) -> None:
        """The config a sweep was collected with, so that `status` can say what is left (local stores)."""
        if self.local:
            with atomic_output(self.path(SWEEPS_FOLDER, f"{check_name(name, 'sweep name')}.json")) as handle:
                handle.write(json.dumps(config, indent=1).encode())

    @staticmethod
    def weights_path(train_key: str) -> str:
        """Where a training task's weights go, relative to the root."""
        return f"{ARTIFACTS}/weights/{fragment_name(train_key)[: -len('.parquet')]}.safetensors"

    def put_artifact(self, relative: str, local: Path) -> str:
        """Copy a file into the store at `relative` (whole or not at all); returns its sha256. Written by the
        training workers on behalf of the lock holder, before the record that names it."""
        digest = hashlib.sha256()
        if self.local:
            with atomic_output(self.path(relative)) as sink, open(local, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    sink.write(block)
        else:
            self.filesystem.create_dir(self.path(relative).rsplit("/", 1)[0], recursive=True)
            with self.filesystem.open_output_stream(self.path(relative)) as sink, open(local, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    sink.write(block)
        return digest.hexdigest()

    # --- listing and resume ---
    def list(self, table: str) -> Listing:
        """The table's record files. A truncated one (no Parquet footer) or one of another schema is
        moved aside by the lock holder and skipped (and reported) by anyone else; a file whose name is
        not a record file's is left alone and reported."""
        schema_of(table)
        listing = Listing()
        selector = pafs.FileSelector(self.path(table), allow_not_found=True)
        for info in self.filesystem.get_file_info(selector):
            name = info.base_name
            if name.startswith("."):  # a writer's temporary
                continue
            if info.type != pafs.FileType.File or not (FRAGMENT_NAME.fullmatch(name) or re.fullmatch(r"(part|batch)-[0-9a-z-]+\.parquet", name)):
                self._skip(f"{info.path}: not a record file name (left alone)")
                continue
            problem = None if self._has_footer(info) else "no Parquet footer (truncated)"
            if problem is None and not FRAGMENT_NAME.fullmatch(name):  # parts are few: check their schema here
                problem = self._file_schema_problem(table, info.path)
            if problem:
                moved = self._set_aside(table, info.path, problem)
                if moved:
                    listing.quarantined.append(moved)
            elif FRAGMENT_NAME.fullmatch(name):
                listing.fragments.append(info.path)
            else:
                listing.parts.append(info.path)
        listing.fragments.sort()
        listing.parts.sort()
        return listing

    def _file_schema_problem(self, table: str, path: str) -> str | None:
        try:
            return schema_problem(pq.read_schema(path, filesystem=self.filesystem), table)
        except (pa.ArrowException, OSError) as error:
            return f"unreadable: {error}"

    def _skip(self, line: str) -> None:
        if line not in self.skipped:
            self.skipped.append(line)

    def remove_temporaries(self) -> int:
        """Delete half-written files a killed writer left (`.tmp-*`); only the lock holder may call this."""
        self._require_lock("remove temporaries")
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
        sweeps = {}
        for path in sorted(Path(self.root, SWEEPS_FOLDER).glob("*.json")):
            try:
                sweeps[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                self._skip(f"{path}: unreadable sweep config ({error}); left alone")
        return sweeps

    def quarantine_log(self) -> list[dict[str, Any]]:
        """Why files were moved aside, oldest first (local stores)."""
        path = Path(self.path(QUARANTINE, "log.jsonl"))
        if not self.local or not path.is_file():
            return []
        entries = []
        for line in path.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

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

    def _set_aside(self, table: str, path: str, reason: str) -> str | None:
        """Quarantine `path` if this process holds the lock; else skip it and say so."""
        if self.path(LOCK) in _HELD_LOCKS:
            return self.quarantine(table, path, reason)
        name = path.rsplit("/", 1)[-1]
        held = f"its record {key_of_fragment(table, name)}" if FRAGMENT_NAME.fullmatch(name) else "its records (how many is unknown: a damaged file's row count is lost with it)"
        line = f"{path}: {reason}; skipped, and with it {held} (the next collect moves it aside and redoes its task)"
        self._skip(line)
        if line not in self.damaged.setdefault(table, []):
            self.damaged[table].append(line)
        return None

    def quarantine(self, table: str, path: str, reason: str) -> str:
        self._require_lock("quarantine")
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
        empty = schema.empty_table().select(columns) if columns else schema.empty_table()
        if not paths:
            return empty
        try:
            dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=self.filesystem)
            arrow = dataset.to_table(columns=columns)
            if _required_columns_complete(arrow, table):
                return arrow
        except (pa.ArrowException, OSError):
            pass
        tables = []  # some file is bad or foreign: find it, set it aside, read the rest
        for path in paths:
            try:
                problem = schema_problem(pq.read_schema(path, filesystem=self.filesystem), table)
                if problem is None:
                    one = pq.read_table(path, schema=schema, columns=columns, filesystem=self.filesystem)
                    if _required_columns_complete(one, table):
                        tables.append(one)
                        continue
                    problem = "required values are missing"
            except (pa.ArrowException, OSError) as error:
                problem = f"unreadable: {error}"
            self._set_aside(table, path, problem)
        return pa.concat_tables(tables) if tables else empty

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
            written = self._write_files({table: [(name, arrow)]})[0]
            for path in listing.files:
                if path != written:
                    self.filesystem.delete_file(path)
            return len(listing.files), arrow.num_rows

    # --- one writer at a time ---
    def _require_lock(self, what: str) -> None:
        if self.path(LOCK) not in _HELD_LOCKS:
            raise StoreError(f"{self.uri}: {what} needs the store's lock (internal error: take Store.lock first)")

    def holds_lock(self) -> bool:
        return self.path(LOCK) in _HELD_LOCKS

    @contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Exclusive ownership of the store by this process; re-entrant. Another holder is an error
        that says whose it is."""
        path = self.path(LOCK)
        if path in _HELD_LOCKS:
            _HELD_LOCKS[path] += 1
            try:
                yield
            finally:
                _HELD_LOCKS[path] -= 1
            return
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": purpose, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": uuid.uuid4().hex}
        created = not self.exists()
        self.filesystem.create_dir(self.root, recursive=True)
        release = self._take_local(path, owner) if self.local else self._take_advisory(path, owner)
        _HELD_LOCKS[path] = 1
        try:
            yield
        finally:
            del _HELD_LOCKS[path]
            release()
            if created and self.local:  # a run that wrote nothing leaves no empty store behind
                try:
                    os.rmdir(self.root)
                except OSError:
                    pass

    def _take_local(self, path: str, owner: dict[str, Any]):
        while True:
            descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held = _owner_of(os.read(descriptor, 4096))
                os.close(descriptor)
                raise self._in_use(held) from None
            try:  # the file may have been released and removed between our open and our flock
                same = os.fstat(descriptor).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(owner).encode())

        def release() -> None:
            os.unlink(path)  # while still holding it: whoever opened this file meanwhile sees it is gone and retries
            os.close(descriptor)

        return release

    def _take_advisory(self, path: str, owner: dict[str, Any]):
        if self.filesystem.get_file_info(path).type != pafs.FileType.NotFound:
            raise self._in_use(self._read_owner())
        with self.filesystem.open_output_stream(path) as sink:
            sink.write(json.dumps(owner).encode())

        def release() -> None:
            if (self._read_owner() or {}).get("token") == owner["token"]:
                self.filesystem.delete_file(path)

        return release

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            with self.filesystem.open_input_stream(self.path(LOCK)) as handle:
                return _owner_of(handle.read())
        except OSError:
            return None

    def _in_use(self, held: dict[str, Any] | None) -> StoreError:
        held = held or {}
        how = "it frees itself when that process ends" if self.local else f"if that process is gone, delete {self.path(LOCK)}"
        return StoreError(f"{self.uri} is in use by {held.get('purpose', '?')} on {held.get('host', '?')} (pid {held.get('pid', '?')}, since "
                          f"{held.get('since', '?')}); wait for it to finish ({how})")


def _owner_of(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _required_columns_complete(arrow: pa.Table, table: str) -> bool:
    """A file of another schema reads as nulls where our records always have values."""
    for item in schema_of(table):
        if not item.nullable and item.name in arrow.column_names and arrow.column(item.name).null_count:
            return False
    return True


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
