// Package quant implements a2q's quantizers and quantized layers: the
// activation quantizer, the baseline per-channel weight quantizer, the
// accumulator-aware A2Q and A2Q+ weight quantizers of docs/MATH.md with their
// straight-through gradients, the penalty on g, Euclidean-projection
// initialisation, and Layer, a convolution or linear layer that takes its
// input bit width and signedness from its own input quantizer.
//
// The forward pass of a quantized Layer is computed on integers held in
// float32: the input quantizer produces x_int = clamp(round(x/s_x)), the
// weight quantizer produces q, the convolution or matrix product sums
// q·x_int (exact in float32 while partial sums stay below 2^24, which every
// accumulator of at most 24 bits guarantees), and only then is the
// accumulator scaled: y = float32(acc·s_x·s_c) + b. The integer engine
// (package intinfer) evaluates the very same scalar functions (Quantize,
// OutputScale, Requant), which is why the two agree bit for bit.
//
// Initialisation from a float model: A2Q and A2Q+ start from the Euclidean
// projection of the float weights onto their L1 ball (InitFromWeights).
// A2Q+ needs each channel's weights to sum to zero; subtracting the mean is
// one way, and Layer.CentreOnInputs chooses instead, from the mean and
// covariance of the layer's inputs (InputMoments), the zero-sum weights
// that change the channel's output least, moving their mean effect into
// the bias. After a ReLU the inputs are non-negative and the plain
// subtraction removes a term no bias can replace. Layer.FitGain then gives
// each channel the gain (through s and g alike) and bias with which its
// quantized weights best reproduce the float channel on those inputs.
//
// Multi-stage accumulation: a layer whose LayerConfig.Tile splits its dot
// products (LayerConfig.TileFor) sums each tile of Tile consecutive terms in
// its own P-bit accumulator, so A2Q and A2Q+ hold their budget in every tile
// of every channel (WeightQuant.Tile), A2Q+ centring each tile on its own
// mean; initialisation, SetIntegers and the data-aware centring (Centring)
// follow the tiles.
//
// Activation scales are calibrated on the first batch: the 99.99th
// percentile for classifiers, the maximum (RegressionPercentile) for
// networks that regress pixels. Scales are learned in the log2 domain.
// Budgets come from package accum.
package quant

import "math"

// Mode names a weight quantizer.
type Mode string

// The weight quantizers.
const (
	Float    Mode = "float"    // no quantization
	Baseline Mode = "baseline" // per-channel max scaling, round to nearest
	A2Q      Mode = "a2q"      // accumulator-aware, L1 budget T_A2Q
	A2QPlus  Mode = "a2q+"     // accumulator-aware, zero-centred, budget T_A2Q+
)

// ParseMode parses a --quant value.
func ParseMode(s string) (Mode, bool) {
	switch Mode(s) {
	case Float, Baseline, A2Q, A2QPlus:
		return Mode(s), true
	}
	return "", false
}

// AccumulatorAware reports whether m bounds the accumulator.
func (m Mode) AccumulatorAware() bool { return m == A2Q || m == A2QPlus }

// RTZ rounds toward zero.
func RTZ(x float32) float32 { return float32(math.Trunc(float64(x))) }

// Exp2 returns 2^l as float32, the value of a log2-domain scale.
func Exp2(l float32) float32 { return float32(math.Exp2(float64(l))) }
