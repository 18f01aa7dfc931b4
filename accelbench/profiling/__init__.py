"""Inference profiling: ONNX export, one timing protocol, and a backend per runtime or device."""
