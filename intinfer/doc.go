// Package intinfer runs trained a2q networks with integers only: integer
// weights, integer activations, P-bit accumulators with exact, wrapping or
// saturating overflow semantics, and FINN-style threshold requantisation
// between layers. It is the proof that a certified network really runs on a
// narrow accumulator, and the measure of what goes wrong when it does not.
//
// # From a trained model
//
// [FromModel] walks a models.Model's network. Every convolution and linear
// layer must be quantized (a weight quantizer and a calibrated input
// quantizer). Layer i keeps its integer weights q (from the weight
// quantizer, exactly those of the fake-quantized forward pass), its input
// quantizer (scale, bits, signedness), its per-channel output scale
// s_c = quant.OutputScale(log2 s_x, log2 s_w[c]) and its float bias b_c.
//
// Between two quantized layers the fake-quantized model computes, for an
// accumulator value acc of channel c,
//
//	y  = quant.Requant(acc, s_c, b_c)          // float32(acc·s_c) + b_c
//	y' = ReLU / max-pool / flatten of y        // monotone or a permutation
//	x' = quant.Quantize(y', s_next, lo, hi)    // the next layer's input
//
// For each channel the map f_c: acc ↦ quant.Quantize(quant.Requant(acc))
// is monotone non-decreasing (s_c > 0, float rounding is monotone), and
// ReLU and max-pooling commute with it (Quantize(0) = 0). FromModel
// therefore precomputes, per channel, the 2^N − 1 thresholds
// t_k = min{acc : f_c(acc) ≥ k} (k = lo+1 … hi) by binary search over the
// integers in [−2^62, 2^62), evaluating exactly those quant functions; an
// unreachable level gets the threshold 2^62. At run time
// x' = lo + #{k : acc ≥ t_k}: no float arithmetic, and bit-exact with the
// fake-quantized model by construction. The count is found by a binary
// search, or on the fast path (thresholds clamped to the layer's exact
// accumulator range, in int32) from per-channel bucket tables or a
// fixed-point linear guess that the thresholds then correct. The last layer
// turns its accumulator into floats (logits, or the super-resolved image)
// with quant.Requant directly.
//
// Where the CPU has AVX-512 or AVX2, the fast path evaluates f_c itself
// with vector instructions (convert, multiply, add, divide, clamp, round,
// narrow: sixteen or eight channels per step) instead of looking the
// thresholds up, but only for a layer whose vector map has been checked on
// this CPU against the thresholds at both sides of every threshold inside
// the layer's accumulator range and at its ends. Both maps are monotone and
// the threshold map is constant between thresholds, so that check proves
// them equal on the whole range; a layer that fails it (a model file whose
// thresholds do not come from its scales, say) keeps the tables.
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
// A layer whose exact accumulator bound (SPEC.md, from its integer weights
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
// # Layout
//
// Activations are NHWC (N×H×W×C) like package tensor; a linear layer sees
// its input flattened in that order, as the float model does. Convolution
// weights are [Cout, KH, KW, Cin/groups], linear weights [Out, In], each
// output channel's K weights contiguous.
//
// # File format
//
// An integer model file (version 1) is
//
//	offset 0   6 bytes   magic "A2QINT"
//	offset 6   uint16    format version (1), little-endian
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
// 2^N_next − 1). [Save] writes atomically (temporary file, then rename);
// [Load] rejects a corrupted or truncated file with an error naming the
// file and what is wrong, and checks the whole model's consistency (shapes,
// weight ranges, sorted thresholds) before returning it.
//
// # Errors and panics
//
// Bad models and bad files return errors naming the file, layer or field.
// Engine.Run panics on an input slice of the wrong length (a programmer
// error).
package intinfer
