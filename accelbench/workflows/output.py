"""Writing command output all at once, and never over anything accelbench did not write.

Files go to stdout or are written atomically. Folders are filled under a temporary name beside their
destination, then moved into place. An existing destination is replaced only when it is empty or
holds exactly a previous output of the same command (named in its `.accelbench-output.json`); never
the current directory, a protected path (the store being read) or a folder inside or above one.
No output goes inside a store, a release, a surrogates folder or another command's output folder
(`inside_accelbench_folder`), however the path is spelt: those are written only by the command that
creates them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from accelbench.pipeline.atomic import write_bytes_atomic
from accelbench.pipeline.store import LOCK, MARKER
from accelbench.workflows.errors import OutputConflict, UsageError

OUTPUT_MARK = ".accelbench-output.json"


def folder_kind(folder: Path) -> str | None:
    """What accelbench folder this is, by its marks; None for any other folder."""
    from accelbench.surrogate.manifest import MANIFEST
    from accelbench.surrogate.saved import INDEX

    if (folder / MARKER).is_file() or (folder / LOCK).exists() or any((folder / "archs").glob("*.parquet")):
        return "a store"
    if (folder / MANIFEST).is_file():
        return "a release"
    if (folder / OUTPUT_MARK).is_file():  # a fit's surrogates folder is one of these
        try:
            return output_kind(json.loads((folder / OUTPUT_MARK).read_text())["command"])
        except (OSError, ValueError, KeyError, TypeError):
            return "an accelbench output folder"
    if (folder / INDEX).is_file():
        return "a surrogates folder"
    return None


def output_kind(command: str) -> str:
    return f"the output of `accelbench {command}`"


def inside_accelbench_folder(path: Path) -> tuple[str, Path] | None:
    """(kind, folder) of the nearest store, release, surrogates folder or command output that holds
    `path`, judged on the resolved path (symlinks, `..` and relative spellings all count)."""
    for folder in path.resolve().parents:
        kind = folder_kind(folder)
        if kind:
            return kind, folder
    return None


def refuse_inside(path: Path, label: str) -> None:
    found = inside_accelbench_folder(path)
    if found:
        kind, folder = found
        raise UsageError(f"{label} {path} is inside {folder}, {kind}; only the command that creates such a folder writes in it: "
                         "give a path outside it")


def check_output_folder(path: Path, label: str) -> Path:
    """A folder that files are written into (made if missing): never an accelbench folder or inside one."""
    refuse_inside(path, label)
    kind = folder_kind(path.resolve()) if path.is_dir() else None
    if kind:
        raise UsageError(f"{label} {path} is {kind}; only the command that creates such a folder writes in it: give another folder")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{label} {path} is a file; give a folder")
    return path


def json_lines(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, sort_keys=False) + "\n" for row in rows)


def check_output_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; give the name of a file to write")
    refuse_inside(path, "--output")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--output {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"--output {path}: the folder {parent} is not writable")
            break
    return path


def write_text_atomic(path: str | Path, text: str | bytes) -> None:
    write_bytes_atomic(check_output_file(path), text.encode() if isinstance(text, str) else text)


def emit(text: str, output: str | Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(output, text)


def _files_under(folder: Path) -> set[str]:
    return {(Path(root) / name).relative_to(folder).as_posix() for root, _, names in os.walk(folder) for name in names}


def _check_destination(path: Path, label: str, protected: Sequence[str | Path], command: str | None = None) -> None:
    resolved = path.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise UsageError(f"{label} {path} is the current directory or a folder above it; give a new folder")
    for other in protected:
        other = Path(other).resolve()
        if resolved == other or resolved in other.parents or other in resolved.parents:
            kind = folder_kind(other) or "the folder being read"
            noun = kind.removeprefix("an ").removeprefix("a ").removeprefix("the output of ").replace("`accelbench ", "").replace("`", " output")
            raise UsageError(f"{label} {path} is the {noun} {other}, inside it or above it; give a folder outside the {noun}")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{label} {path} is a file; give a folder")
    refuse_inside(path, label)
    kind = folder_kind(resolved) if command and resolved.is_dir() else None  # (a new folder must not exist at all)
    if kind and kind != output_kind(command):
        raise UsageError(f"{label} {path} is {kind}; it is never replaced: give a new folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{label} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{label} {path}: the folder {parent} is not writable")
            break


def _previous_output_of(path: Path, command: str) -> bool:
    """Whether `path` is empty, or holds exactly what `command` wrote there before."""
    present = _files_under(path)
    if not present and not any(path.iterdir()):
        return True
    try:
        mark = json.loads((path / OUTPUT_MARK).read_text())
        written = set(mark["files"]) if mark.get("command") == command else None
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return written is not None and present - {OUTPUT_MARK} <= written


@contextmanager
def _staging(path: Path) -> Iterator[Path]:
    """A staging folder beside `path`; the parent folders it had to make are removed again if the work fails."""
    made = [parent for parent in reversed(path.parents) if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    succeeded = False
    try:  # made inside: a signal that arrives just after it exists still removes it
        os.mkdir(staging)  # mode 0777 less the umask, like any folder the user makes
        yield staging
        succeeded = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not succeeded:
            for parent in reversed(made):
                try:
                    parent.rmdir()  # only if still empty
                except OSError:
                    break


@contextmanager
def replaceable_folder(path: str | Path, command: str, label: str, protected: Sequence[str | Path] = ()) -> Iterator[Path]:
    """The output folder of `command`: yields a staging folder that then replaces `path` whole."""
    path = Path(path)
    _check_destination(path, label, protected, command)
    if path.exists() and not _previous_output_of(path, command):
        raise UsageError(f"{label} {path} is not empty and is not an earlier output of `accelbench {command}`; "
                         "nothing there is deleted: give a new or empty folder")
    with _staging(path) as staging:
        yield staging
        files = sorted(_files_under(staging))
        (staging / OUTPUT_MARK).write_text(json.dumps({"command": command, "files": files}, indent=1) + "\n")
        if path.exists():
            if not _previous_output_of(path, command):  # something was added meanwhile
                raise UsageError(f"{label} {path} changed while this command ran; nothing there is deleted: run it again")
            retired = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(path, retired)
            os.rename(staging, path)
            shutil.rmtree(retired)
        else:
            os.rename(staging, path)


@contextmanager
def new_folder(path: str | Path, label: str, protected: Sequence[str | Path] = ()) -> Iterator[Path]:
    """A folder that must not exist: yields a staging folder renamed into place at the end. Of two
    processes writing the same `path` at once, exactly one succeeds; the other raises OutputConflict."""
    path = Path(path)
    _check_destination(path, label, protected)
    if path.exists():
        raise UsageError(f"{label} {path} exists; it is never overwritten: choose another name or folder")
    with _staging(path) as staging:
        yield staging
        try:
            # a folder is renamed over an empty folder, never over a non-empty one (ENOTEMPTY/EEXIST)
            os.rename(staging, path)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise OutputConflict(f"{path} was written by another process while this one ran; it is kept as that process wrote it") from None
            raise
