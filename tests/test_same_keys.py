"""The same inputs give the same task keys, recipe ids, records and release files as before the code
moved into the `accelbench` namespace (tests/data/keys_before_namespace.json was written by this file's
`snapshot` run against the last commit before the move, 83d9cd6, whose modules had top-level names).

    PYTHONPATH=OLD_CHECKOUT python tests/test_same_keys.py TARBALL > tests/data/keys_before_namespace.json
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("data") / "keys_before_namespace.json"
VARYING = ("finished_at", "code_version")  # when and by which commit a record was made: differs between any two runs
SETTINGS_ADDED_SINCE = ("max_trees",)  # fit settings the surrogates' index has held since the move (it changes no fit here: one member, under budget)
INDEX = "surrogates/surrogates.json"
# Release files changed on purpose since the move, with their digests now: the linear fit sums on one BLAS
# thread and predicts by einsum, so that it is the same on any thread count (the move's code summed on
# as many threads as it was given), which moved the explainer's last bits and its test metrics
CHANGED_SINCE = {
    "surrogates/models/val_top1/explainer.json": "af605e9982cbce634f2e4bbd0162307d7bc1e4c9d0ee067b488ef0bc2e8df175",
    INDEX: "67d6bb457ecb5e24d01b0bb4996af74aaa9521562366162e98f0e9dfbc539ff8",
}


def module(name: str):
    try:
        return importlib.import_module(name)  # an old checkout's top-level names, when PYTHONPATH points at one
    except ModuleNotFoundError:
        return importlib.import_module(f"accelbench.{name}")


def snapshot(tarball: Path, work: Path) -> dict:
    config, plan, recipe, cli = module("workflows.config"), module("pipeline.plan"), module("training.recipe"), module("workflows.cli")
    found: dict = {"tasks": {}, "recipes": {name: recipe.get_recipe(name).recipe_id for name in ("anb-proxy", "smoke", "full")}, "store": {}}
    for preset in sorted(config.presets()):
        try:
            sweep = config.load_sweep(preset)
        except Exception:  # noqa: BLE001 - a proxy-search preset is not a sweep
            continue
        tasks = plan.sweep_tasks(sweep, plan.sweep_architectures(sweep), "fixed-data-id")
        found["tasks"][preset] = hashlib.sha256("\n".join(f"{task.key} {task.label}" for task in tasks).encode()).hexdigest()
    previous = os.getcwd()
    os.chdir(work)
    try:
        assert cli.main(["import-anb", str(tarball), "--store", "store"]) == 0
        store = module("pipeline.store").Store("store")
        for table in ("archs", "train", "profile"):
            frame = store.read(table).to_pandas().drop(columns=list(VARYING), errors="ignore")
            frame = frame.sort_values(list(frame.columns)[:3]).reset_index(drop=True)
            found["store"][table] = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
        assert cli.main(["release", "--store", "store", "--name", "r", "--version", "1", "--out", "releases", "--targets", "val_top1",
                         "--models", "lightgbm", "linear", "--members", "1", "--calibration-folds", "2"]) == 0
    finally:
        os.chdir(previous)
    files = json.loads((work / "releases" / "r-1" / "manifest.json").read_text())["files"]
    found["release_files"] = {name: digest for name, digest in files.items() if not name.startswith("records/")}  # records carry VARYING
    index = json.loads((work / "releases" / "r-1" / INDEX).read_text())
    if any(name in index["settings"] for name in SETTINGS_ADDED_SINCE):  # the index as the code before the move wrote it
        index["settings"] = {name: value for name, value in index["settings"].items() if name not in SETTINGS_ADDED_SINCE}
        found["release_files"][INDEX] = hashlib.sha256((json.dumps(index, indent=1) + "\n").encode()).hexdigest()
    return found


def test_same_inputs_give_what_they_gave_before_the_move(anb_tarball, tmp_path, capsys):
    now = snapshot(anb_tarball, tmp_path)
    capsys.readouterr()
    before = json.loads(GOLDEN.read_text())
    before["release_files"].update(CHANGED_SINCE)
    assert set(before["tasks"]) <= set(now["tasks"])
    now["tasks"] = {preset: key for preset, key in now["tasks"].items() if preset in before["tasks"]}  # presets added since have no "before"
    assert now == before


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):  # the commands' own output
        result = snapshot(Path(sys.argv[1]), Path(tempfile.mkdtemp()))
    print(json.dumps(result, indent=1, sort_keys=True))
