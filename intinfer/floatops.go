package intinfer

import (
	"fmt"
	"math"
)

// The float operations between two quantized layers (batch norms, clips),
// computed as the trained model computes them, for folding into thresholds
// and for the float tail of a network.

// step is one float operation of a folded chain: a batch norm, or (norm
// nil) a clip to [lo, hi] (a ReLU is [0, +∞)).
type step struct {
	norm   *Norm
	lo, hi float32
}

// apply computes the step for channel c exactly as autodiff does (the same
// float32 operations in the same order: see Norm).
func (s *step) apply(c int, y float32) float32 {
	if s.norm != nil {
		return s.norm.apply(c, y)
	}
	return min(max(y, s.lo), s.hi)
}

// apply is channel c of the batch norm on one value, written as
// autodiff.BatchNorm writes it in evaluation mode, so that the compiler
// treats both alike: h = (x − μ)·invStd rounded, then γ·h + β.
func (nm *Norm) apply(c int, v float32) float32 {
	h := (v - nm.Mean[c]) * nm.InvStd[c]
	return nm.Gamma[c]*h + nm.Beta[c]
}

// batchNorm applies nm to x, whose last dimension is nm's channels.
func batchNorm(x []float32, nm *Norm) []float32 {
	y := make([]float32, len(x))
	batchNormInto(y, x, nm)
	return y
}

// batchNormInto is batchNorm into y (len(x) values), in the operation order
// of autodiff.BatchNorm.
func batchNormInto(y, x []float32, nm *Norm) {
	c := len(nm.Mean)
	y = y[:len(x)]
	mu, inv, gd, bd := nm.Mean, nm.InvStd[:c], nm.Gamma[:c], nm.Beta[:c]
	for r := 0; r+c <= len(x); r += c {
		xr, or := x[r:r+c], y[r:r+c]
		for i, v := range xr {
			h := (v - mu[i]) * inv[i]
			or[i] = gd[i]*h + bd[i]
		}
	}
}

// clip is min(max(x, lo), hi) as autodiff.Clip computes it.
func clip(x []float32, lo, hi float32) []float32 {
	y := make([]float32, len(x))
	clipInto(y, x, lo, hi)
	return y
}

func clipInto(y, x []float32, lo, hi float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = min(max(v, lo), hi)
	}
}

// validate checks that every operand is finite and every invStd positive.
func (nm *Norm) validate() error {
	c := len(nm.Mean)
	if c < 1 || c > maxDim || len(nm.InvStd) != c || len(nm.Gamma) != c || len(nm.Beta) != c {
		return fmt.Errorf("%d means, %d inverse deviations, %d scales, %d shifts", c, len(nm.InvStd), len(nm.Gamma), len(nm.Beta))
	}
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	for i := 0; i < c; i++ {
		if !finite(nm.Mean[i]) || !finite(nm.Gamma[i]) || !finite(nm.Beta[i]) || !finite(nm.InvStd[i]) || !(nm.InvStd[i] > 0) {
			return fmt.Errorf("channel %d: mean %v, 1/√(σ²+ε) %v, scale %v, shift %v: want finite values and a positive deviation",
				i, nm.Mean[i], nm.InvStd[i], nm.Gamma[i], nm.Beta[i])
		}
	}
	return nil
}

// checkBounds accepts a clip's bounds lo ≤ hi, lo below +∞ and hi above −∞.
func checkBounds(lo, hi float32) error {
	if !(lo <= hi) || math.IsInf(float64(lo), 1) || math.IsInf(float64(hi), -1) {
		return fmt.Errorf("clip to [%v, %v]: empty or infinite bounds", lo, hi)
	}
	return nil
}
