import json
import math
import subprocess
import sys

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from accelbench.search_space import sample
from accelbench.training.data import TrainingData
from accelbench.training.recipe import get_recipe
from accelbench.training.trainer import train

ARCHITECTURE = sample(1, seed=0)[0]
# a few seconds per run on the tiny folder
TINY = get_recipe("smoke").replace(
    name="tiny", epochs=3, batch_per_device=16, min_resolution=16, max_resolution=32, resize_start_epoch=0, resize_end_epoch=2,
    val_resolution=32, validate_last_epochs=2, random_weight_epochs=2, trainability_batch=16, trainability_resolution=32,
)


@pytest.fixture(scope="module")
def tiny_data(tiny_root):
    return TrainingData(tiny_root, workers=0)


@pytest.mark.slow  # about 1.5 minutes on 2 cores: in `make test-all`
def test_smoke_recipe_learns_well_above_chance(embedded_root):
    """The 'must show': the smoke preset on the embedded digits (10 classes, chance 10%)."""
    torch.set_num_threads(2)
    recipe = get_recipe("smoke")
    result = train(ARCHITECTURE, recipe, TrainingData(embedded_root, workers=1), "cpu", seed=0)
    assert result.status == "ok", result.error
    assert result.val_top1 > 35.0
    assert result.val_top5 > result.val_top1
    assert result.random_weight_top1 is not None and result.random_weight_top1 > 10.0
    assert [r.resolution for r in result.curve] == [recipe.resolution_at(e) for e in range(recipe.epochs)]
    validated = [r.val_top1 for r in result.curve if r.val_top1 is not None]
    assert len(validated) == recipe.validate_last_epochs and result.val_top1 == max(validated)


def test_lr_follows_the_schedule_every_iteration(tiny_data):
    seen = []
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: seen.append([g["lr"] for g in optimizer.param_groups]))
    try:
        result = train(ARCHITECTURE, TINY.replace(random_weight_epochs=0), tiny_data, seed=1)
    finally:
        handle.remove()
    assert result.status == "ok"
    iterations = len(seen) // TINY.epochs
    assert iterations == 6  # 96 train images, batch 16
    expected = [TINY.lr_at(epoch, i, iterations) for epoch in range(TINY.epochs) for i in range(iterations)]
    assert [lrs[0] for lrs in seen] == pytest.approx(expected)
    assert all(lrs[0] == lrs[1] for lrs in seen)
    assert [r.lr for r in result.curve] == pytest.approx([expected[(e + 1) * iterations - 1] for e in range(TINY.epochs)])
    assert [r.resolution for r in result.curve] == [16, 24, 32]


def test_weight_decay_only_on_weights():
    from accelbench.search_space.builder import build
    from accelbench.training.loop import weight_decay_groups

    model = build(ARCHITECTURE, 4)
    decay, no_decay = weight_decay_groups(model, 1e-4)
    batch_norm = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    biases = {id(m.bias) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None}
    assert {id(p) for p in no_decay["params"]} == batch_norm | biases
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0


def test_deterministic_on_cpu_for_a_seed(tiny_data):
    first = train(ARCHITECTURE, TINY, tiny_data, seed=3)
    second = train(ARCHITECTURE, TINY, tiny_data, seed=3)
    other = train(ARCHITECTURE, TINY, tiny_data, seed=4)
    assert first.status == "ok"
    assert first.curve == second.curve and first.random_weight_top1 == second.random_weight_top1
    assert first.curve != other.curve


def test_the_untrainable_rule_is_the_recipes_and_is_recorded(tiny_data):
    """A small threshold makes the architecture untrainable before any epoch; the figure and the rule are recorded."""
    small = TINY.replace(untrainable_above_bytes=2**20)
    result = train(ARCHITECTURE, small, tiny_data)
    assert result.status == "untrainable" and result.curve == () and result.train_time_s is None
    assert result.check_memory_bytes > 2**20 and result.check_time_s > 0
    assert "by the rule: peak device memory, weights included, of one step at 16 images per device, 32 px" in result.error
    assert result.trainability_rule == small.trainability_rule() and "0.00104858e9 bytes" in result.trainability_rule
    fits = train(ARCHITECTURE, TINY.replace(untrainable_above_bytes=result.check_memory_bytes + 1, random_weight_epochs=0), tiny_data)
    assert fits.status == "ok" and fits.check_memory_bytes == result.check_memory_bytes  # the same measurement, deterministic on CPU


def test_the_check_counts_the_weights_at_the_rules_batch_and_resolution(tiny_data):
    from accelbench.training.loop import check_trainable

    at = lambda **rule: check_trainable(ARCHITECTURE, TINY.replace(**rule), 4, torch.device("cpu"))  # noqa: E731
    base = at()
    assert at(trainability_batch=32) > base and at(trainability_resolution=64) > base
    parameters = sum(p.numel() for p in __import__("accelbench.search_space.builder", fromlist=["build"]).build(ARCHITECTURE, 4).parameters())
    assert base > 2 * 4 * parameters  # weights and gradients are in the figure


def test_reported_top5_is_the_best_top5_on_its_own():
    from accelbench.training.loop import EpochRecord, reported_accuracy

    curve = [EpochRecord(0, 32, 0.1, 1.0, 10.0, None, None), EpochRecord(1, 32, 0.1, 1.0, 10.0, 60.0, 80.0), EpochRecord(2, 32, 0.0, 1.0, 10.0, 58.0, 85.0)]
    assert reported_accuracy(curve, "best_of_validated") == (60.0, 85.0)  # top-5 of epoch 2, top-1 of epoch 1, as the reference
    assert reported_accuracy(curve, "last") == (58.0, 85.0)


def test_timings_are_apart_and_trained_weights_are_saved_as_safetensors(tiny_data, tmp_path):
    from safetensors.torch import load_file

    from accelbench.search_space.builder import build

    weights = tmp_path / "w" / "model.safetensors"
    result = train(ARCHITECTURE, TINY, tiny_data, seed=1, weights_to=weights)
    assert result.status == "ok"
    assert result.train_time_s > 0 and result.check_time_s > 0 and result.random_weight_time_s > 0
    assert weights.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    state = load_file(weights)
    model = build(ARCHITECTURE, 4)
    model.load_state_dict(state)  # every key and shape of the architecture's network
    assert not torch.equal(state["classifier.1.weight"], build(ARCHITECTURE, 4).state_dict()["classifier.1.weight"])  # trained, not initial


def test_diverging_is_recorded(tiny_data):
    result = train(ARCHITECTURE, TINY.replace(lr=1e12, random_weight_epochs=0), tiny_data)
    assert result.status == "diverged"
    assert "loss is" in result.error and result.val_top1 is None


def test_a_broken_image_fails_the_architecture_not_the_process(tiny_root, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_root, broken)
    victim = sorted((broken / "train" / "2").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:40])  # a truncated JPEG
    result = train(ARCHITECTURE, TINY.replace(random_weight_epochs=0), TrainingData(broken), seed=0)
    assert result.status == "failed"
    assert "OSError" in result.error or "truncated" in result.error.lower()


def test_cli_train(tiny_root, tmp_path):
    architectures = tmp_path / "a.jsonl"
    architectures.write_text("".join(json.dumps(a.to_reference()) + "\n" for a in sample(2, seed=9)))
    output = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "accelbench.workflows.cli", "train", "--recipe", "smoke", "--set", "epochs=2", "--set", "validate_last_epochs=1",
               "--set", "random_weight_epochs=0", "--set", "min_resolution=16", "--set", "max_resolution=16", "--set", "val_resolution=16",
               "--input", str(architectures), "--data", str(tiny_root), "--workers", "0", "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["arch_id"] for row in rows] == [a.arch_id for a in sample(2, seed=9)]
    for row in rows:
        assert row["status"] == "ok" and 0 <= row["val_top1"] <= 100 and len(row["curve"]) == 2
        assert set(row["curve"][0]) == {"epoch", "resolution", "lr", "train_loss", "train_top1", "val_top1", "val_top5"}
        assert row["train_time_s"] > 0 and not math.isnan(row["val_top5"])


@pytest.mark.parametrize("arguments, message", [(["--set", "epochs=0"], "epochs=0 is not allowed"), (["--data", "/nonexistent"], "has no train/ folder")])
def test_cli_train_bad_input_exits_2(tmp_path, arguments, message):
    architectures = tmp_path / "a.jsonl"
    architectures.write_text(json.dumps(ARCHITECTURE.to_reference()) + "\n")
    result = subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", "train", "--recipe", "smoke", "--input", str(architectures), *arguments], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
