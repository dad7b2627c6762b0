"""Independent NumPy reference for the ops of the ESPCN fixtures.

Usage: python3 numpy_ref.py MODEL.onnx INPUT.f32 N C H W OUTPUT.f32

Reads a float32 NCHW input (raw little-endian), runs the graph node by node
with the definitions of the ONNX operator spec and of the QONNX Quant op,
and writes the first graph output as raw float32. Used by the Go tests of
package qonnx as an oracle for its interpreter; it supports only the ops
these models use.
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, a):
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    assert a.get("group", 1) == 1 and list(a.get("strides", [1, 1])) == [1, 1]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o, c, kh, kw = w.shape
    n, _, h, wd = xp.shape
    oh, ow = h - kh + 1, wd - kw + 1
    out = np.zeros((n, o, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + oh, j:j + ow].astype(np.float64)
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.float64))
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def quant(x, scale, zp, bits, a):
    signed, narrow = a.get("signed", 1), a.get("narrow", 0)
    bits = int(bits)
    if signed:
        lo, hi = -(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2 ** bits - 1 - narrow
    assert a.get("rounding_mode", b"ROUND") in (b"ROUND", "ROUND")
    q = np.clip(np.round(x / scale + zp), lo, hi)
    return ((q - zp) * scale).astype(np.float32)


def depth_to_space(x, a):
    b, mode = a["blocksize"], a.get("mode", b"DCR")
    n, c, h, w = x.shape
    if mode in (b"DCR", "DCR"):
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (b * b), h * b, w * b)


def resize_nearest(x, scales, a):
    assert a.get("coordinate_transformation_mode") in (b"asymmetric",) and a.get("nearest_mode") in (b"floor",)
    out = x
    for axis, s in enumerate(scales):
        size = int(np.floor(x.shape[axis] * s))
        idx = np.minimum(np.floor(np.arange(size) / s).astype(int), x.shape[axis] - 1)
        out = np.take(out, idx, axis=axis)
    return out


def main():
    path, inp, n, c, h, w, outp = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7]), sys.argv[7]
    m = onnx.load(path)
    g = m.graph
    vals = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    real_inputs = [i.name for i in g.input if i.name not in vals]
    vals[real_inputs[0]] = np.fromfile(inp, dtype="<f4").reshape(n, c, h, w)
    for node in g.node:
        a = attrs(node)
        x = [vals[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Quant":
            y = quant(x[0], x[1], x[2], x[3], a)
        elif op == "Conv":
            y = conv(x[0], x[1], x[2] if len(x) > 2 else None, a)
        elif op == "BatchNormalization":
            s, bb, mean, var = x[1:5]
            eps = a.get("epsilon", 1e-5)
            sh = (1, -1, 1, 1)
            y = ((x[0] - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * s.reshape(sh) + bb.reshape(sh)).astype(np.float32)
        elif op == "Relu":
            y = np.maximum(x[0], 0)
        elif op == "DepthToSpace":
            y = depth_to_space(x[0], a)
        elif op == "Resize":
            y = resize_nearest(x[0], x[2], a)
        else:
            raise SystemExit("numpy_ref: unsupported op " + op)
        vals[node.output[0]] = y
    np.asarray(vals[g.output[0].name], dtype="<f4").tofile(outp)


if __name__ == "__main__":
    main()
