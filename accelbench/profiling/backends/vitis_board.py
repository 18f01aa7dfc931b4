"""Runs on the FPGA board (Vitis AI's VART and XIR, numpy): time a compiled .xmodel on its DPU, as the
reference's runner did (fpga_code/run_on_fpga.py), and print one JSON line.

    python3 vitis_board.py --model net.xmodel --mode throughput --threads 5 --images 1000
    python3 vitis_board.py --model net.xmodel --mode latency --images 1000

throughput: `threads` runners, the images split between them, each keeping up to 9 jobs in flight
(`execute_async`, then `wait`, as the reference); images / wall time. latency: one runner, one job at
a time (a job is the DPU's batch: 1 image on the ZCU102's DPU, 6 on the VCK190's); each job's wall time.
The input is zeros of the DPU's input shape: the work a DPU does does not depend on pixel values.
This file imports nothing from accelbench: it is copied to the board alone.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

MAX_JOBS_IN_FLIGHT = 9  # the reference: up to ids_max - 1 = 9 asynchronous jobs per thread


def dpu_subgraph(graph):
    root = graph.get_root_subgraph()
    children = [] if root.is_leaf else root.toposort_child_subgraph()
    dpus = [child for child in children if child.has_attr("device") and child.get_attr("device").upper() == "DPU"]
    if not dpus:
        raise SystemExit("no DPU subgraph in the model")
    return dpus[0]


def buffers(runner):
    import numpy as np

    input_shape = tuple(runner.get_input_tensors()[0].dims)
    output_shape = tuple(runner.get_output_tensors()[0].dims)
    return [np.zeros(input_shape, dtype=np.int8, order="C")], [np.empty(output_shape, dtype=np.int8, order="C")], input_shape[0]


def run_jobs(runner, jobs: int, in_flight: int) -> None:
    """`jobs` jobs on one runner, at most `in_flight` outstanding."""
    inputs, _, _ = buffers(runner)
    outputs = [buffers(runner)[1] for _ in range(in_flight)]
    pending = []
    for number in range(jobs):
        pending.append(runner.execute_async(inputs, outputs[len(pending)]))
        if len(pending) == in_flight or number == jobs - 1:
            for job in pending:
                runner.wait(job)
            pending = []


def throughput(subgraph, create_runner, threads: int, images: int) -> dict:
    runners = [create_runner(subgraph, "run") for _ in range(threads)]
    batch = buffers(runners[0])[2]
    share = [images // threads + (1 if index < images % threads else 0) for index in range(threads)]
    workers = [threading.Thread(target=run_jobs, args=(runner, -(-count // batch), MAX_JOBS_IN_FLIGHT)) for runner, count in zip(runners, share)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    done = sum(-(-count // batch) * batch for count in share)
    return {"mode": "throughput", "threads": threads, "dpu_batch": batch, "images": done, "seconds": seconds, "fps": done / seconds}


def latency(subgraph, create_runner, images: int) -> dict:
    runner = create_runner(subgraph, "run")
    inputs, outputs, batch = buffers(runner)
    job_ms = []
    for _ in range(max(1, images // batch)):
        started = time.perf_counter()
        runner.wait(runner.execute_async(inputs, outputs))
        job_ms.append((time.perf_counter() - started) * 1000.0)
    return {"mode": "latency", "threads": 1, "dpu_batch": batch, "job_ms": job_ms}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", choices=["throughput", "latency"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=1000)
    arguments = parser.parse_args(argv)
    import vart
    import xir

    subgraph = dpu_subgraph(xir.Graph.deserialize(arguments.model))
    if arguments.mode == "throughput":
        result = throughput(subgraph, vart.Runner.create_runner, arguments.threads, arguments.images)
    else:
        result = latency(subgraph, vart.Runner.create_runner, arguments.images)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
