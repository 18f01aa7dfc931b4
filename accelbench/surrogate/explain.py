"""What the explainable model (the linear model every fit keeps per target) says each choice of each stage
is worth, FOX-NAS style.

anb: every feature of the linear model is a sum over stages (the one-hot choices, depth, squeeze-excite
layers, kernel area, and params and MACs per stage and in total), so its prediction is exactly an
intercept plus one term per stage, f_s(e, k, l, se). Each term is tabulated over the stage's
configurations (relative to the smallest, squeeze-excite off) and split, ANOVA-style, into a main effect
per choice and what is left: the interactions between a stage's choices (the share of the term's
variance they carry).

ofa: a stage's choices are its depth and each layer's kernel and expansion; its term is tabulated over
(d, k, e) with every layer of the stage at that kernel and expansion, the other stages at their smallest
and the resolution at its largest (MACs grow with the resolution, so a stage's term is its own only at
a fixed one), and split the same way. The resolution's own effect (the others at their smallest) comes
as stage -1, choice r.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from accelbench.search_space import ANB, get_space
from accelbench.surrogate.features import FIELDS, features_of_choices
from accelbench.surrogate.models import SurrogateError
from accelbench.surrogate.models.linear import LinearModel
from accelbench.surrogate.saved import INDEX


def load_explainer(folder: Path, target: str) -> tuple[LinearModel, dict, dict]:
    """(model, its entry: transform and test metrics, the chosen surrogate's entry) from a fit output's index."""
    index = json.loads((folder / INDEX).read_text())
    entry = index["targets"].get(target)
    if entry is None:
        raise SurrogateError(f"--target {target}: not in {folder}; it has {', '.join(index['targets'])}")
    explainer = entry.get("explainer")
    if not explainer:
        raise SurrogateError(f"{folder / INDEX}: {target} was fitted without an explainable model (an older accelbench or a cross-device fit); refit it")
    path = (folder / explainer["file"]).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise SurrogateError(f"{folder / INDEX}: targets.{target}.explainer.file {explainer['file']!r} is not a file inside {folder}")
    return LinearModel.load(path), explainer, entry


def stage_terms(model: LinearModel, stage: int) -> pd.DataFrame:
    """f_stage over the stage's configurations (others at their reference), relative to its reference configuration."""
    reference = [ANB.choices_of(key)[0] for key in ANB.keys]
    reference = [0 if key.endswith("_se") else value for key, value in zip(ANB.keys, reference)]
    values = [(0, 1) if field == "se" else ANB.choices_of(f"block{stage}_{field}") for field in FIELDS]
    configurations = list(itertools.product(*values))
    rows = np.tile(np.array(reference, dtype=np.int64), (len(configurations), 1))
    rows[:, stage * 4 : stage * 4 + 4] = configurations
    predicted = model.predict(features_of_choices(rows))
    frame = pd.DataFrame(configurations, columns=list(FIELDS))
    frame["term"] = predicted - predicted[0]
    return frame


def contributions(model: LinearModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main effects: stage, choice, value, effect; per stage: spread of its term and the interactions' share of its variance)."""
    if model.space != ANB.name:
        return mobilenet_contributions(model)
    return split_terms([stage_terms(model, stage) for stage in range(ANB.num_stages)], list(FIELDS))


def split_terms(tables: list[pd.DataFrame], fields: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each stage's term (a table of its configurations, column `term`) into main effects per choice and
    the share of its variance left to the interactions."""
    effects, stages = [], []
    for stage, terms in enumerate(tables):
        centred = terms["term"] - terms["term"].mean()
        additive = np.zeros(len(terms))
        for field in fields:
            means = centred.groupby(terms[field]).mean()
            additive += terms[field].map(means).to_numpy()
            effects += [{"stage": stage, "choice": field, "value": int(value), "effect": float(effect)} for value, effect in means.items()]
        variance = float(centred.var(ddof=0))
        stages.append({"stage": stage, "range": float(terms["term"].max() - terms["term"].min()),
                       "interaction_share": float(np.var(centred - additive) / variance) if variance > 0 else 0.0})
    return pd.DataFrame(effects), pd.DataFrame(stages)


def mobilenet_contributions(model: LinearModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    space = get_space(model.space)
    smallest = [[(space.kernel_choices[0], space.expansion_choices[0])] * min(space.depth_choices)] * space.num_stages
    largest = max(space.resolution_choices)

    def predict(values: list[tuple]) -> np.ndarray:
        rows = np.array([[0 if v is None else v for v in row] for row in values], dtype=np.int64)
        return model.predict(features_of_choices(rows, space.name))

    tables = []
    for stage in range(space.num_stages):
        configurations = list(itertools.product(space.depth_choices, space.kernel_choices, space.expansion_choices))
        rows = [space.values_of(largest, [[(k, e)] * d if s == stage else layers for s, layers in enumerate(smallest)]) for d, k, e in configurations]
        predicted = predict(rows)
        tables.append(pd.DataFrame(configurations, columns=["d", "k", "e"]).assign(term=predicted - predicted[0]))
    effects, stages = split_terms(tables, ["d", "k", "e"])
    predicted = predict([space.values_of(r, smallest) for r in space.resolution_choices])
    resolution = pd.DataFrame({"stage": -1, "choice": "r", "value": list(space.resolution_choices), "effect": predicted - predicted.mean()})
    return pd.concat([effects, resolution], ignore_index=True), stages


def contributions_plot(effects: pd.DataFrame, title: str, unit: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    effects = effects[effects["stage"] >= 0]  # the stages' choices (an ofa resolution's effect is in the table, not the picture)
    effects = effects.assign(label=effects["choice"] + "=" + effects["value"].astype(str))
    table = effects.pivot(index="stage", columns="label", values="effect")
    order = [f"{f}={v}" for f in dict.fromkeys(effects["choice"]) for v in sorted(effects.loc[effects["choice"] == f, "value"].unique())]
    table = table[order]
    limit = float(np.nanmax(np.abs(table.to_numpy())))
    figure, axis = plt.subplots(figsize=(9, 4))
    image = axis.imshow(table.to_numpy(), cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    axis.set_xticks(range(len(order)), order, rotation=60, fontsize=8)
    axis.set_yticks(range(len(table)), [f"stage {s}" for s in table.index], fontsize=8)
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        if np.isfinite(value):
            axis.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, label=unit)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
