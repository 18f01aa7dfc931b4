"""The query API: `Benchmark.load(DIR).query(architectures)` -> `<target>_mean`, `<target>_std` (the
ensemble's spread) and `<target>_lo`, `<target>_hi` (the calibrated interval at the fit's level, 95% by
default: `Benchmark.interval_levels`).

DIR is the output of `accelbench fit` or a release (whose manifest is verified before anything is read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from accelbench.surrogate import saved
from accelbench.surrogate.features import feature_names, features
from accelbench.surrogate.manifest import MANIFEST, verify_or_raise


CHUNK = 16_384  # rows answered at a time: temporaries of ~50 MB that stay warm in cache (measured fastest of 16k-64k)


def surrogates_folder(folder: str | Path, digest: str | None = None) -> Path:
    """Where a folder's fitted surrogates are: a release's `surrogates/` (its manifest verified first,
    against `digest` too when given) or an `accelbench fit` output itself."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file() or digest is not None:
        verify_or_raise(folder, digest)
        return folder / "surrogates"
    return folder


class Benchmark:
    def __init__(self, targets: dict[str, saved.LoadedTarget], source: Path, space: str = "anb") -> None:
        self.targets = targets
        self.source = source
        self.space = space  # whose architectures it answers for

    @classmethod
    def load(cls, folder: str | Path, digest: str | None = None) -> "Benchmark":
        """A release (verified first, against `digest` too when given) or a `fit` output folder, ready
        to answer: its trees are converted and their compiled kernels loaded here (one answer for a row
        of zeros), so that the first query is as fast as any other."""
        space, targets = saved.load(surrogates_folder(folder, digest))
        benchmark = cls(targets, Path(folder), space)
        benchmark.predict_features(np.zeros((1, len(feature_names(space)))), benchmark.target_names)
        return benchmark

    @property
    def target_names(self) -> list[str]:
        return list(self.targets)

    @property
    def interval_levels(self) -> dict[str, float | None]:
        return {name: target.interval["level"] if target.interval else None for name, target in self.targets.items()}

    def predict_features(self, x, targets: list[str]) -> dict[str, tuple]:
        """{target: (mean, std)} for a feature matrix (`surrogate.features`): the fast path of searches."""
        for name in targets:
            if name not in self.targets:
                raise saved.SurrogateError(f"target {name!r} is not in {self.source}; it has {', '.join(self.targets)}")
        answers = {name: [] for name in targets}
        for start in range(0, max(len(x), 1), CHUNK):  # bounded temporaries, however many rows
            for name in targets:
                answers[name].append(self.targets[name].predict(x[start : start + CHUNK]))
        return {name: (np.concatenate([mean for mean, _ in parts]), np.concatenate([std for _, std in parts])) for name, parts in answers.items()}

    def query(self, architectures, targets: list[str] | None = None) -> pd.DataFrame:
        """One row per architecture (a DataFrame of reference keys, `Architecture`s or dicts of reference keys)."""
        columns = {}
        for name, (mean, std) in self.predict_features(features(architectures, self.space), targets or self.target_names).items():
            columns[f"{name}_mean"], columns[f"{name}_std"] = mean, std
            columns[f"{name}_lo"], columns[f"{name}_hi"] = self.targets[name].bounds(mean)
        return pd.DataFrame(columns)
