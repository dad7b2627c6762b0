// Package intinfer runs trained a2q networks with integers only: integer
// weights, integer activations, P-bit accumulators with exact, wrapping or
// saturating overflow semantics, and FINN-style threshold requantisation
// between layers. It is the proof that a certified network really runs on a
// narrow accumulator, and the measure of what goes wrong when it does not.
//
// # From a trained model
//
// [FromModel] walks a models.Model whose network is a chain (an
// nn.Sequential) as described below; a network with branches (an nn.DAG:
// residual sums, concatenations) or with operations only the graph form
// runs (global average pooling, padding, nearest resize, leaky ReLU) takes
// the graph form of dag.go, whose doc comment says how it stays exact: a
// quantized model sums and averages on its activations' integer grid
// (quant.Sum, quant.OnGrid), every other value between layers is a
// monotone per-channel map of an integer source, thresholded for each
// quantizer that reads it. Every convolution and linear layer must be
// quantized (a weight quantizer and a calibrated input quantizer). Layer i keeps its integer
// weights q (from the weight quantizer, exactly those of the
// fake-quantized forward pass, up to the sign of a row: see below), its
// input quantizer (scale, bits, signedness), its per-channel output scale
// s_c = thresh.OutputScale(log2 s_x, log2 s_w[c]) and its float bias b_c.
//
// Between two quantized layers the fake-quantized model computes, for an
// accumulator value acc of channel c,
//
//	y  = thresh.Requant(acc, s_c, b_c)         // float32(acc·s_c) + b_c
//	y' = g_c(y)                               // batch norms (evaluation mode), ReLUs, clips, in model order
//	x' = thresh.Quantize(y', s_next, lo, hi)   // the next layer's input
//
// with max pooling, flatten and pixel shuffle anywhere among them (they
// select or move values). A batch norm is folded in its evaluation form,
// exactly the float32 operations of autodiff.BatchNorm: h = (y −
// μ_c)·invStd_c rounded to float32, then γ_c·h + β_c, with μ and invStd =
// float32(1/√(float64(σ²_c) + float64(ε))) from the running statistics;
// a clip is min(max(y, lo), hi) (ReLU6 is [0, 6]; infinite bounds too).
// Each of these operations, Requant and Quantize is monotone in IEEE
// arithmetic, so f_c: acc ↦ x' is monotone: non-decreasing, except in a
// channel where an odd number of batch norms have a negative scale γ_c
// (non-increasing) or one has γ_c = 0 (constant). FromModel precomputes,
// per channel, the 2^N − 1 thresholds t_k = min{acc : f_c(acc) ≥ k} (k =
// lo+1 … hi) by binary search over the integers in [−2^62, 2^62),
// evaluating exactly those float operations; an unreachable level gets the
// threshold 2^62. For a non-increasing channel it negates the channel's
// row of integer weights, so that the accumulator becomes −acc, and
// thresholds acc ↦ f_c(−acc), which is non-decreasing; every certified
// accumulator bound holds for −q as for q (FromModel refuses the corner
// case where the negation would widen a layer's exact bound past its P).
// At run time x' = lo + #{k : acc ≥ t_k}: no float arithmetic, and
// bit-exact with the fake-quantized model.
//
// FromModel does not take the copy of the float operations on trust: it
// then runs the model's own modules (the batch norms, ReLUs and clips, and
// the next layer's input quantizer, on an autodiff tape in evaluation
// mode) at both ends of the search range and on both sides of every
// threshold inside it, and refuses the model unless they agree with the
// thresholds and every intermediate value at the ends is finite. Since the
// model's map is monotone and the threshold map is constant between
// thresholds, that agreement proves the two equal on the whole range.
//
// Max pooling commutes with a non-decreasing map, so the engine pools the
// accumulators before thresholding them; with the negated rows it also
// commutes with a map that decreases from before the pool on (max of
// f(acc) = f(min acc) = f(−max(−acc))). A pool before a batch norm that
// reverses a channel's direction does not commute, and FromModel refuses
// it with an error naming the pool and the batch norm. A batch norm after
// a flatten of a spatial activation or after a pixel shuffle (whose
// parameters no longer follow the layer's channels) is refused too. Where
// the folded map ends in a ReLU or a clip with a non-negative lower bound,
// the ops keep a ReLU: a no-op on the levels that tells the fast paths the
// levels are non-negative.
//
// Before the first layer and after the last the activations are float:
// there batch norms ([OpBatchNorm], with the operands above) and clips
// ([OpClip]) run in float like ReLU, max pooling, flatten and pixel
// shuffle, in the operation order of the fake-quantized model. The last
// layer turns its accumulator into floats with thresh.Requant directly; a
// batch norm that follows it (normalised logits, say) is applied to those
// floats exactly as autodiff does, which FromModel checks against the
// module on sample values.
//
// Anything else (average or global average pooling, padded pools, leaky
// ReLU, sigmoid, transposed convolutions, residual sums) is an error
// naming the module.
//
// The count is found by a binary search, or on the fast path (thresholds
// clamped to the layer's exact accumulator range, in int32) from
// per-channel bucket tables or a fixed-point linear guess that the
// thresholds then correct.
//
// Where the CPU has AVX-512 or AVX2, the fast path evaluates
// Quantize(Requant(acc)) itself with vector instructions (convert,
// multiply, add, divide, clamp, round, narrow: sixteen or eight channels
// per step) instead of looking the thresholds up, but only for a layer
// whose vector map has been checked on this CPU against the thresholds at
// both sides of every threshold inside the layer's accumulator range and
// at its ends. Both maps are monotone and the threshold map is constant
// between thresholds, so that check proves them equal on the whole range;
// a layer that fails it (one with a folded batch norm or clip, or a model
// file whose thresholds do not come from its scales) keeps the tables.
// With AVX-512 a cheaper map is tried first: one fused multiply-add per
// channel (convert, multiply-add, round, clamp), its line fitted to each
// channel's thresholds and, where the thresholds are off every line by one
// accumulator, corrected at that accumulator in the kernel. It is held to
// the same check (the corrected accumulators among the points), and a layer
// whose channels need more than one correction each keeps the
// four-operation map.
//
// The fake-quantized model sums the integer products in float32, which is
// exact while every partial sum stays below 2^24 in magnitude; a layer
// certified for P ≤ 24 bits guarantees it. A wider layer (the 32-bit first
// and last layers) agrees with the integer model as long as its actual sums
// stay below 2^24, which Verify checks rather than assumes.
//
// # Accumulators
//
// An [Engine] runs a Model at chosen accumulator widths (each layer's own
// target P by default) in one of three modes of intgemm.Mode: Exact (int64
// sums), Wrap (two's complement modulo 2^P after every addition) or
// Saturate (clip after every addition). In every mode it counts, per layer,
// the additions whose result leaves the P-bit range. Terms are added in the
// natural order of the im2col row, (kh, kw, cin), exactly as intgemm.DotP
// does; the bias is not seeded into the accumulator (it is part of the
// float requantisation, folded into the thresholds).
//
// A tiled layer (Layer.Tile > 0, from quant.LayerConfig.TileFor) accumulates
// in two stages: each tile of Tile consecutive terms of the row is summed in
// a P_I-bit inner accumulator (P_I is the layer's P, which Options.AccBits
// overrides), and the tile sums, in order, in a P_O-bit outer one, P_O =
// accum.OuterBits(P_I, K, Tile); both stages follow the mode, and the engine
// counts each stage's overflows (Result.OuterOverflows for the outer). The
// layer is certified when the exact inner width of its tiles
// (accum.TiledBits) is at most P_I: then no stage can overflow, the
// two-stage sum is the exact sum, and the layer runs on the kernels below
// (chosen by the exact width of its whole dot products), like an untiled
// certified layer.
//
// A layer whose exact accumulator bound (docs/MATH.md, “Exact bound”: from its integer weights
// and its input range) fits P cannot overflow in any mode, so it runs on
// the fast kernels of package intgemm (8-bit weights and activations):
// integer im2col into uint8 (int8 for signed inputs), then Kernel.MulU8
// (MulS8), with 16-bit accumulation where the layer's certificate allows it
// and the options ask for it, 32-bit otherwise; the reason intgemm refuses
// the 16-bit path is recorded. A model whose layers all run on the kernels
// goes through a fused pipeline: chunks of a few images pass through the
// whole network in bytes, the patch copies and the first layer's input
// quantisation run in assembly, pools and ReLUs are applied to the
// accumulators before the requantisation, and a layer followed by a pool
// computes only the positions the pool reads. Any other layer (not certified at P, or
// wider than 8 bits) runs on the scalar path, which follows intgemm.DotP
// addition by addition and counts. [PathScalar] forces the scalar path
// everywhere: it is the reference the kernels are tested against.
//
// # Sparse layers and the choice of kernel
//
// A2Q's budgets leave a constrained layer mostly zeros. A certified layer
// whose exact bound fits 16 bits, with stride 1 and one group, can run in
// the fused pipeline on intgemm.Sparse, which walks only each output
// channel's non-zero weights (grouped by value) over blocks of output
// positions in 16-bit lanes: exact modulo 2^16 because the result itself
// fits. Its input is not an im2col matrix but channel-major byte planes of
// the stage's input (fast_sparse.go: an AVX2 transpose of the bytes), in
// which term (kh, kw, c) of every output position lies at one fixed offset;
// the accumulators are stored in NHWC rows, which the pool and the
// requantisation read. A 2×2 max pool of stride 2 after the layer runs
// inside the AVX-512 kernel when an image's positions fit one of its
// blocks (intgemm.Sparse.MulPool): the kernel stores only each window's
// maximum, and the requantisation reads them without pooling. Per layer, a
// cost model (cost.go) predicts
// the time of the sparse and of the dense kernel on a chunk from the
// layer's shape, its non-zero weights and value groups, with unit costs
// calibrated per CPU kind (AVX2 only; AVX-512 with VNNI on AMD's Zen 4,
// on its Zen 5 and later, on Intel's cores) on the machines
// the project is measured on (BenchmarkCostModel shows prediction and
// measurement side by side); the sparse kernel runs when it is predicted
// faster by more than the kind's error. LayerInfo records the kernel
// ("sparse16", "dense16", "dense32", "dense32-vnni", "depthwise32", "scalar"), the layer's
// sparsity and the reason for the choice. [PathSparse] and [PathDense]
// force either where the layer allows it. Neither the sparse tables nor
// the certificate come from the model file: both are derived from the
// weights when the engine is built, so a file whose weights break its P
// runs on the scalar path, never on a narrow one.
//
// On VNNI, a one-channel convolution at most 4 wide followed by a pool
// (an image network's first layer) reads its image in place, without patch
// copies (fast_inplace.go), unless the pool after it is one its product
// takes: a convolution on 32-bit lanes with K ≤ 128 (such a first layer
// again; on VNNI, unsigned inputs) followed by a 2×2 pool of stride 2
// writes its patches in pool-window order and keeps only each window's
// maximum inside the product (fast_pooled.go, intgemm.Kernel.MulU8Max4): a
// quarter of the accumulators is stored, and the requantisation reads them
// without pooling. When such a first layer (3×3, stride 1, unpadded, one
// channel of unsigned bytes) feeds a sparse layer's planes and its
// requantisation has the fused form, on a CPU with AVX-512 VBMI it runs
// with the pool windows in the lanes instead (fast_planar.go): the same
// VNNI multiply-adds, and each channel's window maxima requantised and
// stored straight into the planes, with no patch copies, no accumulators
// in memory and no transpose.
//
// A depthwise convolution (one input and one output channel per group)
// runs on a direct kernel instead (depthwise.go, kernel "depthwise32"):
// each output pixel adds its window's taps channel by channel in int32,
// eight channels per AVX2 instruction, with no patch copies.
//
// # Graphs
//
// A model with branches whose layers all run on the kernels runs in the
// fused form of dag_fast.go (a transposed convolution on its spread
// input, as in the general path): chunks
// of images go through the whole graph like the chain pipeline's, its
// layers on the same stages and kernel choice, every source's integers
// (accumulators, sums, averages) in int32 scratch. An edge maps its
// source to the reader's levels either with bucket tables built from its
// thresholds clamped to the source's exact range, or, where the CPU has
// AVX2 and the edge's map (base map, batch norms, clips, Quantize) has
// been checked against those thresholds at every point where they could
// differ, by evaluating the map itself as a short program of vector
// float32 operations (vecmap.go). Other graph models take the general
// graph path (dag_run.go), which is also the reference the fused form is
// tested against.
//
// # Layout
//
// Activations are NHWC (N×H×W×C) like package tensor; a linear layer sees
// its input flattened in that order, as the float model does. Convolution
// weights are [Cout, KH, KW, Cin/groups], linear weights [Out, In], each
// output channel's K weights contiguous.
//
// # File format
//
// An integer model file (version 1 to 4) is
//
//	offset 0   6 bytes   magic "A2QINT"
//	offset 6   uint16    format version (1 to 4), little-endian
//	offset 8   uint32    header length H, little-endian
//	offset 12  H bytes   JSON header (see fileHeader)
//	12+H       payload   little-endian arrays, referenced from the header
//	                     by byte offset and element count
//
// The header names the model, its task and input shape, the payload's
// length and CRC-32 (IEEE), and the list of ops; a layer op describes the
// layer's geometry, bit widths, input scale and its arrays: weights (int8,
// int16 or int32 by M), per-channel output scales and biases (float32) and,
// for every layer but the last, its thresholds (int64, Cout rows of
// 2^N_next − 1). Version 2 adds the float ops batch_norm (its name and
// float32 arrays mean, inv_std, gamma, beta) and clip (min and max, absent
// when infinite); a model without them is written as version 1, which
// older readers read. Version 3 adds a layer's tile ("tile", absent for
// one stage); only a model with a tiled layer is written as version 3, so
// that older readers refuse what they would run in one stage. Version 4
// holds models with branches: a "graph" of steps (layer, sum, global_mean,
// batch_norm, clip, leaky_relu, maxpool, flatten, pixel_shuffle,
// depth_to_space_dcr, pad, resize, concat), each naming its input values
// (0 the image, i + 1 step i's output), with the step's operands (a sum's
// or average's quantizer: bits, signed, scale; a batch norm's arrays; a
// clip's bounds; …) and the output value; the ops are then the layers, in
// the order of their steps, and a layer may be a transposed convolution
// ("out_pad"). The thresholds of a graph are not stored: Load finds them
// from the steps, as FromModel does, after checking every step's
// operands and the shapes along the graph. All four versions are read.
// Batch norms and clips
// between layers need no new field: they are part of the thresholds (and
// of the sign of the weights). [Save] writes atomically (temporary file,
// then rename); [Load] rejects a corrupted or truncated file with an error
// naming the file and what is wrong, and checks the whole model's
// consistency (shapes, weight ranges, sorted thresholds, batch-norm
// operands) before returning it.
//
// # Errors and panics
//
// Bad models and bad files return errors naming the file, layer or field.
// Engine.Run panics on an input slice of the wrong length (a programmer
// error).
package intinfer
