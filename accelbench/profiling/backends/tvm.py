"""Apache TVM (Relax, 0.27+): import the ONNX, compile for llvm (or cuda), time with TVM's own evaluator.

Untuned llvm builds are an order of magnitude slower than ONNX Runtime. Tuning tasks repeat across
architectures of this space, so one meta-schedule database per target, tuned once over a sample of
architectures (`tune_database`, the `accelbench tune-tvm` step), is applied to every architecture
(target option `database`: the tuning work folder).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.export import INPUT_NAME, onnx_input_shape
from accelbench.profiling.protocol import LoadMonitor, Measurement, TimingPlan, failed, time_runs
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

DEVICES = ("cpu", "cuda")
# TVM's thread pool binds its threads, and the thread that starts it, to cores it picks from all of the
# machine's: the process is left on core 0 whatever cores it was given (a Ray task's, `taskset`'s), and
# every later fit and query takes its threads from that mask (`common.threads`). Unbound, its threads
# stay within the process's cores. Read by TVM each time it sets up its pool; a user's own setting wins.
os.environ.setdefault("TVM_BIND_THREADS", "0")


@dataclass(frozen=True)
class TvmOptions(Options):
    database: str | None = None  # a meta-schedule tuning folder (`accelbench tune-tvm`); none: untuned
    repeats: int = 10
    mcpu: str | None = None  # llvm's CPU; none: this host's
    cuda_arch: str = "sm_80"


def tvm_target(target: Target):
    import tvm

    settings: TvmOptions = target.settings
    if target.device == "cuda":
        return tvm.target.Target({"kind": "cuda", "arch": settings.cuda_arch}, host={"kind": "llvm"})
    # dict form: string targets with flags were rejected by 0.27
    return tvm.target.Target({"kind": "llvm", "mcpu": settings.mcpu or tvm.target.codegen.llvm_get_system_cpu(), "num-cores": target.threads})


def lowered_module(onnx_path: Path, batch: int, tvm_target_value):
    """Relax module of the ONNX at a static batch, legalised and fused: the form tuning and building share."""
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    module = from_onnx(onnx.load(str(onnx_path)), shape_dict={INPUT_NAME: [batch, *onnx_input_shape(onnx_path)]})
    passes = tvm.transform.Sequential(
        [
            relax.transform.DecomposeOpsForInference(),
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ]
    )
    with tvm_target_value:
        return passes(module)


def build(onnx_path: Path, target: Target, batch: int | None = None):
    """The compiled executable: the tuned schedules of `database` where it has them, defaults elsewhere."""
    import tvm
    from tvm import relax

    compile_target = tvm_target(target)
    module = lowered_module(onnx_path, batch or target.batch, compile_target)
    database_dir = target.settings.database
    if database_dir:
        from tvm.s_tir import meta_schedule

        database = meta_schedule.database.JSONDatabase(work_dir=str(database_dir), allow_missing=False)
        with compile_target, database, tvm.transform.PassContext(opt_level=3):
            module = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(module)
    if target.device == "cuda":
        from tvm import dlight

        with compile_target:
            module = dlight.ApplyDefaultSchedule(dlight.gpu.Matmul(), dlight.gpu.GEMV(), dlight.gpu.Reduction(), dlight.gpu.GeneralReduction(), dlight.gpu.Fallback())(module)
    return tvm.compile(module, compile_target)


def run_model(onnx_path: Path, target: Target, images: np.ndarray) -> np.ndarray:
    """Logits of `images` through the TVM build (for checking against ONNX Runtime)."""
    import tvm
    from tvm import relax

    device = tvm.cuda() if target.device == "cuda" else tvm.cpu()
    machine = relax.VirtualMachine(build(onnx_path, target, images.shape[0]), device)
    return machine["main"](tvm.runtime.tensor(images, device)).numpy()


def tune_database(onnx_paths: list[Path], target: Target, work_dir: Path, max_trials: int) -> Path:
    """Tune the distinct tasks of several architectures into one meta-schedule database in `work_dir`."""
    import tvm_ffi
    from tvm.s_tir import meta_schedule

    compile_target = tvm_target(target)
    tasks: dict[int, Any] = {}
    for onnx_path in onnx_paths:
        module = lowered_module(onnx_path, target.batch, compile_target)
        for task in meta_schedule.relax_integration.extract_tasks(module, compile_target):
            key = tvm_ffi.structural_hash(task.dispatched[0])
            if key in tasks:
                tasks[key].weight += task.weight
            else:
                tasks[key] = task
    contexts, weights = meta_schedule.relax_integration.extracted_tasks_to_tune_contexts(
        list(tasks.values()), str(work_dir), space="post-order-apply", strategy="evolutionary", num_threads=target.threads, seed=0
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    meta_schedule.relax_integration.tune_tasks(
        tasks=contexts, task_weights=weights, work_dir=str(work_dir), max_trials_global=max_trials, num_trials_per_iter=min(64, max_trials)
    )
    return work_dir


class TvmBackend(BackendBase):
    header = Header("tvm", TvmOptions, precisions=("fp32",), devices=DEVICES, needs_onnx=True)

    def check(self, target: Target) -> Availability:
        try:
            import tvm
            from tvm.relax.frontend.onnx import from_onnx  # noqa: F401
        except ImportError as error:
            return Availability(False, f"Apache TVM with the Relax ONNX front end is not installed ({error}); pip install 'accelbench[tvm]'")
        if target.device == "cuda" and not tvm.cuda().exist:
            return Availability(False, "no CUDA device is visible to TVM (tvm.cuda().exist is false)")
        database = target.settings.database
        if database and not (Path(database) / "database_tuning_record.json").exists():
            return Availability(False, f"the tuning database {database} has no database_tuning_record.json; run `accelbench tune-tvm` first")
        return Availability(True, f"Apache TVM {tvm.__version__}")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        return self.measure_onnx(architecture.arch_id, onnx_path, target)

    def measure_onnx(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        """Any ONNX model (a network or one block) at its own input shape and the target's batch."""
        import tvm
        from tvm import relax

        plan = TimingPlan(repeats=target.settings.repeats, max_warmup=20)
        try:
            started = time.perf_counter()
            executable = build(onnx_path, target)
            build_time = time.perf_counter() - started
            device = tvm.cuda() if target.device == "cuda" else tvm.cpu()
            tvm.get_global_func("runtime.config_threadpool")(0, target.threads)
            machine = relax.VirtualMachine(executable, device)
            images = tvm.runtime.tensor(np.random.default_rng(0).standard_normal((target.batch, *onnx_input_shape(onnx_path)), dtype=np.float32), device)

            def once() -> None:
                machine["main"](images)
                device.sync()

            time_runs(once, TimingPlan(min_warmup=plan.min_warmup, max_warmup=plan.max_warmup, repeats=0, min_time_s=0.0))
            evaluator = machine.time_evaluator("main", device, number=1, repeat=plan.repeats, min_repeat_ms=0)
            with LoadMonitor() as monitor:
                samples = [seconds * 1000.0 for seconds in evaluator(images).results]
        except Exception as error:  # noqa: BLE001 - a compiler or runtime error of this architecture is a record
            return failed(subject_id, target, f"{type(error).__name__}: {error}")
        environment = {
            "tvm": tvm.__version__,
            "target": str(tvm_target(target)),
            "tuned": bool(target.settings.database),
        }
        return Measurement.of_samples(subject_id, target, samples, build_time_s=build_time, other_load=monitor.other_load, environment=environment)
