"""`accelbench data prepare`: the reference's pre-resized data as a folder; resumable, never writing outside DST."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accelbench.training.folders import identify
from accelbench.training.prepare import TEMPORARY_PREFIX, PrepareSettings, prepare
from accelbench.workflows.cli import main


def make_source(root: Path, train: int = 6, val: int = 2, size: tuple[int, int] = (640, 480)) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{index:04d}.JPEG", quality=95)
    Image.fromarray(rng.integers(0, 256, (300, 200), dtype=np.uint8)).save(root / "train" / "a" / "gray.png")
    return root


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepared_copy_keeps_the_layout_shrinks_to_max_side_and_has_its_own_identity(tmp_path):
    source = make_source(tmp_path / "src")
    before = checksums(source)
    report = prepare(source, tmp_path / "dst", PrepareSettings(max_side=400, quality=90), workers=2)
    assert (report.written, report.kept, report.total) == (17, 0, 17)
    assert checksums(source) == before
    image = Image.open(tmp_path / "dst" / "train" / "a" / "0000.JPEG")
    assert image.format == "JPEG" and image.size == (400, 300)
    gray = Image.open(tmp_path / "dst" / "train" / "a" / "gray.png.jpg")  # not a JPEG before: renamed, never mistaken for a PNG
    assert gray.format == "JPEG" and gray.mode == "RGB" and gray.size == (200, 300)  # already small: only re-encoded
    original, copy = identify(source), identify(tmp_path / "dst")
    assert (copy.classes, copy.train_images, copy.val_images) == (original.classes, original.train_images, original.val_images)
    assert copy.prepared == f"max_side=400 quality=90 of {original.data_id}"
    assert copy.data_id != original.data_id
    other = prepare(source, tmp_path / "dst-300", PrepareSettings(max_side=300), workers=1)
    assert other.written == 17 and identify(tmp_path / "dst-300").data_id != copy.data_id


def test_a_killed_prepare_resumes_without_redoing_done_files(tmp_path):
    source = make_source(tmp_path / "src", train=30, val=5, size=(1000, 750))
    target = tmp_path / "dst"
    command = [sys.executable, "-m", "accelbench.workflows.cli", "data", "prepare", str(source), str(target), "--workers", "1"]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while process.poll() is None and len(list(target.glob("train/*/*.JPEG"))) < 5:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its pool, as a scheduler ends a job
    process.wait()
    done_before = {p: p.stat().st_mtime_ns for p in target.glob("*/*/*") if not p.name.startswith(".")}
    assert 5 <= len(done_before) < 71
    (target / "train" / "a" / f"{TEMPORARY_PREFIX}stale.partial").write_bytes(b"half a JPEG")  # what a kill mid-file leaves
    report = prepare(source, target, workers=1)
    assert report.kept == len(done_before) and report.written == 71 - len(done_before)
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in done_before.items())
    assert not list(target.rglob("*.partial"))
    for path in target.glob("*/*/*"):
        with Image.open(path) as image:
            image.verify()
    assert identify(target).train_images == 61


def test_refusals_exit_2_and_write_nothing(tmp_path, capsys):
    source = make_source(tmp_path / "src", train=1, val=1)
    before = checksums(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    before = checksums(tmp_path)
    cases = [
        ([str(source), str(source / "train" / "copy")], "overlap"),
        ([str(source / "train"), str(tmp_path / "new")], "has no train/ folder"),
        ([str(tmp_path / "missing"), str(tmp_path / "new")], "SRC="),
        ([str(source), str(foreign)], "is not a prepared copy"),
        ([str(source), str(tmp_path / "new"), "--quality", "0"], "quality=0 is not allowed"),
        ([str(source), str(tmp_path / "new"), "--workers", "0"], "--workers=0 is not allowed"),
    ]
    for arguments, message in cases:
        assert main(["data", "prepare", *arguments]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1
        assert checksums(tmp_path) == before and not (tmp_path / "new").exists()
    assert main(["data", "prepare", str(source), str(tmp_path / "dst")]) == 0
    assert main(["data", "prepare", str(source), str(tmp_path / "dst"), "--max-side", "200"]) == 2
    assert "another source or with other settings" in capsys.readouterr().err
