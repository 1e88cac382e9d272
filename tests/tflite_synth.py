"""Build tiny real .tflite files whose single output is a YOLO-shaped tensor we choose (no YOLO model is offline).

The graph is output = CONST + 0 * mean(input), so the real runtime runs real ops on our input and hands back a
known raw YOLO tensor; optional DEQUANTIZE (int8 input) and QUANTIZE (int8 output) exercise the quantised paths.
"""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_TYPES = {"float32": fb.TensorType.FLOAT32, "int8": fb.TensorType.INT8, "int32": fb.TensorType.INT32}


class _Graph:
    def __init__(self) -> None:
        self.buffers: list[Any] = [fb.BufferT()]  # buffer 0 is the empty buffer by convention
        self.tensors: list[Any] = []
        self.ops: list[Any] = []
        self.codes: list[int] = []

    def tensor(self, shape: tuple[int, ...], dtype: str, data: np.ndarray | None = None, quant: Any = None) -> int:
        t = fb.TensorT()
        t.shape, t.type, t.name = list(shape), _TYPES[dtype], f"t{len(self.tensors)}"
        t.buffer = 0
        if data is not None:
            buf = fb.BufferT()
            buf.data = list(np.ascontiguousarray(data).tobytes())
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            q = fb.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options: tuple[int, Any] | None = None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options
        self.ops.append(o)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        sub = fb.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = self.tensors, self.ops, inputs, outputs
        model = fb.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], self.buffers
        model.operatorCodes = []
        for code in self.codes:
            oc = fb.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
            model.operatorCodes.append(oc)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def yolo_model(
    raw: np.ndarray,
    input_hw: tuple[int, int] = (64, 64),
    input_quant: tuple[float, int] | None = None,
    output_quant: tuple[float, int] | None = None,
) -> bytes:
    """A model with input [1, H, W, 3] (float32, or int8 with input_quant) whose output is `raw` (float32 or int8)."""
    g = _Graph()
    h, w = input_hw
    x = g.tensor((1, h, w, 3), "int8" if input_quant else "float32", quant=input_quant)
    graph_input = x
    if input_quant:
        xf = g.tensor((1, h, w, 3), "float32")
        g.op(fb.BuiltinOperator.DEQUANTIZE, [x], [xf])
        x = xf
    axes = g.tensor((3,), "int32", np.array([1, 2, 3], np.int32))
    mean = g.tensor((1,), "float32")
    g.op(fb.BuiltinOperator.MEAN, [x, axes], [mean], (fb.BuiltinOptions.ReducerOptions, fb.ReducerOptionsT()))
    zero = g.tensor((1,), "float32", np.zeros(1, np.float32))
    nothing = g.tensor((1,), "float32")
    g.op(fb.BuiltinOperator.MUL, [mean, zero], [nothing], (fb.BuiltinOptions.MulOptions, fb.MulOptionsT()))
    const = g.tensor(tuple(raw.shape), "float32", raw.astype(np.float32))
    out = g.tensor(tuple(raw.shape), "float32")
    g.op(fb.BuiltinOperator.ADD, [const, nothing], [out], (fb.BuiltinOptions.AddOptions, fb.AddOptionsT()))
    if output_quant:
        q = g.tensor(tuple(raw.shape), "int8", quant=output_quant)
        g.op(fb.BuiltinOperator.QUANTIZE, [out], [q])
        out = q
    return g.finish([graph_input], [out])
