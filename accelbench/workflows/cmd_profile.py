"""`accelbench profile` (measure architectures on one backend) and `accelbench tune-tvm`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accelbench.profiling.export import ExportSettings, cached_export
from accelbench.profiling.protocol import TargetError
from accelbench.search_space import SPACES, sample
from accelbench.search_space.jsonl import read_architectures
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import check_output_file, emit, json_lines


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("profile", help="measure inference latency/throughput of architectures on one backend")
    parser.add_argument("--list", action="store_true", help="show each backend and whether it can run here, and why")
    parser.add_argument("--backend", help="onnxruntime, tvm, tensorrt, xla, vitis, torch")
    parser.add_argument("--input", help="JSON lines of architectures (reference keys)")
    parser.add_argument("--space", default="anb", choices=list(SPACES), help="the architectures' space (a line may name it; one of another space is refused)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=224, help="input resolution in px (an ofa architecture is measured at its own)")
    parser.add_argument("--device", default=None, help="cpu (default for onnxruntime/tvm), cuda, tensorrt, ...")
    parser.add_argument("--precision", default="fp32", help="fp32, fp16, int8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="backend option, e.g. --option sessions=5 (`accelbench targets show` lists them)")
    parser.add_argument("--cache", default=".cache/onnx", help="folder for exported ONNX files")
    parser.add_argument("--output", help="file to write (default: stdout)")
    parser.set_defaults(handler=profile_command)

    tune = commands.add_parser("tune-tvm", help="tune one TVM meta-schedule database for a target over sampled architectures")
    tune.add_argument("--work-dir", required=True, help="the database folder (pass it as --option database=DIR)")
    tune.add_argument("--architectures", type=int, default=40, help="how many sampled architectures to collect tasks from")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--trials", type=int, default=2000, help="measured trials in all")
    tune.add_argument("--batch", type=int, default=1)
    tune.add_argument("--resolution", type=int, default=224)
    tune.add_argument("--threads", type=int, default=1)
    tune.add_argument("--cache", default=".cache/onnx")
    tune.set_defaults(handler=tune_command)


def parse_options(assignments: list[str]) -> dict:
    options = {}
    for assignment in assignments:
        key, separator, text = assignment.partition("=")
        if not separator or not key:
            raise TargetError(f"--option {assignment!r} is not of the form KEY=VALUE")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def list_backends(device: str | None) -> None:
    from accelbench.profiling.backends import BACKENDS
    from accelbench.profiling.target import Target

    default_device = {"tensorrt": "cuda", "torch": "cuda", "xla": "tpu", "vitis": "zcu102"}
    for name, backend in BACKENDS.items():
        availability = backend.available(Target(name=name, backend=name, device=device or default_device.get(name, "cpu")))
        print(f"{name:12s} {'available' if availability else 'unavailable':12s} {availability.reason}")


def profile_command(arguments: argparse.Namespace) -> None:
    if arguments.list:
        list_backends(arguments.device)
        return
    if not arguments.backend or not arguments.input:
        raise UsageError("--backend and --input are required (or --list)")
    if arguments.output:
        check_output_file(arguments.output)  # before any measuring
    from accelbench.profiling.backends import get_backend
    from accelbench.profiling.target import Target
    from accelbench.profiling.runner import profile

    backend = get_backend(arguments.backend)
    target = Target(
        name=f"{arguments.backend}-b{arguments.batch}",
        backend=arguments.backend,
        batch=arguments.batch,
        resolution=arguments.resolution,
        device=arguments.device or "cpu",
        precision=arguments.precision,
        threads=arguments.threads,
        options=parse_options(arguments.option),
    )
    availability = backend.available(target)
    if not availability:  # a sweep records this as `unavailable` and goes on; asked for here, it is an error
        raise UsageError(f"backend {target.backend} on device {target.device} is unavailable here: {availability.reason}")
    architectures = read_architectures(arguments.input, (arguments.space,), f"--space {arguments.space}", arguments.space)
    rows = []
    for number, architecture in enumerate(architectures, start=1):
        measurement = profile(architecture, target.for_architecture(architecture), Path(arguments.cache))
        row = measurement.to_row()
        print(f"[{number}/{len(architectures)}] {architecture.arch_id} {row['status']} median={row['latency_ms_median']} ms {row['error'] or ''}", file=sys.stderr)
        rows.append(row)
    emit(json_lines(rows), arguments.output)


def tune_command(arguments: argparse.Namespace) -> None:
    from accelbench.profiling.backends.tvm import tune_database
    from accelbench.profiling.target import Target

    target = Target(name="tvm-tuning", backend="tvm", batch=arguments.batch, resolution=arguments.resolution, threads=arguments.threads)
    settings = ExportSettings(resolution=arguments.resolution)
    paths = [cached_export(architecture, arguments.cache, settings) for architecture in sample(arguments.architectures, arguments.seed)]
    work_dir = tune_database(paths, target, Path(arguments.work_dir), arguments.trials)
    print(f"tuned database in {work_dir}; use: --backend tvm --option database={work_dir}")
