"""The interface every surrogate model implements, one model per file.

`fit` gets a validation split for early stopping and, optionally, a weight per training row (how much
to trust its measurement: `surrogate.fit.measurement_weights`), or instead of the split the capacity an
earlier fit chose on it; `save` writes the library's own non-pickle format
(JSON, UBJ or text) and returns the file name; `load` reads it back."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from accelbench.common.errors import InputError


class SurrogateError(InputError):
    """A surrogate request that cannot be served (unknown model or target, bad or tampered files)."""


class Model(Protocol):
    name: str

    capacity: dict | None  # after `fit`: what it chose on the validation split (boosting rounds, a penalty)

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int, weight: np.ndarray | None = None, capacity: dict | None = None) -> None:
        """Given another fit's `capacity`, fit at it (as many boosting rounds, the same penalty) without a validation split."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    @staticmethod
    def predict_members(members: list["Model"], x: np.ndarray) -> list[np.ndarray]:
        """Each member's prediction (all of this class); a class may share work between them."""
        ...

    def save(self, path_stem: Path) -> str:
        """Write the model to `path_stem` + the format's suffix; return the file name."""
        ...

    @classmethod
    def load(cls, path: Path) -> "Model": ...


def predict_each(members: list[Model], x: np.ndarray) -> list[np.ndarray]:
    """`predict_members` for a class whose members share nothing."""
    return [member.predict(x) for member in members]
