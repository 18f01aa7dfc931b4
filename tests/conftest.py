"""Shared fixtures: the reference records from ../shared, and paths."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Ray's token authentication stays on (its default). Ray reads the token when it is imported, so it is
# set here, before any test imports Ray; the clusters and drivers the tests start inherit it.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

RAY = str(Path(sys.executable).parent / "ray")
PROBE = "probe"  # the custom resource only the second node of the test cluster has
REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ACCELBENCH_SHARED", REPO.parent / "shared"))
ANB_TARBALL = SHARED / "data" / "anb" / "anb_dataset_dev.tar.gz"


def pytest_configure(config):
    """Under `pytest -n N` (make test), each worker is given one core of this process's: fits and queries
    take their threads from the affinity mask (`common.threads`), so two workers never oversubscribe."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...
    if worker:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[int(worker.removeprefix("gw")) % len(cores)]})


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per core this process was given (xdist would count the machine's)."""
    return len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def cores_kept():
    """No test, nor a library it drives, leaves this process on other cores than it had: every later fit
    and query takes its threads from the affinity mask (TVM's thread pool once moved it to core 0)."""
    before = os.sched_getaffinity(0)
    yield
    assert os.sched_getaffinity(0) == before, f"the test moved the process from cores {sorted(before)} to {sorted(os.sched_getaffinity(0))}"


@pytest.fixture(scope="session")
def anb_tarball() -> Path:
    if not ANB_TARBALL.exists():
        pytest.fail(f"the shared reference records are missing: {ANB_TARBALL} (set ACCELBENCH_SHARED)")
    return ANB_TARBALL


@pytest.fixture(scope="session")
def anb_records(anb_tarball):
    from accelbench.pipeline.anb_format import iter_anb_records

    return list(iter_anb_records(anb_tarball))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """`ray start --head` (2 CPUs) and a second node with the custom resource `probe` (1 CPU)."""
    import ray

    address = f"127.0.0.1:{_free_port()}"
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--disable-usage-stats", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20)]
    subprocess.run([RAY, "start", "--head", "--port", address.split(":")[1], "--num-cpus", "2", "--include-dashboard", "false", *common],
                   check=True, capture_output=True, env=environment)
    try:
        subprocess.run([RAY, "start", "--address", address, "--num-cpus", "1", "--resources", json.dumps({PROBE: 1}), *common],
                       check=True, capture_output=True, env=environment)
        ray.init(address=address, logging_level="WARNING")
        yield address
    finally:
        ray.shutdown()
        stop_cluster(address)


def cluster_processes(address: str) -> list:
    """This cluster's processes only, never another Ray cluster's on the machine (a researcher's running
    sweep): those whose command line names its GCS address or port, with the agents and workers they
    started (whose titles name no address)."""
    import psutil

    port = address.rsplit(":", 1)[1]
    # Ray may advertise the host's address rather than 127.0.0.1: match the port
    ours = re.compile(rf"(--gcs[-_]address=\S+:{port}|--gcs_server_port={port}|--address=\S+:{port})(\s|$)")  # --address: the Ray client server
    mine = {}
    for process in psutil.process_iter(["cmdline"]):
        if process.pid != os.getpid() and ours.search(" ".join(process.info["cmdline"] or [])):
            try:
                for member in [process, *process.children(recursive=True)]:
                    mine.setdefault(member.pid, member)
            except psutil.NoSuchProcess:
                pass
    mine.pop(os.getpid(), None)
    return list(mine.values())


def stop_cluster(address: str) -> None:
    """End this cluster's processes only (`ray stop` would end every Ray cluster on the machine)."""
    import psutil

    mine = cluster_processes(address)
    for process in mine:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(mine, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


# The shared reference records as a wide frame (imported through the real store path), and a small fit.
@pytest.fixture(scope="session")
def reference_frame(anb_records, tmp_path_factory):
    from accelbench.pipeline.anb_format import rows_from_records
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.views import wide

    store = Store(tmp_path_factory.mktemp("reference-store"))
    for table, rows in rows_from_records(anb_records, "test").items():
        store.write(table, rows)
    return wide(store)


@pytest.fixture(scope="session")
def small_fit(reference_frame):
    """Two targets on 1,200 architectures, two models, two members: 20-30 s on one core."""
    from accelbench.surrogate.fit import FitSettings, fit_all

    settings = FitSettings(models=("xgboost", "linear"), members=2, calibration_folds=3)
    frame = reference_frame.iloc[:1200].reset_index(drop=True)
    return fit_all(frame, ["val_top1", "throughput_a100"], settings, log=io.StringIO()), settings, frame


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A folder in ImageNet layout: 4 classes of the embedded digits, 16 training and 8 validation images each."""
    import shutil

    from accelbench.training.embedded import embedded_dataset

    embedded = embedded_dataset(tmp_path_factory.mktemp("cache"))
    root = tmp_path_factory.mktemp("tiny")
    for split, count in (("train", 16), ("val", 8)):
        for label in ("0", "1", "2", "3"):
            (root / split / label).mkdir(parents=True)
            for path in sorted((embedded / split / label).iterdir())[:count]:
                shutil.copy(path, root / split / label / path.name)
    return root
