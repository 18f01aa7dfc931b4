"""A prepared copy of an ImageNet-layout folder: the reference's FFCV store (`train_400_0.50_90.ffcv`:
longest side at most 400 px, JPEG quality 90) as a folder of JPEGs that both loaders read.

Each image is decoded, shrunk by an area average (Pillow's BOX filter; FFCV used OpenCV's INTER_AREA,
the same average) so that its longer
side is at most `max_side`, and written as a JPEG at `quality`. The layout is kept; a file that is not a
JPEG gets `.jpg` added to its name. The work runs in a process pool, is resumable (a file already in
DST is kept), and is atomic per file (written under a temporary name in its folder, then renamed).
SRC is only ever read. DST/prepared.json, written first, names the source's identity and the
settings: a later run with other settings or another source is refused, and training.folders.identify
makes the settings part of the copy's fingerprint, so its records never mix with the source's.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from accelbench.training.folders import MARKER, SPLITS, DataError, identify, list_image_folder

JPEG_SUFFIXES = {".jpeg", ".jpg"}
TEMPORARY_PREFIX = ".prepare."  # with suffix .partial: never listed as an image; removed by the next run


@dataclass(frozen=True)
class PrepareSettings:
    max_side: int = 400
    quality: int = 90

    def __post_init__(self) -> None:
        for name, low, high in (("max_side", 16, 100_000), ("quality", 1, 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise DataError(f"{name.replace('_', '-')}={value!r} is not allowed; it must be an integer in [{low}, {high}]")


@dataclass(frozen=True)
class PrepareReport:
    written: int
    kept: int  # already in DST from an earlier run
    total: int
    seconds: float


def prepared_name(name: str) -> str:
    return name if os.path.splitext(name)[1].lower() in JPEG_SUFFIXES else name + ".jpg"


def prepare_image(source: str, target: str, max_side: int, quality: int) -> None:
    """One image, written whole or not at all."""
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
    width, height = image.size
    scale = max_side / max(height, width)
    if scale < 1:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=TEMPORARY_PREFIX, suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            image.save(handle, "JPEG", quality=quality)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def check_folders(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise DataError(f"SRC={source} is not a folder; expected {source}/{{train,val}}/<class>/<image>.JPEG")
    source, target = source.resolve(), target.resolve()
    if source == target or target.is_relative_to(source) or source.is_relative_to(target):
        raise DataError(f"DST={target} and SRC={source} overlap; prepare into a folder outside the source (SRC is never written)")


def start_marker(source: Path, target: Path, settings: PrepareSettings) -> None:
    """Write DST/prepared.json, or check that the one there is this run's (resume)."""
    marker = {"source_data_id": identify(source).data_id, "source": str(source.resolve()), **asdict(settings)}
    path = target / MARKER
    if path.exists():
        found = json.loads(path.read_text())
        same = {k: found.get(k) for k in ("source_data_id", *asdict(settings))} == {k: marker[k] for k in ("source_data_id", *asdict(settings))}
        if not same:
            raise DataError(f"{target} is a prepared copy of another source or with other settings ({found}); prepare into a new folder")
        return
    if target.exists() and any(target.iterdir()):
        raise DataError(f"DST={target} exists and is not a prepared copy (no {MARKER}); give a new or empty folder")
    target.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target, prefix=".prepared.", suffix=".json")
    with os.fdopen(descriptor, "w") as handle:
        json.dump(marker, handle, indent=1)
    os.replace(temporary, path)


def prepare(source: str | Path, target: str | Path, settings: PrepareSettings = PrepareSettings(), workers: int | None = None,
            progress: Callable[[int, int, float], None] | None = None) -> PrepareReport:
    """Prepare SRC into DST (see the module's doc); `progress(done, total, seconds)` after each image."""
    source, target = Path(source), Path(target)
    check_folders(source, target)
    start_marker(source, target, settings)
    for leftover in target.glob(f"*/*/{TEMPORARY_PREFIX}*.partial"):  # from a run that was killed mid-file
        leftover.unlink()
    jobs, kept = [], 0
    for split in SPLITS:
        _, samples = list_image_folder(source / split)
        for path, _ in samples:
            relative = Path(path).relative_to(source)
            destination = target / relative.parent / prepared_name(relative.name)
            if destination.exists():
                kept += 1
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((path, str(destination)))
    started = time.perf_counter()
    total = kept + len(jobs)
    pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count())
    try:
        futures = [pool.submit(prepare_image, s, t, settings.max_side, settings.quality) for s, t in jobs]
        for done, future in enumerate(futures, start=1):
            try:
                future.result()
            except (OSError, ValueError) as error:
                raise DataError(f"cannot prepare {jobs[done - 1][0]}: {error}; fix or remove that file and run the same command again (done files are kept)") from error
            if progress:
                progress(kept + done, total, time.perf_counter() - started)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return PrepareReport(len(jobs), kept, total, time.perf_counter() - started)
