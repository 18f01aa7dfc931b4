"""One search, or a comparison of several: run, summarise, write records and plots."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from accelbench.optimizers import ALGORITHMS, get_algorithm
from accelbench.optimizers.pareto import hypervolume, non_dominated
from accelbench.optimizers.problem import BudgetExhausted, Constraint, Problem, SearchError, direction, fitness
from accelbench.surrogate.plots import target_label


MAX_BUDGET = 10_000_000  # queries; a search at the reference's scale asks 1,500


@dataclass(frozen=True)
class SearchSpec:
    algorithm: str
    objectives: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    budget: int
    seed: int

    def check(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise SearchError(f"--seed {self.seed} is not allowed; it must be in [0, 2**32)")
        if not 1 <= self.budget <= MAX_BUDGET:
            raise SearchError(f"--budget {self.budget} is not allowed; it must be in [1, {MAX_BUDGET:,}]")
        module = get_algorithm(self.algorithm)
        if len(self.objectives) > 1 and not module.MULTI_OBJECTIVE:
            multi = ", ".join(name for name, m in ALGORITHMS.items() if m.MULTI_OBJECTIVE)
            raise SearchError(f"--algorithm {self.algorithm} is uni-objective; with {len(self.objectives)} objectives use {multi}, "
                              f"or keep one objective and bound the others with --constraint")


@dataclass
class SearchResult:
    spec: SearchSpec
    records: pd.DataFrame  # every query, in order
    seconds: float

    def scores(self) -> np.ndarray:
        return np.column_stack([self.records[f"{o}_mean"].to_numpy() * direction(o) for o in self.spec.objectives])

    def best_so_far(self) -> np.ndarray:
        """Uni-objective: the best feasible objective value after each query (NaN before the first feasible one)."""
        value = fitness(self.scores(), self.records["feasible"].to_numpy())
        best = np.maximum.accumulate(value)
        return np.where(np.isfinite(best), best * direction(self.spec.objectives[0]), np.nan)

    def front(self) -> pd.DataFrame:
        """The feasible queries no other feasible query dominates, each architecture once."""
        feasible = self.records[self.records["feasible"]].drop_duplicates("arch_id")
        if feasible.empty:
            return feasible
        scores = self.scores()[feasible.index.to_numpy()]
        return feasible[non_dominated(scores)].sort_values(f"{self.spec.objectives[0]}_mean", ascending=False)

    def best(self) -> pd.Series | None:
        feasible = self.records[self.records["feasible"]]
        if feasible.empty:
            return None
        return self.records.loc[int(np.argmax(fitness(self.scores(), self.records["feasible"].to_numpy())))]

    def hypervolume(self, reference: np.ndarray) -> float:
        front = self.front()
        return hypervolume(self.scores()[front.index.to_numpy()], reference) if len(front) else 0.0


def run_search(oracle, spec: SearchSpec) -> SearchResult:
    spec.check()
    problem = Problem(oracle, list(spec.objectives), list(spec.constraints), spec.budget)
    started = time.perf_counter()
    try:
        get_algorithm(spec.algorithm).run(problem, np.random.default_rng(spec.seed))
    except BudgetExhausted:
        pass
    seconds = time.perf_counter() - started
    if problem.used != spec.budget:
        raise RuntimeError(f"{spec.algorithm} stopped after {problem.used} of {spec.budget} queries")
    return SearchResult(spec, problem.records(), seconds)


def signed_reference(objectives: tuple[str, ...], reference: dict[str, float]) -> np.ndarray:
    missing = [o for o in objectives if o not in reference]
    if missing:
        raise SearchError(f"the hypervolume needs a reference point for {', '.join(missing)}; give --reference {missing[0]}=VALUE")
    return np.array([reference[o] * direction(o) for o in objectives])


def summary(result: SearchResult) -> dict:
    spec = result.spec
    values = {"algorithm": spec.algorithm, "seed": spec.seed, "budget": spec.budget, "objectives": list(spec.objectives),
              "constraints": [str(c) for c in spec.constraints], "feasible_queries": int(result.records["feasible"].sum()),
              "seconds": round(result.seconds, 3)}
    columns = ["compact", "arch_id", *[c for c in result.records.columns if c.endswith(("_mean", "_std"))]]
    if len(spec.objectives) == 1:
        best = result.best()
        values["best"] = None if best is None else {c: (best[c].item() if hasattr(best[c], "item") else best[c]) for c in columns}
    else:
        values["pareto_front"] = result.front()[columns].to_dict(orient="records")
    return values


def write_search(result: SearchResult, folder: Path) -> None:
    result.records.to_parquet(folder / "queries.parquet", index=False)
    (folder / "result.json").write_text(json.dumps(summary(result), indent=1) + "\n")
    if len(result.spec.objectives) == 1:
        trajectory_plot({result.spec.algorithm: [result]}, folder / "trajectory.png")
    else:
        pareto_plot({result.spec.algorithm: [result]}, folder / "pareto.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def trajectory_plot(runs: dict[str, list[SearchResult]], path: Path) -> None:
    """Best so far against queries: mean and ± one std over seeds, one line per algorithm."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, results in runs.items():
        curves = np.array([r.best_so_far() for r in results])
        with warnings.catch_warnings():  # before any seed's first feasible query the curve is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
        steps = np.arange(1, curves.shape[1] + 1)
        axis.plot(steps, mean, label=f"{name} ({len(results)} seed{'s' if len(results) > 1 else ''})")
        axis.fill_between(steps, mean - std, mean + std, alpha=0.2)
    objective = next(iter(runs.values()))[0].spec.objectives[0]
    axis.set_xlabel("queries")
    axis.set_ylabel(f"best {target_label(objective)} so far")
    if any(np.isfinite(r.best_so_far()).any() for results in runs.values() for r in results):
        axis.set_xscale("log")
    else:
        axis.text(0.5, 0.5, "no query met the constraints", transform=axis.transAxes, ha="center", va="center")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)


def pareto_plot(runs: dict[str, list[SearchResult]], path: Path) -> None:
    """Each algorithm's front (its first seed) over the first two objectives."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for name, results in runs.items():
        front = results[0].front()
        x, y = results[0].spec.objectives[:2]
        axis.step(front[f"{y}_mean"], front[f"{x}_mean"], where="post", marker="o", markersize=3, label=name)
    axis.set_xlabel(target_label(y))
    axis.set_ylabel(target_label(x))
    axis.legend(fontsize=8)
    axis.set_title("Pareto fronts (seed of the first run)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)


def compare(oracle, algorithms: list[str], objectives: tuple[str, ...], constraints: tuple[Constraint, ...], budget: int, seeds: list[int],
            reference: dict[str, float] | None, log) -> tuple[pd.DataFrame, dict[str, list[SearchResult]]]:
    """Every algorithm x seed at one budget: mean best objective (uni) or hypervolume (multi), with their spread."""
    specs = [SearchSpec(a, objectives, constraints, budget, s) for a in algorithms for s in seeds]
    for spec in specs:
        spec.check()
    point = signed_reference(objectives, reference or {}) if len(objectives) > 1 else None
    runs: dict[str, list[SearchResult]] = {a: [] for a in algorithms}
    started = time.perf_counter()
    for number, spec in enumerate(specs, start=1):
        runs[spec.algorithm].append(run_search(oracle, spec))
        elapsed = time.perf_counter() - started
        print(f"[{number}/{len(specs)}] {spec.algorithm} seed {spec.seed}: {runs[spec.algorithm][-1].seconds:.1f} s; "
              f"ETA {elapsed / number * (len(specs) - number):.0f} s", file=log, flush=True)
    rows = []
    for name, results in runs.items():
        values = np.array([r.hypervolume(point) for r in results]) if point is not None else np.array([r.best_so_far()[-1] for r in results])
        rows.append({"algorithm": name, "seeds": len(results), "budget": budget,
                     "metric": "hypervolume" if point is not None else f"best {objectives[0]}",
                     "mean": float(np.mean(values)), "std": float(np.std(values)), "min": float(np.min(values)), "max": float(np.max(values)),
                     "seconds_per_run": float(np.mean([r.seconds for r in results]))})
    return pd.DataFrame(rows), runs
