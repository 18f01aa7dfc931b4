"""`make bench`: run every benchmark (or those named: python -m benchmarks loader ...)."""

import importlib
import sys

BENCHMARKS = ["loader", "profiling_stability", "pipeline_overhead", "resume_planning", "surrogates_vs_reference", "query_speed", "cross_device", "fit_under_load", "lut_spaces"]
ON_REQUEST = ["fashion_ceiling"]  # an hour of training on Debian's Fashion-MNIST: run by name only


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS + ON_REQUEST:
            sys.exit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS + ON_REQUEST)}")
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
