"""How many threads the surrogates' numerical work may use: the cores this process was given, never
every core of the machine.

The cores given are, first found: `--threads N` (`set_threads`), the CPUs Ray assigned to the task or
actor this runs in, the process's affinity mask (taskset, a cgroup cpuset, a batch scheduler's
binding). Fits and queries read `threads()`: the boosters (XGBoost, LightGBM) get it as their thread
count, the compiled trees' kernels run on that many numba threads, BLAS and Arrow pools are held to it.
Two jobs given one core each on one machine thus never oversubscribe it. The boosters' results do not
depend on their thread count (tests/surrogate/test_threads.py), so a fit is the same on any machine.
"""

from __future__ import annotations

import contextlib
import os
import sys

from accelbench.common.errors import InputError

MAX_THREADS = 1024
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_chosen: int | None = None


def affinity_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def ray_cores() -> int | None:
    """The CPUs Ray assigned to the running task or actor; None outside one (a driver has none assigned)."""
    ray = sys.modules.get("ray")  # only a process that already uses Ray can be inside a Ray task
    if ray is None or not ray.is_initialized():
        return None
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except AssertionError:  # Ray answers only inside a task or actor: this is a driver
        return None
    return max(1, int(cpus)) if cpus else None


def threads() -> int:
    """The thread count for a fit or a query."""
    return _chosen or ray_cores() or affinity_cores()


def set_threads(count: int) -> int:
    """Use `count` threads from now on in this process (`--threads`); returns it."""
    global _chosen
    _chosen = checked(count)
    hold_pools(count)
    return count


def checked(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_THREADS:
        raise InputError(f"--threads {count!r} is not allowed; give a whole number of threads in [1, {MAX_THREADS}]")
    return count


@contextlib.contextmanager
def given_threads(count: int | None):
    """Within: `set_threads(count)` (nothing when None); after: the thread count and the pools' limits as
    before, so that one command's `--threads` does not outlast it in a process that runs several."""
    global _chosen
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    chosen, variables = _chosen, {name: os.environ.get(name) for name in POOL_VARIABLES}
    arrow = sys.modules["pyarrow"].cpu_count() if "pyarrow" in sys.modules else None
    with threadpool_limits(limits=checked(count)):  # restores the loaded pools' limits on the way out
        try:
            yield set_threads(count)
        finally:
            _chosen = chosen
            for name, value in variables.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            if arrow is not None:
                sys.modules["pyarrow"].set_cpu_count(arrow)


def hold_pools(count: int) -> None:
    """Hold the pools other libraries start on their own (OpenMP, BLAS, Arrow) to `count` threads: those
    loaded already through threadpoolctl, those loaded later through their environment variables."""
    from threadpoolctl import threadpool_limits

    for name in POOL_VARIABLES:
        os.environ[name] = str(count)
    threadpool_limits(limits=count)
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].set_cpu_count(count)
