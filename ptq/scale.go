package ptq

import (
	"fmt"
	"math"
)

// ScaleFactors are the multiples of a layer's starting scales that
// SearchScales tries.
var ScaleFactors = []float64{1, 1.5, 2, 2.5, 3}

// SearchScales rounds the layer with method m at several scales and keeps
// the best. Under a tight budget the scale decides what the budget buys: a
// fine scale keeps the large weights and zeroes the rest, a coarse one
// rounds many weights to one or two steps. Each channel starts from s₀ =
// max(max|w|/qmax, ‖w‖₁/B), B the L1 norm the budget allows the channel
// (the scale at which the channel's L1 norm just fills it; with tiles, B is
// the budget times the number of tiles); SearchScales rounds the whole
// layer at s₀ times each of ScaleFactors and keeps the rounding whose output
// error Σ_c (w_c − s_c·q_c)ᵀ H (w_c − s_c·q_c) is smallest. It writes the
// chosen scales into l.Scale and returns the integers.
func SearchScales(l *Layer, m Method, st *Stats, o Options) ([]int32, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if st == nil || st.K != l.K || st.Rows == 0 {
		return nil, fmt.Errorf("layer %s: choosing scales needs the layer's input statistics: %w", l.Name, ErrShape)
	}
	k, qm := l.K, qmax(l.Bits)
	b := l.Budget.L1
	if l.Budget.Half > 0 {
		b = 2 * l.Budget.Half
	}
	// With tiles the channel may hold tiles times the budget.
	b *= float64(l.Budget.tiles(k))
	s0 := make([]float64, l.OutC)
	for c := range s0 {
		var mx, l1 float64
		for _, x := range l.W[c*k : (c+1)*k] {
			mx = max(mx, math.Abs(float64(x)))
			l1 += math.Abs(float64(x))
		}
		s0[c] = mx / qm
		if b > 0 {
			s0[c] = max(s0[c], l1/b)
		}
		if !(s0[c] > 0) {
			s0[c] = float64(l.Scale[c])
		}
	}
	var best []int32
	bestScale := make([]float32, l.OutC)
	bestErr := math.Inf(1)
	e := make([]float64, k)
	for _, f := range ScaleFactors {
		for c := range s0 {
			l.Scale[c] = float32(s0[c] * f)
		}
		q, err := Quantize(*l, m, st, o)
		if err != nil {
			return nil, err
		}
		var total float64
		for c := 0; c < l.OutC; c++ {
			s := float64(l.Scale[c])
			for i, x := range l.W[c*k : (c+1)*k] {
				e[i] = float64(x) - s*float64(q[c*k+i])
			}
			total += quadratic(st.H, e)
		}
		if total < bestErr {
			best, bestErr = q, total
			copy(bestScale, l.Scale)
		}
	}
	copy(l.Scale, bestScale)
	return best, nil
}

// quadratic returns eᵀHe for H k×k.
func quadratic(h, e []float64) float64 {
	k := len(e)
	var sum float64
	for i, ei := range e {
		if ei == 0 {
			continue
		}
		var dot float64
		for j, ej := range h[i*k : (i+1)*k] {
			dot += ej * e[j]
		}
		sum += ei * dot
	}
	return sum
}
