"""Fitted surrogates on disk, without pickles: each member in its library's own format, and
`surrogates.json` naming the model, transform and member files of every target."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from accelbench.search_space import SPACES
from accelbench.surrogate.features import feature_names
from accelbench.surrogate.fit import TRANSFORMS, FitSettings, TargetFit, ensemble_predict, interval_bounds
from accelbench.surrogate.models import Model, SurrogateError, get_model

FORMAT = 1
INDEX = "surrogates.json"


def save(fits: list[TargetFit], folder: Path, settings: FitSettings, records: dict | None = None) -> None:
    """`records`: what the fit learned from (workflows.surrogates.records_of), so a release can reuse it."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = {}
    for fit in fits:
        (folder / "models" / fit.target).mkdir(parents=True, exist_ok=True)
        files = [f"models/{fit.target}/{member.save(folder / 'models' / fit.target / f'member{index}')}" for index, member in enumerate(fit.members)]
        explainer = None
        if fit.explainer is not None:
            explainer = {"file": f"models/{fit.target}/{fit.explainer.save(folder / 'models' / fit.target / 'explainer')}",
                         "transform": fit.explainer_transform, "test": fit.explainer_test}
        targets[fit.target] = {"model": fit.model, "transform": fit.transform, "members": files, "interval": fit.interval, "explainer": explainer,
                               "validation_kendall_tau": fit.validation, "test": fit.test, "test_coverage": None if np.isnan(fit.coverage) else fit.coverage, "rows": fit.rows}
    spaces = sorted({fit.space for fit in fits}) or ["anb"]
    if len(spaces) > 1:
        raise SurrogateError(f"one surrogates folder answers for one space; these fits are of {', '.join(spaces)}")
    index = {"format": FORMAT, **({"space": spaces[0]} if spaces[0] != "anb" else {}), "features": feature_names(spaces[0]), "settings": asdict(settings), "targets": targets}
    if records is not None:
        index["records"] = records
    (folder / INDEX).write_text(json.dumps(index, indent=1) + "\n")  # targets keep the order they were fitted in


class LoadedTarget:
    def __init__(self, name: str, transform: str, members: list[Model], interval: dict | None = None) -> None:
        self.name, self.transform, self.members, self.interval = name, transform, members, interval

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ensemble_predict(self.members, self.transform, x)

    def bounds(self, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated interval around predicted means (NaN when the target was fitted without one)."""
        return interval_bounds(mean, self.transform, self.interval)


def space_of_index(index: dict) -> str:
    """The space a saved fit answers for: anb when the index names none (as before there were several,
    so that an anb fit's files stay what they were)."""
    return index.get("space", "anb")


def load(folder: Path) -> tuple[str, dict[str, LoadedTarget]]:
    """(the space it answers for, its targets)."""
    path = folder / INDEX
    if not path.is_file():
        raise SurrogateError(f"{folder}: no {INDEX}; expected the output of `accelbench fit` or a release")
    try:
        index = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        raise SurrogateError(f"{path}: unreadable ({error}); refit or restore it") from None
    if not isinstance(index, dict) or index.get("space", "anb") not in SPACES or index.get("format") != FORMAT or index.get("features") != feature_names(space_of_index(index)):
        raise SurrogateError(f"{path}: written by an incompatible accelbench (format {index.get('format') if isinstance(index, dict) else '?'}, other features); refit")
    targets = index.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise SurrogateError(f"{path}: 'targets' must map each target to its model, transform and member files")
    return space_of_index(index), {target: _load_target(folder, path, target, entry) for target, entry in targets.items()}


def _load_target(folder: Path, index_path: Path, target: str, entry: object) -> LoadedTarget:
    where = f"{index_path}: targets.{target}"
    if not isinstance(entry, dict) or not isinstance(entry.get("members"), list) or not entry["members"]:
        raise SurrogateError(f"{where} must give 'model', 'transform' and a non-empty list of 'members'")
    model = get_model(entry.get("model"))
    if entry.get("transform") not in TRANSFORMS:
        raise SurrogateError(f"{where}.transform={entry.get('transform')!r} is not allowed; choices are {', '.join(TRANSFORMS)}")
    interval = entry.get("interval")
    if interval is not None and not (isinstance(interval, dict) and isinstance(interval.get("level"), float) and 0 < interval["level"] < 1
                                     and isinstance(interval.get("half_width"), (int, float)) and interval["half_width"] >= 0):
        raise SurrogateError(f"{where}.interval={interval!r} is not allowed; it must give a level in (0, 1) and a half_width >= 0, or be null")
    members = []
    root = folder.resolve()
    for file in entry["members"]:
        member = (folder / str(file)).resolve()
        if not isinstance(file, str) or root not in member.parents:
            raise SurrogateError(f"{where}: member {file!r} is not a file inside {folder}")
        if not member.is_file():
            raise SurrogateError(f"{where}: member {file} is missing")
        try:
            members.append(model.load(member))
        except Exception as error:  # noqa: BLE001 - each library raises its own types for a bad file
            raise SurrogateError(f"{folder / file}: cannot be read as a {model.name} model ({type(error).__name__}: {str(error)[:160]}); refit") from None
    return LoadedTarget(target, entry["transform"], members, interval)
