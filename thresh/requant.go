package thresh

import "math"

// The float map of a quantized layer's output, defined once for the
// fake-quantized model (package quant), the integer engine and the
// generated hardware: the accumulator times the output scale plus the bias
// (Requant), quantized to the next layer's grid (Quantize). The thresholds
// Search finds are exact for these functions as written here.

// Quantize maps x to its integer grid value clamp(roundHalfEven(x/s), lo, hi).
// The fake-quantized model, the integer engine and the hardware use it.
func Quantize(x, s, lo, hi float32) float32 {
	v := float32(math.RoundToEven(float64(x / s)))
	return min(max(v, lo), hi)
}

// OutputScale is s_x·s_c, the factor that turns channel c's accumulator
// into a real value, from the log2 scales.
func OutputScale(log2sx, log2sc float32) float32 {
	return float32(math.Exp2(float64(log2sx) + float64(log2sc)))
}

// Requant is the layer output for accumulator value acc: acc·scale + bias,
// rounded to float32 after the product (never fused), so that every
// implementation computes the same value.
func Requant(acc, scale, bias float32) float32 {
	return float32(acc*scale) + bias
}
