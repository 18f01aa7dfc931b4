"""What a search asks of a benchmark: objectives (each maximised or minimised by its kind), constraints
on any target ("latency_zcu102<=5"), a budget of queries, and a record of every query.

The benchmark is a release or fit output read through the query API (`surrogate.benchmark`), or a
store's measured architectures (`TableBenchmark`: a tabular benchmark whose proposals are moved to the
nearest measured architecture, so that measured-only metrics such as random-weight top-1 can be searched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from accelbench.optimizers.encoding import canonical, from_architectures, random_genotypes, to_architecture, to_values
from accelbench.search_space import Architecture
from accelbench.common.errors import InputError
from accelbench.surrogate.features import features_of_choices


class SearchError(InputError):
    """A search request that cannot run: unknown objective or algorithm, malformed constraint."""


def direction(target: str) -> int:
    """+1 for what is better higher (accuracy, throughput), -1 for what is better lower (latency)."""
    return -1 if target.startswith("latency_") else 1


CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    target: str
    operator: str  # "<=" or ">="
    bound: float

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        match = CONSTRAINT.match(text)
        if not match:
            raise SearchError(f"--constraint {text!r} is malformed; write TARGET<=NUMBER or TARGET>=NUMBER, e.g. latency_zcu102<=5")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def __str__(self) -> str:
        return f"{self.target}{self.operator}{self.bound:g}"


class SurrogateOracle:
    """Predictions of a fitted benchmark (mean and the ensemble's std) for genotypes."""

    def __init__(self, benchmark) -> None:
        self.benchmark = benchmark
        self.targets = list(benchmark.target_names)
        self.space = benchmark.space

    def __call__(self, genotypes: np.ndarray, targets: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return self.benchmark.predict_features(features_of_choices(to_values(genotypes, self.space), self.space), targets)

    def project(self, genotypes: np.ndarray) -> np.ndarray:
        return genotypes

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return random_genotypes(rng, n, self.space)


class TableBenchmark:
    """A store's measured architectures as a tabular benchmark: their recorded values, nothing predicted."""

    def __init__(self, frame: pd.DataFrame, columns: list[str]) -> None:
        frame = frame.reset_index(drop=True)
        self.space = frame["space"].iloc[0] if "space" in frame.columns and len(frame) else "anb"  # a wide view is of one space
        self.genotypes = from_architectures([Architecture.from_compact(c, self.space) for c in frame["compact"]], self.space)
        self.values = {c: frame[c].to_numpy(dtype=float) for c in columns}
        self.targets = columns
        self._rows = {g.tobytes(): i for i, g in enumerate(self.genotypes)}

    def __call__(self, genotypes: np.ndarray, targets: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rows = np.array([self._rows[g.tobytes()] for g in genotypes], dtype=np.int64)
        return {t: (self.values[t][rows], np.zeros(len(rows))) for t in targets}

    def project(self, genotypes: np.ndarray) -> np.ndarray:
        """Each genotype moved to a measured one: itself if measured, else the nearest by Hamming distance (first in store order)."""
        result = genotypes.copy()
        for i, genotype in enumerate(genotypes):
            if genotype.tobytes() not in self._rows:
                result[i] = self.genotypes[int(np.argmin((self.genotypes != genotype).sum(axis=1)))]
        return result

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.genotypes[rng.integers(0, len(self.genotypes), n)]


class BudgetExhausted(Exception):
    """Raised by `Problem.evaluate` once every query of the budget is spent: how an algorithm stops."""


def fitness(scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """A uni-objective search's single number per query: the signed objective, -inf where a constraint fails."""
    return np.where(feasible, scores[:, 0], -np.inf)


class Problem:
    """Objectives and constraints over an oracle, with a budget; every query is recorded in order."""

    def __init__(self, oracle, objectives: list[str], constraints: list[Constraint], budget: int) -> None:
        if not objectives:
            raise SearchError("give at least one --objective")
        if budget < 1:
            raise SearchError(f"--budget {budget} is not allowed; it must be >= 1")
        known = set(oracle.targets)
        for name in [*objectives, *(c.target for c in constraints)]:
            if name not in known:
                raise SearchError(f"target {name!r} is unknown to this benchmark; it has {', '.join(sorted(known))}")
        if len(set(objectives)) != len(objectives):
            raise SearchError(f"--objective repeats a target: {', '.join(objectives)}")
        self.oracle, self.objectives, self.constraints, self.budget = oracle, objectives, constraints, budget
        self.space = getattr(oracle, "space", "anb")
        self.signs = np.array([direction(o) for o in objectives], dtype=float)
        self._records: list[dict] = []
        self.last_violation = np.zeros(0)  # of the last evaluated genotypes (NSGA-II ranks infeasible ones by it)
        self._targets = list(dict.fromkeys([*objectives, *(c.target for c in constraints)]))

    @property
    def used(self) -> int:
        return len(self._records)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.oracle.sample(rng, n)

    def project(self, genotypes: np.ndarray) -> np.ndarray:
        return self.oracle.project(genotypes)

    def evaluate(self, genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, feasible) for as many genotypes as the budget allows (raises BudgetExhausted at 0).
        scores: (n, objectives), signed so that higher is better; infeasible rows are still scored."""
        if self.remaining <= 0:
            raise BudgetExhausted
        genotypes = canonical(np.atleast_2d(np.asarray(genotypes, dtype=np.int64))[: self.remaining], self.space)
        predicted = self.oracle(genotypes, self._targets)
        violation = np.zeros(len(genotypes))  # relative to each bound, summed: what NSGA-II's constraint handling ranks by
        for constraint in self.constraints:
            values = predicted[constraint.target][0]
            excess = values - constraint.bound if constraint.operator == "<=" else constraint.bound - values
            violation += np.maximum(excess, 0) / max(abs(constraint.bound), 1e-12)
        feasible = violation == 0
        self.last_violation = violation
        scores = np.column_stack([predicted[o][0] for o in self.objectives]) * self.signs
        for i, genotype in enumerate(genotypes):
            record = {"step": self.used, "genotype": genotype, "feasible": bool(feasible[i])}
            for target in self._targets:
                record[f"{target}_mean"], record[f"{target}_std"] = float(predicted[target][0][i]), float(predicted[target][1][i])
            self._records.append(record)
        return scores, feasible

    def records(self) -> pd.DataFrame:
        """Every query in order: step, architecture (compact and id), each target's mean and std, feasibility."""
        rows = []
        for record in self._records:
            architecture = to_architecture(record["genotype"], self.space)
            rows.append({"step": record["step"], "compact": architecture.compact(), "arch_id": architecture.arch_id,
                         **{k: v for k, v in record.items() if k not in ("step", "genotype")}})
        return pd.DataFrame(rows)
