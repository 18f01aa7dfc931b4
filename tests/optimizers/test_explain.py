"""The explainable model's per-stage terms add up to its predictions; `accelbench explain`; RWE correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from accelbench.optimizers.encoding import from_architectures, to_values
from accelbench.pipeline.views import rwe_correlation
from accelbench.search_space import ANB, sample
from accelbench.surrogate.explain import contributions, load_explainer, stage_terms
from accelbench.surrogate.features import features_of_choices
from accelbench.workflows.cli import main


def test_stage_terms_add_up_to_the_linear_models_prediction(fitted):
    model, explainer, _ = load_explainer(fitted[0], "throughput_a100")
    architectures = sample(60, 8)
    values = to_values(from_architectures(architectures))
    predicted = model.predict(features_of_choices(values))
    tables = [stage_terms(model, stage) for stage in range(ANB.num_stages)]
    smallest = [[0 if key.endswith("_se") else ANB.choices_of(key)[0] for key in ANB.keys]]  # every stage's reference: squeeze-excite off
    reference = model.predict(features_of_choices(np.array(smallest, dtype=np.int64)))[0]
    rebuilt = np.full(len(values), reference)
    for stage, table in enumerate(tables):
        index = table.set_index(["e", "k", "l", "se"])["term"]
        rebuilt += [index[tuple(row[stage * 4 : stage * 4 + 4])] for row in values]
    assert np.allclose(rebuilt, predicted, rtol=1e-9, atol=1e-9)
    assert explainer["transform"] in ("none", "log") and 0.5 < explainer["test"]["kendall_tau"] <= 1


def test_main_effects_are_centred_and_wider_stages_cost_throughput(fitted):
    model, _, _ = load_explainer(fitted[0], "throughput_a100")
    effects, stages = contributions(model)
    for _, group in effects.groupby(["stage", "choice"]):  # a full factorial: each choice's effects average to zero
        assert len(group) > 1 and abs(group["effect"].mean()) < 1e-9
    expansion = effects[(effects["choice"] == "e")].pivot(index="stage", columns="value", values="effect")
    assert (expansion[6] < expansion[1]).sum() >= 5  # six-fold expansion is slower than none in most stages
    assert ((stages["interaction_share"] >= 0) & (stages["interaction_share"] <= 1)).all()


def test_explain_cli_prints_and_writes_the_table_and_plot(fitted, tmp_path, capsys):
    assert main(["explain", "--surrogates", str(fitted[0]), "--target", "val_top1", "--output", str(tmp_path / "explain")]) == 0
    out = capsys.readouterr().out
    assert "the linear model ranks the test split with Kendall tau" in out and "the chosen surrogate (xgboost/" in out
    table = pd.read_csv(tmp_path / "explain" / "contributions.csv")
    assert set(table["choice"]) == {"e", "k", "l", "se"} and len(table) == 7 * (3 + 2 + 2) + 6 * 3 + 4
    assert (tmp_path / "explain" / "contributions.png").stat().st_size > 0
    assert main(["explain", "--surrogates", str(fitted[0]), "--target", "latency_moon"]) == 2
    assert "--target latency_moon: not in" in capsys.readouterr().err


def test_rwe_correlation_needs_both_and_measures_agreement():
    rng = np.random.default_rng(0)
    trained = rng.uniform(40, 70, 50)
    frame = pd.DataFrame({"val_top1": trained, "random_weight_top1": trained / 5 + rng.normal(0, 0.5, 50)})
    correlation = rwe_correlation(frame)
    assert correlation["architectures"] == 50 and 0.6 < correlation["kendall_tau"] < 1 and correlation["spearman"] > correlation["kendall_tau"]
    assert rwe_correlation(frame.assign(random_weight_top1=np.nan)) is None
    assert rwe_correlation(frame.drop(columns="random_weight_top1")) is None
