"""An ONNX network computing in fp16 with fp32 inputs and outputs: a Cast after each input and before
each output, every float32 weight and constant stored as float16.

TensorRT 11 builds strongly typed networks only (its FP16 builder flag and trtexec's --fp16 are gone):
an engine computes in the types its ONNX declares. This is the conversion NVIDIA's ModelOpt AutoCast
does with `keep_io_types=True`, for the few operators our networks export to (no package needed).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _half(tensor: TensorProto) -> TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)


def float16_model(model: onnx.ModelProto) -> onnx.ModelProto:
    model = copy.deepcopy(model)
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT:
            graph.initializer[index].CopyFrom(_half(tensor))
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Constant" and attribute.name == "value" and attribute.t.data_type == TensorProto.FLOAT:
                attribute.t.CopyFrom(_half(attribute.t))
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
    del graph.value_info[:]  # intermediate types are inferred again by the consumer
    first, last = [], []
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = f"{value.name}_fp16"
            for node in graph.node:
                node.input[:] = [inner if name == value.name else name for name in node.input]
            first.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT16, name=f"{value.name}_to_fp16"))
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = f"{value.name}_fp16"
            for node in graph.node:
                node.output[:] = [inner if name == value.name else name for name in node.output]
                node.input[:] = [inner if name == value.name else name for name in node.input]
            last.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT, name=f"{value.name}_to_fp32"))
    nodes = first + list(graph.node) + last
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def float16_copy(onnx_path: str | Path, target: str | Path) -> Path:
    onnx.save(float16_model(onnx.load(str(onnx_path))), str(target))
    return Path(target)
