"""Proxy search: the cheapest training recipe that still ranks architectures like a reference recipe (the
method behind Accel-NASBench's proxified training, which cut its cost ~5.6x).

Every training is an ordinary `train` task of the pipeline (`collect`: the same store, Ray scheduling,
resume and failure records): the reference recipe on the reference architectures (the truth), the
reference again with other seeds on the first of them (the noise ceiling: no proxy can be judged above
the seed-to-seed agreement), and the candidates. A candidate is the reference recipe with some knobs
changed; when `epochs` changes, the schedule's own epochs (lr peak, resolution switch, validated epochs)
scale with it unless they are knobs too, and a changed global batch scales the peak lr by the stated rule.

Strategies: `grid` (every candidate, cheapest first) and `halving` (Optuna's TPE sampler with its
successive-halving pruner; the resource is the number of reference architectures, so a candidate that
ranks the first few poorly is dropped before it is trained on the rest). The budget counts the
candidates' training device-seconds; work starts only when an upper estimate of its cost fits in what
is left: per architecture, the dearest cost seen for a recipe with at least as much work (pixels
processed), or, when there is none, the dearest cost per pixel seen, with margins.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from accelbench.common.errors import check_name
from accelbench.pipeline.atomic import write_bytes_atomic
from accelbench.pipeline.plan import make_plan, sweep_architectures
from accelbench.pipeline.ranking import Agreement, agreement, seed_to_seed
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import ArchitectureSource, ConfigError, Sweep
from accelbench.proxy.candidates import Candidate, candidate_recipes
from accelbench.proxy.config import ProxyConfig
from accelbench.training.folders import list_image_folder, resolve_data, subset_samples

OUTPUT_FOLDER = "_proxy"  # STORE/_proxy/<search name>/: the table, the plot, the chosen recipe


@dataclass
class CandidateResult:
    candidate: Candidate
    status: str  # evaluated, pruned, over budget
    architectures: int = 0  # trained on the first this many reference architectures
    agreement: Agreement | None = None
    cost_s: float | None = None  # device-seconds per architecture: mean over its ok trainings
    cost_ratio: float | None = None  # to the reference recipe's
    failed: int = 0  # trainings that did not end ok (excluded from the agreement, counted here)


@dataclass
class SearchResult:
    config: ProxyConfig
    reference_cost_s: float
    noise: Agreement
    results: list[CandidateResult]
    spent_s: float
    budget_s: float | None
    chosen: int | None = None
    rule: str = ""
    notes: list[str] = field(default_factory=list)


class ProxySearch:
    def __init__(self, config: ProxyConfig, store: Store, address: str | None = None, stream: TextIO | None = None) -> None:
        self.config, self.store, self.address = config, store, address
        self.stream = stream or sys.stderr
        self.reference = config.reference.training.resolved_recipe
        self.architectures = sweep_architectures(config.reference)
        self.data_id: str | None = None
        self.rows: list[dict] = []
        self.candidates = candidate_recipes(config)
        self.output = Path(store.root) / OUTPUT_FOLDER / config.name if store.local else None

    # --- running trainings: ordinary sweeps ---
    def architecture_source(self, count: int) -> ArchitectureSource:
        source = self.config.reference.architectures
        if source.sample is not None and source.select == "uniform":
            return ArchitectureSource(source.space, count, source.seed)  # sample(k) is the start of sample(n); a spread sample's first k are not a spread sample
        path = (self.output or Path(self.store.root)) / f"architectures-{count}.jsonl"
        if not path.exists():
            write_bytes_atomic(path, "".join(a.to_json() + "\n" for a in self.architectures[:count]).encode())
        return ArchitectureSource(source.space, None, 0, str(path))

    def sweep(self, recipe, seeds: tuple[int, ...], count: int, tag: str) -> Sweep:
        training = dataclasses.replace(self.config.reference.training, recipe=self.config.reference.training.recipe,
                                       overrides={**recipe.to_dict()}, seeds=seeds)
        return Sweep(check_name(f"{self.config.name}-{tag}", "sweep name"), self.architecture_source(count), training, None, self.config.reference.scheduling)

    def ceiling_sweeps(self) -> tuple[Sweep, Sweep]:
        """The truth (the reference recipe on every architecture) and its noise seeds: what `--ceiling-only` trains."""
        config = self.config
        return (self.sweep(self.reference, tuple(config.reference.training.seeds), len(self.architectures), "reference"),
                self.sweep(self.reference, tuple(config.noise.seeds), config.noise.architectures, "noise"))

    def run_sweep(self, sweep: Sweep) -> None:
        from accelbench.pipeline.run import collect

        summary = collect(sweep, self.store, self.address, stream=self.stream)
        if summary.interrupted:  # Ctrl-C or SIGTERM during the sweep ends the search, not just the sweep
            raise KeyboardInterrupt
        self.rows = self.store.read("train", ["arch_id", "recipe_id", "data_id", "seed", "status", "val_top1", "train_time_s", "device_count", "error"]).to_pylist()

    def todo(self, sweep: Sweep) -> int:
        return len(make_plan(sweep, self.store, data_id=self.data_id).todo)

    # --- what the store holds ---
    def trainings(self, recipe_id: str, seeds: tuple[int, ...], arch_ids: set[str]) -> list[dict]:
        return [r for r in self.rows if r["recipe_id"] == recipe_id and r["data_id"] == self.data_id and r["seed"] in seeds and r["arch_id"] in arch_ids]

    def scores(self, recipe_id: str, seeds: tuple[int, ...], count: int) -> dict[str, float | None]:
        arch_ids = [a.arch_id for a in self.architectures[:count]]
        rows = self.trainings(recipe_id, seeds, set(arch_ids))
        by_arch = {arch: [r["val_top1"] for r in rows if r["arch_id"] == arch and r["status"] == "ok" and r["val_top1"] is not None] for arch in arch_ids}
        return {arch: (statistics.fmean(values) if values else None) for arch, values in by_arch.items()}

    @staticmethod
    def device_seconds(row: dict) -> float:
        return (row["train_time_s"] or 0.0) * (row["device_count"] or 1)

    def cost_per_architecture(self, recipe_id: str, seeds: tuple[int, ...], count: int) -> tuple[float | None, float | None, int]:
        """(mean, max) device-seconds per ok training, and the number of trainings that did not end ok."""
        rows = self.trainings(recipe_id, seeds, {a.arch_id for a in self.architectures[:count]})
        ok = [self.device_seconds(r) for r in rows if r["status"] == "ok" and r["train_time_s"]]
        return (statistics.fmean(ok) if ok else None), (max(ok) if ok else None), sum(1 for r in rows if r["status"] != "ok")

    def spent(self) -> float:
        ids = {c.recipe.recipe_id for c in self.candidates}
        return sum(self.device_seconds(r) for r in self.rows if r["recipe_id"] in ids and r["data_id"] == self.data_id)

    # --- the budget ---
    def work(self, recipe) -> float:
        """Pixels one training processes (training epochs at their resolutions, validation epochs)."""
        train_images, val_images = self.image_counts(recipe)
        return sum(recipe.resolution_at(e) ** 2 for e in range(recipe.epochs)) * train_images + recipe.validate_last_epochs * val_images * recipe.val_resolution**2

    def image_counts(self, recipe) -> tuple[int, int]:
        """Training and validation images of the recipe's data subset (the dataset listed once)."""
        if not hasattr(self, "_listing"):
            root = resolve_data(self.config.reference.training.data)
            self._listing = {split: list_image_folder(root / split) for split in ("train", "val")}
        return tuple(len(subset_samples(*self._listing[split], recipe.subset, split == "train")[1]) for split in ("train", "val"))

    def upper_cost(self, recipe) -> float:
        """An upper estimate of one architecture's training cost under `recipe`."""
        seen = [(self.work(c.recipe), self.cost_per_architecture(c.recipe.recipe_id, self.config.search.seeds, len(self.architectures))[1])
                for c in self.candidates] + [(self.work(self.reference), self.cost_per_architecture(self.reference.recipe_id, self.config.reference.training.seeds, len(self.architectures))[1])]
        seen = [(work, cost) for work, cost in seen if cost]
        work = self.work(recipe)
        larger = [cost for other, cost in seen if other >= work]
        if larger:
            return 1.1 * min(larger)
        return 1.5 * max(cost / other for other, cost in seen) * work

    def affordable(self, candidate: Candidate, count: int) -> bool:
        budget = self.config.search.budget_device_s
        if budget is None:
            return True
        new = self.todo(self.sweep(candidate.recipe, tuple(self.config.search.seeds), count, candidate.recipe.recipe_id))
        return self.spent() + new * self.upper_cost(candidate.recipe) <= budget

    # --- strategies ---
    def train_candidate(self, candidate: Candidate, count: int) -> None:
        self.run_sweep(self.sweep(candidate.recipe, tuple(self.config.search.seeds), count, candidate.recipe.recipe_id))

    def quick_tau(self, candidate: Candidate, count: int) -> float:
        truth = self.scores(self.reference.recipe_id, self.config.reference.training.seeds, count)
        return agreement(truth, self.scores(candidate.recipe.recipe_id, tuple(self.config.search.seeds), count), resamples=0).kendall_tau

    def grid(self) -> dict[str, tuple[str, int]]:
        outcome = {}
        for number, candidate in enumerate(sorted(self.candidates, key=lambda c: self.work(c.recipe)), start=1):
            if not self.affordable(candidate, len(self.architectures)):
                outcome[candidate.label] = ("over budget", 0)
                continue
            self.say(f"[candidate {number}/{len(self.candidates)}] {candidate.label}")
            self.train_candidate(candidate, len(self.architectures))
            outcome[candidate.label] = ("evaluated", len(self.architectures))
        return outcome

    def rungs(self) -> list[int]:
        total, eta = len(self.architectures), self.config.search.eta
        rungs, count = [], min(self.config.search.min_architectures, total)
        while count < total:
            rungs.append(count)
            count *= eta
        return rungs + [total]

    def halving(self) -> dict[str, tuple[str, int]]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search = self.config.search
        by_values = {tuple(c.changes.values()): c for c in self.candidates}
        rungs = self.rungs()
        sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=min(10, max(2, len(self.candidates) // 3)))
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=rungs[0], reduction_factor=search.eta))
        outcome: dict[str, tuple[str, int]] = {}

        def objective(trial: "optuna.Trial") -> float:
            candidate = by_values[tuple(trial.suggest_categorical(knob, list(values)) for knob, values in self.config.knobs.items())]
            if candidate.label in outcome:  # suggested again: its answer is known
                status, count = outcome[candidate.label]
                if status != "evaluated":
                    raise optuna.TrialPruned()
                return self.quick_tau(candidate, count)
            tau = float("nan")
            for count in rungs:
                if not self.affordable(candidate, count):
                    outcome[candidate.label] = ("over budget", outcome.get(candidate.label, ("", 0))[1])
                    study.stop()
                    raise optuna.TrialPruned()
                self.say(f"[trial {trial.number + 1}] {candidate.label}: the first {count} architectures")
                self.train_candidate(candidate, count)
                tau = self.quick_tau(candidate, count)
                outcome[candidate.label] = ("pruned", count)
                trial.report(tau if math.isfinite(tau) else -1.0, count)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            outcome[candidate.label] = ("evaluated", rungs[-1])
            return tau if math.isfinite(tau) else -1.0

        study.optimize(objective, n_trials=search.trials or len(self.candidates))
        return outcome

    # --- the whole search ---
    def say(self, line: str) -> None:
        budget = self.config.search.budget_device_s
        spent = f"; candidates spent {self.spent():.0f}{f' of {budget:.0f}' if budget else ''} device-s" if self.data_id else ""
        print(f"proxy-search {self.config.name}: {line}{spent}", file=self.stream, flush=True)

    def run(self, ceiling_only: bool = False) -> SearchResult:
        """The truth, the noise ceiling and the candidates; `ceiling_only`: the first two (is there a ranking
        signal at all? a search over candidates is worth its cost only if the seeds agree)."""
        from accelbench.pipeline.run import check_reachable, connect, local_identity, probe_identity

        import ray

        config = self.config
        check_reachable(self.address)
        self.store.check_usable(create=True)
        with self.store.lock(f"accelbench proxy-search {config.name}"):
            started = connect(self.address)
            try:
                identity = local_identity(config.reference) or probe_identity(config.reference)
                self.data_id = identity.data_id
                truth, noise = self.ceiling_sweeps()
                self.say(f"the reference recipe on {len(self.architectures)} architectures (the truth)")
                self.run_sweep(truth)
                self.check_truth()
                self.say(f"the reference with seeds {list(config.noise.seeds)} on {config.noise.architectures} architectures (the noise ceiling)")
                self.run_sweep(noise)
                if ceiling_only:
                    outcome = {}
                else:
                    outcome = self.grid() if config.search.strategy == "grid" else self.halving()
            finally:
                if started:
                    ray.shutdown()
        return self.results(outcome, ceiling_only)

    def check_truth(self) -> None:
        """Stop when the reference trained no architecture: right after its sweep, before the noise seeds and
        the candidates spend anything, and before any result is ranked against it."""
        config, seeds = self.config, self.config.reference.training.seeds
        if self.cost_per_architecture(self.reference.recipe_id, seeds, len(self.architectures))[0] is not None:
            return
        rows = self.trainings(self.reference.recipe_id, seeds, {a.arch_id for a in self.architectures})
        reasons = [f"{r['status']}: {r['error']}" for r in rows if r["status"] != "ok"]
        first = f" (the first: {reasons[0].splitlines()[0]})" if reasons else ""
        raise ConfigError(f"{config.name}: the reference recipe trained none of the {len(self.architectures)} architectures{first}; "
                          "nothing to rank against: fix that and run again (the store keeps what ran)")

    def results(self, outcome: dict[str, tuple[str, int]], ceiling_only: bool = False) -> SearchResult:
        from accelbench.pipeline.ranking import select

        config, selection = self.config, self.config.selection
        self.check_truth()
        reference_cost, _, _ = self.cost_per_architecture(self.reference.recipe_id, config.reference.training.seeds, len(self.architectures))
        seeds = list(config.reference.training.seeds) + list(config.noise.seeds)
        noise = seed_to_seed([self.scores(self.reference.recipe_id, (seed,), config.noise.architectures) for seed in seeds], selection.bootstrap)
        results = []
        for candidate in self.candidates:
            status, count = outcome.get(candidate.label, ("not run", 0))
            result = CandidateResult(candidate, status, count)
            if count:
                truth = self.scores(self.reference.recipe_id, config.reference.training.seeds, count)
                result.agreement = agreement(truth, self.scores(candidate.recipe.recipe_id, tuple(config.search.seeds), count), selection.bootstrap, selection.level)
                result.cost_s, _, result.failed = self.cost_per_architecture(candidate.recipe.recipe_id, tuple(config.search.seeds), count)
                result.cost_ratio = result.cost_s / reference_cost if result.cost_s else None
            results.append(result)
        search = SearchResult(config, reference_cost, noise, results, self.spent(), config.search.budget_device_s)
        evaluated = [i for i, r in enumerate(results) if r.status == "evaluated" and r.agreement and r.cost_ratio]
        if evaluated:
            index, search.rule = select([results[i].candidate.label for i in evaluated], [results[i].agreement for i in evaluated],
                                        [results[i].cost_ratio for i in evaluated], selection.rule, selection.cost_cap)
            search.chosen = evaluated[index]
        elif ceiling_only:
            search.notes.append("the noise ceiling only (--ceiling-only): no candidate was trained")
        else:
            search.notes.append("no candidate was evaluated on every reference architecture: raise the budget")
        return search
