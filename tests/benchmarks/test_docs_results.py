"""Figures in the docs come from committed results files (the GPU campaign, the flow times, the surrogate
table, query speed, cross-device), and the GPU campaign records a failing step without stopping the
others (its GPU steps run only on a lent GPU machine)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from accelbench.pipeline.ranking import Agreement
from benchmarks import gpu_campaign

ROOT = Path(__file__).resolve().parents[2]


def test_docs_tables_are_the_committed_results():
    latest = gpu_campaign.latest_run()
    block = gpu_campaign.table(json.loads(latest.read_text()), json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200_first.json").read_text()), latest.name)
    for path in (ROOT / "README.md", ROOT / "docs" / "FIDELITY.md"):
        assert block in path.read_text(), f"{path.name}: run python -m benchmarks.gpu_campaign --docs"


def test_a_failing_step_is_recorded_and_the_rest_run(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(gpu_campaign, "setup", lambda summary: summary.setdefault("setup", {"gpu": "NVIDIA Test GPU"}) and ran.append("setup"))
    monkeypatch.setattr(gpu_campaign, "loader", lambda summary, root: (_ for _ in ()).throw(RuntimeError("CUDA error: no kernel image")))
    monkeypatch.setattr(gpu_campaign, "gpu_decode", lambda summary, root: ran.append("gpu_decode"))
    assert gpu_campaign.main(["--out", str(tmp_path), "--work", str(tmp_path / "work"), "--steps", "setup,loader,gpu_decode"]) == 0
    summary = json.loads((tmp_path / "gpu_campaign_test_gpu.json").read_text())
    assert summary["errors"] == {"loader": "RuntimeError: CUDA error: no kernel image"}
    assert ran == ["setup", "gpu_decode"] and set(summary["seconds"]) == {"setup", "loader", "gpu_decode"}


def test_the_fashion_step_searches_the_gpu_preset_on_the_files_given(tmp_path, monkeypatch):
    from accelbench.proxy.search import ProxySearch

    seen = []

    def run(search, ceiling_only=False):
        training = search.config.reference.training
        seen.append((search.config.name, training.data, training.device, training.resolved_recipe.subset, ceiling_only))
        if not ceiling_only:
            raise RuntimeError("stopped here")
        return SimpleNamespace(noise=Agreement(12, 0, 0.5, 0.1, 0.8, 0.6, 0.2, 0.9), reference_cost_s=20.0)

    monkeypatch.setattr(ProxySearch, "run", run)
    monkeypatch.setattr(gpu_campaign, "setup", lambda summary: summary.setdefault("setup", {"gpu": "NVIDIA Test GPU"}))
    assert gpu_campaign.main(["--out", str(tmp_path), "--work", str(tmp_path / "work"), "--steps", "setup,proxy_fashion", "--label", "proxy_fashion",
                              "--fashion-mnist", "/idx"]) == 0
    run_of = ("proxy-fashion-gpu", "fashion-mnist:/idx", "cuda", None)  # all 60,000 images
    assert seen == [(*run_of, True), (*run_of, False)]  # the ceiling, then the whole search
    summary = json.loads((tmp_path / "gpu_campaign_test_gpu_proxy_fashion.json").read_text())
    assert summary["errors"] == {"proxy_fashion": "RuntimeError: stopped here"}
    assert summary["proxy_fashion"]["noise"]["kendall_tau"] == 0.5 and summary["proxy_fashion"]["reference_cost_s"] == 20.0  # kept though the search failed
    assert summary["proxy_fashion"]["trainings"] == []  # nothing trained in this stand-in


def test_an_interrupted_step_keeps_what_it_saved_and_ends_the_campaign(tmp_path, monkeypatch):
    """`timeout -s INT` ends a step that overruns its call: what it saved stays, no later step starts."""
    def interrupted(summary, reference, work):
        summary["engines"] = {"torch": "half the architectures"}
        raise KeyboardInterrupt

    monkeypatch.setattr(gpu_campaign, "setup", lambda summary: summary.setdefault("setup", {"gpu": "NVIDIA Test GPU"}))
    monkeypatch.setattr(gpu_campaign, "engines", interrupted)
    monkeypatch.setattr(gpu_campaign, "proxy_fashion", lambda *args: pytest.fail("a step after an interrupted one ran"))
    assert gpu_campaign.main(["--out", str(tmp_path), "--work", str(tmp_path / "work"), "--steps", "setup,engines,proxy_fashion"]) == 0
    summary = json.loads((tmp_path / "gpu_campaign_test_gpu.json").read_text())
    assert summary["errors"] == {"engines": "interrupted (SIGINT)"} and summary["engines"] == {"torch": "half the architectures"}
    assert set(summary["seconds"]) == {"setup", "engines"}


def test_unknown_steps_and_labels_that_are_not_names_are_refused(tmp_path, capsys):
    assert gpu_campaign.main(["--out", str(tmp_path), "--steps", "setup,warp"]) == 2
    assert "unknown steps: warp" in capsys.readouterr().err
    assert gpu_campaign.main(["--out", str(tmp_path / "out"), "--steps", "setup", "--label", "../up"]) == 2
    assert "--label '../up' is not allowed" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_docs_show_the_newest_run_with_the_loader_steps(tmp_path):
    runs = {"gpu_campaign_h200_first.json": {"started": 1, "loader": {}, "gpu_decode": {}},
            "gpu_campaign_h200.json": {"started": 2, "loader": {}, "gpu_decode": {}},
            "gpu_campaign_h100_80gb_hbm3.json": {"started": 3, "loader": {}, "gpu_decode": {}},
            "gpu_campaign_h200_proxy_fashion.json": {"started": 4, "proxy_fashion": {}}}
    for name, summary in runs.items():
        (tmp_path / name).write_text(json.dumps(summary))
    assert gpu_campaign.latest_run(tmp_path).name == "gpu_campaign_h100_80gb_hbm3.json"


def test_the_readmes_flow_times_are_the_committed_results():
    from benchmarks import flow_times

    block = flow_times.block(json.loads(flow_times.RESULTS.read_text()))
    assert block in (ROOT / "README.md").read_text(), "run python -m benchmarks.flow_times --docs"


def test_the_readmes_search_table_is_the_committed_results():
    from benchmarks import search_results

    block = search_results.table(json.loads(search_results.RESULTS.read_text()))
    assert block in (ROOT / "README.md").read_text(), "run python -m benchmarks.search_results --docs"
    for name, (_, _, figure) in search_results.COMPARISONS.items():
        assert (search_results.FIGURES / figure).stat().st_size > 10_000, figure


def test_the_readmes_lut_table_of_both_spaces_is_the_committed_results():
    from benchmarks import lut_spaces

    results = json.loads((lut_spaces.RESULTS / "lut_spaces.json").read_text())
    assert [r["space"] for r in results] == ["anb", "ofa"] and all(r["architectures"] >= 30 for r in results)
    assert lut_spaces.table_markdown(results) in (ROOT / "README.md").read_text(), "run python -m benchmarks.lut_spaces --docs"
    assert (lut_spaces.DOCS / "lut_spaces.png").stat().st_size > 10_000


def test_the_readmes_ofa_run_is_the_committed_results():
    from benchmarks import ofa_flow

    results = json.loads(ofa_flow.RESULTS.read_text())
    assert "nothing to do" in results["collect_again"] and results["seconds"]["collect"] <= 600  # the preset's promise: 10 minutes here
    assert any(line.startswith("profile cpu_ort") for line in results["collect_table"])
    assert ofa_flow.block(results) in (ROOT / "README.md").read_text(), "run python -m benchmarks.ofa_flow --docs"


def test_the_readmes_surrogate_table_is_the_committed_results():
    from benchmarks import surrogates_vs_reference

    results = json.loads(surrogates_vs_reference.RESULTS.read_text())
    assert {row["target"] for row in results["rows"]} >= {"val_top1", "train_time_s", "latency_vck190"}
    assert all(row["trees"] <= results["max_trees"] for row in results["rows"])  # the budget held
    assert surrogates_vs_reference.table(results) in (ROOT / "README.md").read_text(), "run python -m benchmarks.surrogates_vs_reference --docs"


def test_the_readmes_query_speed_and_cross_device_tables_are_the_committed_results():
    import pandas as pd

    from benchmarks import cross_device, query_speed

    results = json.loads(query_speed.RESULTS.read_text())
    assert all(trees <= results["max_trees"] for trees in results["trees"]["budget"].values())
    assert query_speed.block(results) in (ROOT / "README.md").read_text(), "run python -m benchmarks.query_speed --docs"
    table = pd.read_csv(cross_device.RESULTS / "cross_device.csv")
    assert cross_device.block(table) in (ROOT / "README.md").read_text(), "run python -m benchmarks.cross_device --docs"


def test_the_readmes_fashion_ceiling_is_the_committed_results():
    from benchmarks import fashion_ceiling

    results = json.loads(fashion_ceiling.RESULTS.read_text())
    assert results["trainings"] == {"truth": 24, "transferred": 12} and results["failed"] == {"truth": 0, "transferred": 0}
    assert results["this_run"]["to_train"] == {"ceiling": 0, "transfer": 0}  # the committed figures are a rerun's: nothing to do
    readme = (ROOT / "README.md").read_text()
    assert fashion_ceiling.block(results) in readme, "run python -m benchmarks.fashion_ceiling --docs"
    assert f"]({fashion_ceiling.FIGURE.relative_to(ROOT)})" in readme
