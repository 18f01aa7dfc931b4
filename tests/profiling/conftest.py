import pytest

from accelbench.profiling.export import ExportSettings, cached_export
from accelbench.search_space import sample

SMALL = ExportSettings(resolution=64)


@pytest.fixture(scope="session")
def architecture():
    return sample(1, seed=21)[0]


@pytest.fixture(scope="session")
def onnx_224(architecture, tmp_path_factory):
    return cached_export(architecture, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def onnx_64(architecture, tmp_path_factory):
    return cached_export(architecture, tmp_path_factory.mktemp("onnx64"), SMALL)
