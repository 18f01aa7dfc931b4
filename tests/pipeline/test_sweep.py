"""Sweep configs: the presets validate; mistakes name the field, the value and what is allowed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from accelbench.pipeline.plan import make_plan, sweep_architectures, sweep_tasks
from accelbench.pipeline.records import now, profile_row
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import ConfigError, Sweep
from accelbench.profiling.protocol import Measurement
from accelbench.search_space import SpaceError, sample
from accelbench.workflows.cli import main
from accelbench.workflows.config import load_sweep, presets
from tests.pipeline.conftest import sweep_values, to_toml


def test_presets_load_into_typed_sweeps():
    assert {"default", "anb-imagenet"} <= set(presets())
    default = load_sweep("default")
    assert default.training.recipe == "smoke" and default.training.data == "embedded"
    assert [t.reported for t in default.profiling.targets] == [("latency",), ("throughput",)]
    reference = load_sweep("anb-imagenet")
    assert reference.architectures.sample == 5200 and reference.training.recipe == "anb-proxy"
    names = {t.name for t in reference.profiling.targets}
    assert {"a100", "3090", "tpuv2", "tpuv3", "zcu102", "vck190"} <= names
    fpga = next(t for t in reference.profiling.targets if t.name == "zcu102")
    assert fpga.reported == ("latency", "throughput") and fpga.resources == {"zcu102": 1.0}


BASE = sweep_values(Path("/data"), Path("/cache"))


def changed(path: str, value):
    values = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = values
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return values


@pytest.mark.parametrize(
    "values, message",
    [
        (changed("training.recipe", "fast"), "training: recipe='fast' is unknown; presets are anb-proxy, smoke, full, or give a recipe file"),
        (changed("training.workers", 0), "training.workers=0 is not allowed; it must be an integer >= 1"),
        (changed("training.device", "tpu"), "training.device='tpu' is not allowed; choices are cpu, cuda"),
        (changed("training.seeds", [1, 1]), "repeats a seed"),
        (changed("training.overrides", {"epochs": -1}), "training.overrides: epochs=-1 is not allowed"),
        (changed("training.colour", "red"), "unknown key training.colour"),
        (changed("architectures", {"seed": 1}), "needs exactly one of sample = N or file = PATH"),
        (changed("training.architectures", 0), "training.architectures=0 is not allowed; it must be an integer >= 1"),
        (changed("architectures", {"sample": 2, "space": "nas101"}), "architectures.space='nas101' is not allowed; choices are anb, ofa"),
        (changed("profiling.targets.0.backend", "openvino"), "profiling.targets[0].backend='openvino' is not allowed; choices are onnxruntime"),
        (changed("profiling.targets.0.batch", 0), "profiling.targets[0]: target cpu: batch=0 is not allowed"),
        (changed("profiling.targets.0.report", ["energy"]), "report=['energy'] is not allowed"),
        (changed("profiling.targets.0.resources", {"GPU": -1}), "resources.GPU=-1 is not allowed"),
        (changed("profiling.targets", [BASE["profiling"]["targets"][0]] * 2), "profiling target names repeat: cpu"),
        (changed("scheduling.max_in_flight", 0), "scheduling.max_in_flight=0 is not allowed"),
    ],
)
def test_config_errors_name_the_field(values, message):
    with pytest.raises(ConfigError) as error:
        Sweep.from_dict(values, source="sweep.toml")
    assert message in str(error.value) and str(error.value).startswith("sweep.toml: ")


def test_collect_with_a_bad_config_exits_2_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text(to_toml(changed("training.recipe", "fast")))
    assert main(["collect", str(config), "--store", str(tmp_path / "store")]) == 2
    assert "recipe='fast' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
    config.write_text("name = [unclosed")
    assert main(["collect", str(config), "--store", str(tmp_path / "store")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["collect", "no-such-preset"]) == 2
    assert "neither a file nor a preset; presets are anb-imagenet, blocks-cpu, default" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "nowhere")]) == 2


def test_plan_counts_done_tasks_and_retries_only_the_statuses_asked(tmp_path):
    sweep = Sweep.from_dict({**BASE, "architectures": {"sample": 3, "seed": 1}})
    store = Store(tmp_path)
    plan = make_plan(sweep, store)
    assert plan.total == 6 and plan.done == 0 and len(plan.todo) == 6
    assert [task.table for task in plan.todo[:2]] == ["train", "profile"]  # architecture by architecture

    profile_tasks = [task for task in plan.todo if task.table == "profile"]
    for task, status in zip(profile_tasks, ["ok", "failed", "unavailable"]):
        measurement = Measurement(task.architecture.arch_id, task.detail.target, status, error=None if status == "ok" else "why")
        store.write("profile", [profile_row(measurement.to_row(), task.detail.reported, now(), "test", 1)])
    plan = make_plan(sweep, store)
    assert plan.done == 3 and {task.table for task in plan.todo} == {"train"}
    retried = make_plan(sweep, store, retry=("failed",))
    assert retried.redo == 1 and len(retried.todo) == 4
    tasks = sweep_tasks(sweep, list(plan.architectures), data_id="abc")
    assert len(tasks) == 6 and all("-dabc-s0" in task.key for task in tasks if task.table == "train")
    other_data = make_plan(sweep, store, data_id="def")  # another dataset: its trainings are new tasks
    assert {task.table for task in other_data.todo} == {"train"} and all("-ddef-s0" in task.key for task in other_data.todo)


def test_targets_show_resolves_the_imagenet_preset_as_the_reference_measured(capsys):
    from accelbench.workflows.cli import main

    assert main(["targets", "show", "anb-imagenet"]) == 0
    targets = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    for name in ("a100", "3090"):
        assert targets[name]["resolution"] == 256 and targets[name]["options"]["cudnn_benchmark"] is True
        assert targets[name]["precision"] == "fp16" and targets[name]["options"]["passes"] == 3 and targets[name]["options"]["warmup_passes"] == 1
    assert (targets["a100"]["batch"], targets["3090"]["batch"]) == (512, 128)
    assert targets["tpuv2"]["precision"] == targets["tpuv3"]["precision"] == "bf16"
    assert (targets["tpuv2"]["batch"], targets["tpuv3"]["batch"]) == (64, 128) and targets["tpuv3"]["options"]["warmup_steps"] == 300
    assert targets["vck190"]["batch"] == 6 and targets["zcu102"]["batch"] == 1 and targets["vck190"]["report"] == ["latency", "throughput"]
    assert targets["vck190"]["options"]["vitis_ai_version"] == "2.5" and targets["zcu102"]["options"]["calibration_images"] == 150
    assert set(targets["cpu_ort"]["options"]) == {"sessions", "repeats", "min_time_s", "max_other_load", "retries"}


def test_a_misspelt_option_in_a_config_exits_2_naming_it(tmp_path, capsys):
    from accelbench.workflows.cli import main

    config = tmp_path / "typo.toml"
    config.write_text('name = "typo"\n[architectures]\nsample = 1\n[[profiling.targets]]\nname = "gpu"\nbackend = "torch"\noptions = { pases = 3 }\n')
    assert main(["targets", "show", str(config)]) == 2
    error = capsys.readouterr().err
    assert "profiling.targets[0]: target gpu (torch): unknown key options.pases; allowed are passes" in error


@pytest.mark.parametrize("preset", presets())
def test_every_shipped_preset_validates(preset, tmp_path):
    """Presets that cannot run here (a GPU, ImageNet, a cluster) are still read as a run would read them:
    a sweep with its targets, or a proxy search whose every candidate is a valid recipe."""
    import tomllib

    from accelbench.proxy.search import ProxySearch
    from accelbench.workflows.config import PRESETS_DIR, load_proxy_config, load_sweep

    if "candidates" in tomllib.loads((PRESETS_DIR / f"{preset}.toml").read_text()):
        search = ProxySearch(load_proxy_config(preset), Store(tmp_path / "store"))
        labels = [candidate.label for candidate in search.candidates]
        assert labels and len(set(labels)) == len(labels)
        assert all(c.recipe.min_resolution <= c.recipe.max_resolution for c in search.candidates)
    else:
        sweep = load_sweep(preset)
        assert sweep.profiling.targets and (sweep.training is None or sweep.training.recipe)


def test_a_sweep_refuses_a_file_of_another_spaces_architectures(tmp_path):
    lines = [json.dumps({"space": a.space, **a.to_reference()}) for a in [*sample(2, 0), *sample(1, 0, "ofa")]]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    sweep = Sweep.from_dict({**BASE, "architectures": {"file": "mixed.jsonl"}}, "sweep.toml", tmp_path)
    with pytest.raises(SpaceError, match="architecture 3 is of the ofa space; the sweep's \\[architectures\\] space = 'anb' takes anb architectures"):
        sweep_architectures(sweep)


def test_an_ofa_sweep_measures_each_architecture_at_its_own_resolution_under_one_key_per_target():
    sweep = Sweep.from_dict({**BASE, "architectures": {"space": "ofa", "sample": 5, "seed": 1}, "training": {**BASE["training"], "architectures": 2}})
    architectures = sweep_architectures(sweep)
    tasks = sweep_tasks(sweep, architectures, "data")
    profiles = [task for task in tasks if task.table == "profile"]
    assert [task.detail.target.resolution for task in profiles] == [a.choices[0] for a in architectures]
    assert all(task.detail.target.name == "cpu" for task in profiles)
    assert [task.key for task in sweep_tasks(sweep, architectures, "data")] == [task.key for task in tasks]  # stable
    assert [task.architecture for task in tasks if task.table == "train"] == architectures[:2]
