// Package qonnx reads, inspects, runs and writes QONNX models: ONNX graphs
// whose quantizers are Quant nodes (QONNX spec; domain
// qonnx.custom_op.general, or onnx.brevitas as Brevitas exports them).
//
// # What it does
//
//   - Load / Decode parse an ONNX protobuf into a typed Model: nodes in
//     topological order (cycles and undefined inputs are errors),
//     initialisers as float32 or int64 Tensors, declared value shapes.
//     They then check its structure with Model.Validate: a default-domain
//     opset from MinOpset to MaxOpset, declared shapes positive and within
//     MaxElements, and the attributes of convolutions, pools, Gemm and
//     Quant nodes in range (an error wrapping ErrInvalid otherwise).
//   - Model.Layers finds every Conv, MatMul and Gemm, recovers its integer
//     weights from the Quant node that produces them (checked to lie on the
//     Quant's integer grid) with per-channel scales and bit width M, and
//     traces its input back through integer-preserving ops (Relu, MaxPool,
//     Reshape, Flatten, Transpose, Pad, DepthToSpace, Resize nearest, ...)
//     to a Quant node giving N and signedness. A layer that cannot be
//     certified carries the reason.
//   - Inspect (InspectWith) certifies each layer against a P-bit
//     accumulator with accum.Certify, in one stage or in tiles: the
//     report `a2q inspect` prints for QONNX files. It also checks the
//     certificates the file claims (below).
//   - Model.Run interprets the graph in float32 (fake-quant: Quant nodes
//     round and clamp), or with RunOptions.Integer runs the certifiable
//     layers as integer dot products accumulated in int64, counting partial
//     sums that leave a P-bit range (RunOptions.AccBits, or LayerAccBits
//     per layer), and dequantises the result. RunOptions.LayerInputs feeds
//     the integer layers the values of another run.
//   - Model.Verify runs inputs fake-quantized and with integer layers and
//     compares them (`a2q verify FILE.onnx`): overflows per layer at its
//     width, and every quantized activation of the two runs. It also runs
//     each integer layer on the fake-quantized run's own input, and passes
//     on each Quant node's fake-quantized output (RunOptions.QuantOutputs:
//     a residual shortcut then carries no difference from upstream either),
//     so that a difference shows where it starts: the pass criterion (WithinTies) is
//     that on the same inputs no activation differs by more than one step
//     and at most MaxTieFraction of them differ. In the free integer run a
//     one-step difference propagates and may grow in later layers; the
//     counts say how far. InputQuant and OutputQuant find the Quant nodes
//     of a graph input and after a layer; ActQuant reads one's parameters.
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
// # Portable certificates
//
// No model format has a field for the accumulator width, so Export writes
// each quantized layer's certificate into the file's metadata_props
// (Model.Metadata, kept by Decode and Encode) under CertificatesKey,
// "a2q.certificates": a JSON list of Claim, one per layer, named after the
// Conv/Gemm node, with the width P the layer is certified for (the one its
// quantizer targets when it fits, else its exact width), the exact
// accumulator range, N, input signedness, M, and the first of the
// data-type, L1 and exact bounds that proves P. A layer of multi-stage
// accumulation claims its tile too: P is then its inner accumulators'
// width, the tiles running along a2q's weight order (Layer.TileOrder:
// kh, kw, Cin for a Conv), and Inspect certifies the layer with that
// tile (or, for the hidden layers, InspectOptions.Tile). Claims reads them;
// CheckClaims (run by Inspect) recomputes every certificate from the
// file's integer weights and says per layer whether the claim holds: the
// operand widths match, the exact range lies inside the claimed range,
// which fits P, and the named bound gives at most P bits. Any tool can so
// check a file's claim without trusting the exporter.
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
// errors naming the file, node, attribute or initialiser at fault. A model
// of impossible structure (a stride of 0, a negative pad, a kernel larger
// than its padded input) is never certified: Decode, Inspect and Run
// refuse it with Validate's error. Decoded
// tensors are checked against their declared shape before allocation, and
// no tensor may exceed MaxElements (RunOptions.MaxElements lowers the cap
// for intermediate values). Panics are reserved for programmer errors,
// such as NewFloat with data that does not match its shape.
package qonnx
