"""The wide view: one row per architecture, a column per result (`val_top1`, `latency_<target>`,
`throughput_<target>`, each with `_std`), the shape of the Accel-NASBench records and what surrogates fit."""

from __future__ import annotations

import pandas as pd

from accelbench.pipeline.store import Store
from accelbench.search_space import get_space
from accelbench.common.errors import InputError


def store_spaces(store: Store) -> list[str]:
    """The spaces the store holds architectures of."""
    return sorted(set(store.read("archs", ["space"]).column("space").to_pylist()))


def choose_space(store: Store, space: str | None) -> str:
    """`space`, checked against what the store holds; None: the store's only space (anb when it is empty).
    Views, fits and releases are of one space each."""
    held = store_spaces(store)
    if space is None:
        if len(held) > 1:
            raise InputError(f"the store {store.uri} holds architectures of several spaces ({', '.join(held)}); choose one with --space")
        return held[0] if held else "anb"
    get_space(space)
    if held and space not in held:
        raise InputError(f"--space {space}: the store {store.uri} holds no {space} architectures; it holds {', '.join(held)}")
    return space


def architectures_frame(store: Store, space: str) -> pd.DataFrame:
    """One row per architecture of `space`: arch_id, space, compact, a column per key of the space (None
    where a key does not apply), params, macs; indexed by arch_id."""
    archs = store.read_pandas("archs", ["arch_id", "space", "compact", "params", "macs"])
    archs = archs[archs["space"] == space].set_index("arch_id")
    keys = get_space(space).keys
    parse = get_space(space).parse_compact
    choices = pd.DataFrame([parse(text) for text in archs["compact"]], columns=list(keys), index=archs.index)
    return pd.concat([archs[["space", "compact"]], choices, archs[["params", "macs"]]], axis=1)


def result_columns(frame: pd.DataFrame) -> list[str]:
    """The result columns of a wide frame (what a surrogate can be fitted to), without their `_std`: accuracy,
    the proxified training's cost, the device metrics."""
    return [c for c in frame.columns if (c in ("val_top1", "train_time_s") or c.startswith(("latency_", "throughput_"))) and not c.endswith("_std")]


def wide(store: Store, recipe_id: str | None = None, training: bool = True, include_noisy: bool = False, space: str | None = None) -> pd.DataFrame:
    """The architectures of one space (`choose_space`). `training=False`: device metrics only (no recipe to
    choose). `include_noisy`: profiles measured while other processes loaded the host (status `noisy`)
    count too; by default only `ok` ones do."""
    archs = architectures_frame(store, choose_space(store, space))
    parts = [archs, _training(store, recipe_id) if training else None, _profiling(store, include_noisy)]
    frame = pd.concat([part for part in parts if part is not None and len(part.columns)], axis=1, join="outer")
    frame.index.name = "arch_id"
    return frame.loc[frame.index.isin(archs.index)].sort_index().reset_index()


def _training(store: Store, recipe_id: str | None) -> pd.DataFrame | None:
    train = store.read_pandas("train", ["arch_id", "recipe_id", "recipe_name", "seed", "status", "val_top1", "val_top5", "train_time_s", "random_weight_top1"])
    train = train[train["status"] == "ok"]
    if train.empty:
        return None
    recipes = sorted(train["recipe_id"].unique())
    if recipe_id is None and len(recipes) > 1:
        names = train.drop_duplicates("recipe_id").set_index("recipe_id")["recipe_name"]
        listed = ", ".join(f"{r} ({names[r]})" for r in recipes)
        raise InputError(f"the store holds training under several recipes: {listed}; choose one with --recipe-id")
    if recipe_id is not None:
        if recipe_id not in recipes:
            raise InputError(f"--recipe-id {recipe_id!r} has no ok training records; the store has {', '.join(recipes) or 'none'}")
        train = train[train["recipe_id"] == recipe_id]
    grouped = train.groupby("arch_id")
    result = grouped[["val_top1", "val_top5", "train_time_s", "random_weight_top1"]].mean()
    result["val_top1_std"] = grouped["val_top1"].std(ddof=0) if grouped.size().max() > 1 else float("nan")
    result["train_seeds"] = grouped.size()
    return result


def rwe_correlation(frame: pd.DataFrame) -> dict | None:
    """How random-weight evaluation (a classifier trained on frozen random features) ranks the architectures
    like the trained top-1: Kendall and Spearman over those with both; None when fewer than 5 have both."""
    from scipy.stats import kendalltau, spearmanr

    if "random_weight_top1" not in frame.columns or "val_top1" not in frame.columns:
        return None
    both = frame[["random_weight_top1", "val_top1"]].dropna()
    if len(both) < 5:
        return None
    return {"architectures": len(both), "kendall_tau": float(kendalltau(both["random_weight_top1"], both["val_top1"]).statistic),
            "spearman": float(spearmanr(both["random_weight_top1"], both["val_top1"]).statistic)}


def repeat_pairs(store: Store, recipe_id: str | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """For each result, two values per architecture recorded twice or more (the two lowest seeds of a
    training, the two latest ok measurements of a target): what a repeat of the same work gives."""
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    train = store.read_pandas("train", ["arch_id", "recipe_id", "seed", "status", "val_top1"])
    train = train[train["status"] == "ok"]
    if recipe_id is not None:
        train = train[train["recipe_id"] == recipe_id]
    if train["recipe_id"].nunique() <= 1:  # repeats under one recipe only
        _add_pairs(pairs, "val_top1", train.sort_values("seed"), "val_top1")
    profile = store.read_pandas("profile", ["arch_id", "target", "status", "reported", "latency_ms_median", "latency_ms_mean", "throughput_ips", "finished_at"])
    profile = profile[profile["status"] == "ok"].sort_values("finished_at", ascending=False, na_position="last")
    profile = profile.assign(latency=profile["latency_ms_median"].fillna(profile["latency_ms_mean"]))
    for target, rows in profile.groupby("target"):
        reported = set().union(*[set(r) for r in rows["reported"]])
        if "latency" in reported:
            _add_pairs(pairs, f"latency_{target}", rows, "latency")
        if "throughput" in reported:
            _add_pairs(pairs, f"throughput_{target}", rows, "throughput_ips")
    return pairs


def _add_pairs(pairs: dict, name: str, rows: pd.DataFrame, column: str) -> None:
    firsts = rows.groupby("arch_id", sort=True)[column].agg(lambda values: list(values)[:2])
    firsts = firsts[firsts.map(len) == 2]
    if len(firsts):
        pairs[name] = ([float(v[0]) for v in firsts], [float(v[1]) for v in firsts])


def _profiling(store: Store, include_noisy: bool = False) -> pd.DataFrame | None:
    columns = ["arch_id", "target", "status", "reported", "latency_ms_median", "latency_ms_mean", "latency_ms_std", "throughput_ips", "throughput_ips_std", "finished_at"]
    profile = store.read_pandas("profile", columns)
    profile = profile[profile["status"].isin(("ok", "noisy") if include_noisy else ("ok",))]
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
