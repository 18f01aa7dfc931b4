"""The noise ceiling: tau between repeats from a store, or simulated from measurement spreads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from accelbench.pipeline.records import row
from accelbench.pipeline.store import Store
from accelbench.pipeline.views import repeat_pairs
from accelbench.surrogate.noise import noise_ceiling


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def train_row(arch_id: str, seed: int, top1: float, status: str = "ok") -> dict:
    return row("train", task_key=f"{arch_id}/train/r1-s{seed}", arch_id=arch_id, recipe_id="r1", recipe_name="smoke", seed=seed, data_id="d1",
               status=status, val_top1=top1, top1_convention="best_of_validated", curve=[], device_count=1, attempts=1, host="h",
               started_at=T0, finished_at=T0, code_version="test")


def profile_row(arch_id: str, latency: float, minute: int) -> dict:
    return row("profile", task_key=f"{arch_id}/profile/cpu{minute}", arch_id=arch_id, target="cpu", target_id="cpuid", backend="onnxruntime",
               device="cpu", batch=1, precision="fp32", threads=1, reported=["latency"], status="ok", latency_ms_median=latency,
               n=30, samples_ms=[], environment="{}", attempts=1, host="h", started_at=T0, finished_at=T0 + timedelta(minutes=minute),
               code_version="test")


def test_repeats_in_a_store_give_the_tau_between_them(tmp_path):
    rng = np.random.default_rng(0)
    truth = np.linspace(50, 70, 12)
    rows = [train_row(f"a{i}", seed, float(value + rng.normal(0, 2))) for seed in (2, 0, 1) for i, value in enumerate(truth)]
    rows.append(train_row("a0", 5, 99.0, status="failed"))
    store = Store(tmp_path / "store")
    store.write("train", rows)
    store.write("profile", [profile_row(f"a{i}", 1.0 + i + 0.01 * t, t) for i in range(6) for t in (1, 2)] + [profile_row("a9", 3.0, 1)])
    pairs = repeat_pairs(store)
    by_seed = pd.DataFrame(rows[:-1]).pivot(index="arch_id", columns="seed", values="val_top1").sort_index()
    assert pairs["val_top1"] == (by_seed[0].tolist(), by_seed[1].tolist())  # the two lowest seeds
    assert len(pairs["latency_cpu"][0]) == 6 and pairs["latency_cpu"][0][0] == 1.02  # the two latest, latest first
    between = kendalltau(by_seed[0], by_seed[1]).statistic
    assert noise_ceiling("val_top1", pairs, pd.DataFrame()) == {"tau": between, "pairs": 12, "source": "repeats", "repeats_tau": between}
    # with the target's records, the repeats' spread is simulated over all of them
    many = pd.DataFrame({"val_top1": np.linspace(40, 70, 2000)})
    ceiling = noise_ceiling("val_top1", pairs, many)
    assert ceiling["source"] == "repeats" and ceiling["pairs"] == 12 and ceiling["repeats_tau"] == between
    relative = np.std(np.log(np.array(pairs["val_top1"][1]) / np.array(pairs["val_top1"][0]))) / np.sqrt(2)
    values = many["val_top1"].to_numpy()
    rng = np.random.default_rng(9)
    expected = np.mean([kendalltau(values * (1 + relative * rng.normal(size=2000)), values * (1 + relative * rng.normal(size=2000))).statistic for _ in range(20)])
    assert abs(ceiling["tau"] - expected) < 0.01


def test_a_wider_spread_between_repeats_lowers_the_ceiling():
    frame = pd.DataFrame({"latency_x": np.linspace(1, 3, 500)})
    first = np.linspace(1, 3, 8)
    ceilings = [noise_ceiling("latency_x", {"latency_x": (list(first), list(first * np.exp(np.tile([-1, 1], 4) * spread)))}, frame)["tau"]
                for spread in (0.001, 0.01, 0.05)]
    assert 1.0 > ceilings[0] > ceilings[1] > ceilings[2] > 0.3


def test_without_repeats_the_ceiling_comes_from_the_measurement_spread_or_is_absent():
    values = np.linspace(1, 2, 200)
    frame = pd.DataFrame({"throughput_x": values, "throughput_x_std": np.full(200, 0.05), "latency_y": values})
    noisy = noise_ceiling("throughput_x", {}, frame)
    quiet = noise_ceiling("throughput_x", {}, frame.assign(throughput_x_std=0.001))
    assert noisy["source"] == "measurement std" and noisy["pairs"] == 200
    assert 0.3 < noisy["tau"] < quiet["tau"] < 1.0
    assert noise_ceiling("latency_y", {}, frame) is None
    assert noise_ceiling("latency_y", {"latency_y": ([1.0, 2.0], [2.0, 1.0])}, frame) is None  # too few pairs to say
