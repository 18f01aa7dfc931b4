"""The wide view: one row per architecture, a column per result (`val_top1`, `latency_<target>`,
`throughput_<target>`, each with `_std`), the shape of the Accel-NASBench records and what surrogates fit."""

from __future__ import annotations

import pandas as pd

from pipeline.store import Store, StoreError
from search_space import ANB

ARCH_COLUMNS = ["arch_id", "space", "compact", *ANB.reference_keys, "params", "macs"]


def result_columns(frame: pd.DataFrame) -> list[str]:
    """The result columns of a wide frame (what a surrogate can be fitted to), without their `_std`."""
    return [c for c in frame.columns if (c == "val_top1" or c.startswith(("latency_", "throughput_"))) and not c.endswith("_std")]


def wide(store: Store, recipe_id: str | None = None, training: bool = True) -> pd.DataFrame:
    """`training=False`: device metrics only (no recipe to choose)."""
    archs = store.read_pandas("archs")[ARCH_COLUMNS].set_index("arch_id")
    parts = [archs, _training(store, recipe_id) if training else None, _profiling(store)]
    frame = pd.concat([part for part in parts if part is not None and len(part.columns)], axis=1, join="outer")
    frame.index.name = "arch_id"
    return frame.loc[frame.index.isin(archs.index)].sort_index().reset_index()


def _training(store: Store, recipe_id: str | None) -> pd.DataFrame | None:
    train = store.read_pandas("train", ["arch_id", "recipe_id", "recipe_name", "seed", "status", "val_top1", "val_top5", "train_time_s"])
    train = train[train["status"] == "ok"]
    if train.empty:
        return None
    recipes = sorted(train["recipe_id"].unique())
    if recipe_id is None and len(recipes) > 1:
        names = train.drop_duplicates("recipe_id").set_index("recipe_id")["recipe_name"]
        listed = ", ".join(f"{r} ({names[r]})" for r in recipes)
        raise StoreError(f"the store holds training under several recipes: {listed}; choose one with --recipe-id")
    if recipe_id is not None:
        if recipe_id not in recipes:
            raise StoreError(f"recipe_id={recipe_id!r} has no ok training records; the store has {', '.join(recipes) or 'none'}")
        train = train[train["recipe_id"] == recipe_id]
    grouped = train.groupby("arch_id")
    result = grouped[["val_top1", "val_top5", "train_time_s"]].mean()
    result["val_top1_std"] = grouped["val_top1"].std(ddof=0) if grouped.size().max() > 1 else float("nan")
    result["train_seeds"] = grouped.size()
    return result


def _profiling(store: Store) -> pd.DataFrame | None:
    columns = ["arch_id", "target", "status", "reported", "latency_ms_median", "latency_ms_mean", "latency_ms_std", "throughput_ips", "throughput_ips_std", "finished_at"]
    profile = store.read_pandas("profile", columns)
    profile = profile[profile["status"] == "ok"]
    if profile.empty:
        return None
    profile = profile.sort_values("finished_at", na_position="first").drop_duplicates(["arch_id", "target"], keep="last")
    latency = profile["latency_ms_median"].fillna(profile["latency_ms_mean"])
    series = {}
    for target, rows in profile.groupby("target"):
        reported = set().union(*[set(r) for r in rows["reported"]])
        index = rows["arch_id"]
        if "latency" in reported:
            series[f"latency_{target}"] = pd.Series(latency[rows.index].to_numpy(), index=index)
            series[f"latency_{target}_std"] = pd.Series(rows["latency_ms_std"].to_numpy(), index=index)
        if "throughput" in reported:
            series[f"throughput_{target}"] = pd.Series(rows["throughput_ips"].to_numpy(), index=index)
            series[f"throughput_{target}_std"] = pd.Series(rows["throughput_ips_std"].to_numpy(), index=index)
    return pd.DataFrame(series)
