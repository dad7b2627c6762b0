// Package qonnx reads, inspects, runs and writes QONNX models: ONNX graphs
// whose quantizers are Quant nodes (QONNX spec; domain
// qonnx.custom_op.general, or onnx.brevitas as Brevitas exports them).
//
// # What it does
//
//   - Load / Decode parse an ONNX protobuf into a typed Model: nodes in
//     topological order (cycles and undefined inputs are errors),
//     initialisers as float32 or int64 Tensors, declared value shapes.
//   - Model.Layers finds every Conv, MatMul and Gemm, recovers its integer
//     weights from the Quant node that produces them (checked to lie on the
//     Quant's integer grid) with per-channel scales and bit width M, and
//     traces its input back through integer-preserving ops (Relu, MaxPool,
//     Reshape, Flatten, Transpose, Pad, DepthToSpace, Resize nearest, ...)
//     to a Quant node giving N and signedness. A layer that cannot be
//     certified carries the reason.
//   - Inspect certifies each layer against a P-bit accumulator with
//     accum.Certify: the report `a2q inspect` prints for QONNX files.
//   - Model.Run interprets the graph in float32 (fake-quant: Quant nodes
//     round and clamp), or with RunOptions.Integer runs the certifiable
//     layers as integer dot products accumulated in int64, counting partial
//     sums that leave a P-bit range, and dequantises the result.
//   - Model.Encode and the Builder (NewGraph, AddQuant, AddQuantWeights,
//     AddConv, ...) write QONNX: opset 11 plus domain
//     qonnx.custom_op.general, weights as float initialisers on their
//     integer grid with zero zero-point.
//   - Export turns an a2q model (package models) into such a graph on NCHW
//     input, computing the fake-quantized model's function (a Quant node
//     per layer input and per weight tensor, Conv/Gemm, bias Add, and the
//     ONNX forms of ReLU, pooling, batch norm, pixel shuffle, flatten and
//     residual blocks); Compare runs the two side by side.
//
// # Conventions
//
// Tensors are dense and row-major; images are NCHW and conv weights OIHW.
// Integer weights are laid out [OutChannels][K] with K = Cin/groups·kh·kw
// in the order (Cin, kh, kw), as accum expects. The Quant function is
// y = scale·(clamp(round(x/scale + zero_point), lo, hi) − zero_point) with
// lo, hi from the bit width, signed and narrow attributes and the rounding
// of rounding_mode ("ROUND" is half to even).
//
// Integer execution needs per-tensor input scales and zero zero-points;
// the float interpreter accumulates in float32 like ONNX runtimes, so a
// Quant after an integer layer may, rarely, land one step apart when a
// value sits on a rounding tie.
//
// # Errors
//
// Malformed input never panics: Decode, Layers, Inspect and Run return
// errors naming the file, node, attribute or initialiser at fault. Decoded
// tensors are checked against their declared shape before allocation, and
// no tensor may exceed MaxElements (RunOptions.MaxElements lowers the cap
// for intermediate values). Panics are reserved for programmer errors,
// such as NewFloat with data that does not match its shape.
package qonnx
