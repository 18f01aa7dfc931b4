"""Fitted surrogates on disk, without pickles: each member in its library's own format, and
`surrogates.json` naming the model, transform and member files of every target."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from surrogate.features import feature_names
from surrogate.fit import FitSettings, TargetFit, ensemble_predict
from surrogate.models import Model, SurrogateError, get_model

FORMAT = 1
INDEX = "surrogates.json"


def save(fits: list[TargetFit], folder: Path, settings: FitSettings) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    targets = {}
    for fit in fits:
        (folder / "models" / fit.target).mkdir(parents=True, exist_ok=True)
        files = [f"models/{fit.target}/{member.save(folder / 'models' / fit.target / f'member{index}')}" for index, member in enumerate(fit.members)]
        targets[fit.target] = {"model": fit.model, "transform": fit.transform, "members": files, "validation_kendall_tau": fit.validation, "test": fit.test, "rows": fit.rows}
    index = {"format": FORMAT, "features": feature_names(), "settings": asdict(settings), "targets": targets}
    (folder / INDEX).write_text(json.dumps(index, indent=1) + "\n")  # targets keep the order they were fitted in


class LoadedTarget:
    def __init__(self, name: str, transform: str, members: list[Model]) -> None:
        self.name, self.transform, self.members = name, transform, members

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ensemble_predict(self.members, self.transform, x)


def load(folder: Path) -> dict[str, LoadedTarget]:
    path = folder / INDEX
    if not path.is_file():
        raise SurrogateError(f"{folder}: no {INDEX}; expected the output of `accelbench fit` or a release")
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT or index.get("features") != feature_names():
        raise SurrogateError(f"{path}: written by an incompatible accelbench (format {index.get('format')}, other features); refit")
    loaded = {}
    for target, entry in index["targets"].items():
        model = get_model(entry["model"])
        loaded[target] = LoadedTarget(target, entry["transform"], [model.load(folder / file) for file in entry["members"]])
    return loaded
