"""A tiny ImageNet-layout folder cut from the embedded digits, for fast trainer tests."""

import shutil
from pathlib import Path

import pytest

from accelbench.training.embedded import embedded_dataset


@pytest.fixture(scope="session")
def embedded_root(tmp_path_factory) -> Path:
    return embedded_dataset(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_root(embedded_root, tmp_path_factory) -> Path:
    """4 classes, 24 train and 8 val images each."""
    root = tmp_path_factory.mktemp("tiny")
    for split, count in (("train", 24), ("val", 8)):
        for label in ("0", "1", "2", "3"):
            target = root / split / label
            target.mkdir(parents=True)
            for path in sorted((embedded_root / split / label).iterdir())[:count]:
                shutil.copy(path, target / path.name)
    return root
