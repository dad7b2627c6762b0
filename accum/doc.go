// Package accum computes accumulator bit widths for quantized dot products and
// certifies, layer by layer, that integer inference never overflows a P-bit
// accumulator.
//
// # Notation
//
// One output of a quantized layer is y = Σ_{i=1..K} q_i·x_i with
//
//   - K the dot-product length (Cin·kh·kw for a convolution, per group for a
//     grouped one; in_features for a linear layer);
//   - x_i integer inputs of N bits, signed (s = 1, range [−2^(N−1), 2^(N−1)−1])
//     or unsigned (s = 0, range [0, 2^N−1]); InputRange returns [μ, ν];
//   - q_i integer weights of M bits in the narrow range ±(2^(M−1)−1)
//     (WeightMax);
//   - P the width of a signed two's-complement accumulator holding
//     [−2^(P−1), 2^(P−1)−1].
//
// No partial sum, in any order of summation, may leave the accumulator's
// range. Any partial sum is a sum over a subset of the terms, so it lies
// between the sum of the negative terms and the sum of the positive terms;
// every bound in this package bounds those two one-sided sums, and so covers
// every order.
//
// # Bounds
//
// Three bounds are implemented, from the loosest to the tightest
// (always P_exact ≤ P_l1 ≤ P_datatype):
//
//   - DataTypeBits, from the bit widths alone:
//     α = log2 K + N + M − 1 − s, P = ceil(α + log2(1 + 2^−α) + 1);
//   - L1Bits, the A2Q bound from the largest per-channel L1 norm ||q||_1:
//     β = log2 ||q||_1 + N − s, P = ceil(β + log2(1 + 2^−β) + 1); its
//     budget form is A2QBudget, T = (2^(P−1) − 1)·2^(s−N);
//   - ExactRange and RangeBits, from the actual integers (what FINN's
//     MinimizeAccumulatorWidth computes): with q⁺_c and q⁻_c the sums of
//     the positive weights and of the magnitudes of the negative weights of
//     channel c, acc_max = max_c (ν·q⁺_c + |μ|·q⁻_c) and
//     acc_min = min_c −(|μ|·q⁺_c + ν·q⁻_c), P = ceil(log2(max(−acc_min,
//     acc_max + 1)) + 1).
//
// The A2Q+ budget for zero-centred weights, T+ = (2^P − 2)/(2^N − 1), and its
// inverse A2QPlusBits are provided for the A2Q+ quantizer; its guarantee
// rests on the one-sided sums q⁺, q⁻ ≤ T+/2, so A2Q+ layers are certified
// with the exact bound. TiledBits covers multi-stage accumulation.
//
// # Exactness
//
// Every bit width is computed with exact integer arithmetic (bit lengths,
// 128-bit products, math/big where a float64 argument must be handled
// exactly), never with a floating-point log2: a value that is an exact power
// of two never rounds up by one ulp into an extra bit. The budgets A2QBudget
// and A2QPlusBudget are real numbers; they are returned rounded toward zero,
// so that a test ||q||_1 ≤ T is never looser than the exact inequality.
//
// # Errors and panics
//
// The formula functions (DataTypeBits, L1Bits, ExactRange, ...) panic on
// arguments outside their mathematical domain (negative K, zero-bit inputs,
// a slice shorter than outChannels·k): these are programmer errors. Data
// that comes from files or users goes through Certify or CheckConfig, which
// return errors naming the layer and the field at fault and wrapping
// ErrBitWidth, ErrShape, ErrWeightRange or ErrValue.
package accum
