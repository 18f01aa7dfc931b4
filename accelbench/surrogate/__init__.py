"""Surrogates: features from the architecture alone, a registry of models, fitting, saving without
pickles, and the query API (`surrogate.benchmark.Benchmark`). Needs the records only, never torch."""
