// Package ptq rounds a trained layer's float weights to integers after
// training (post-training quantization), under the accumulator constraint of
// A2Q or A2Q+: every output channel's integer weights stay within the budget
// of its accumulator width P by construction, so the layer is certified
// without any training. The methods are AXE's (Colbert et al.,
// "Accumulator-Aware Post-Training Quantization"): round-to-zero after
// projection onto the budget (RTN, the baseline), and GPTQ and GPFQ with the
// budget enforced as each weight is rounded.
//
// The package works on one layer at a time, as matrices: the caller (package
// recipe) runs the calibration data through the model and accumulates each
// layer's input statistics in a Stats, then calls Quantize.
package ptq

import (
	"errors"
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/quant"
)

// Method names a rounding method.
type Method string

// The methods.
const (
	RTN  Method = "rtn"  // projection onto the budget, then round toward zero
	GPTQ Method = "gptq" // GPTQ with the budget enforced weight by weight (AXE)
	GPFQ Method = "gpfq" // GPFQ with the budget enforced weight by weight (AXE)
)

// ParseMethod parses a --method value.
func ParseMethod(s string) (Method, bool) {
	switch m := Method(s); m {
	case RTN, GPTQ, GPFQ:
		return m, true
	}
	return "", false
}

// Budget is one layer's accumulator constraint on each channel's integer
// weights q (see docs/MATH.md, “A2Q bound” and “A2Q+ bound”).
type Budget struct {
	// L1 bounds ‖q‖₁ (A2Q). Zero means no L1 bound.
	L1 float64
	// Half bounds q⁺ = Σ_{q_i>0} q_i and q⁻ = Σ_{q_i<0} |q_i| each (A2Q+:
	// T/2). Zero means no such bound.
	Half float64
}

// Layer is one layer's rounding problem.
type Layer struct {
	Name string
	// W holds the float weights, OutC rows of K, in the layer's dot-product
	// order (the order of the rows of Stats).
	W       []float32
	OutC, K int
	// Scale is each channel's weight scale: q·Scale[c] approximates W.
	Scale []float32
	// Bits is the weight width M: |q| ≤ 2^(M−1) − 1.
	Bits int
	// Budget is the accumulator constraint (the zero Budget: none).
	Budget Budget
}

// ErrShape reports inputs whose sizes do not agree.
var ErrShape = errors.New("ptq: sizes do not agree")

func (l *Layer) check() error {
	switch {
	case l.OutC < 1 || l.K < 1 || len(l.W) != l.OutC*l.K || len(l.Scale) != l.OutC:
		return fmt.Errorf("layer %s: %d weights, %d scales for %d×%d: %w", l.Name, len(l.W), len(l.Scale), l.OutC, l.K, ErrShape)
	case l.Bits < 2 || l.Bits > 16:
		return fmt.Errorf("layer %s: weight bits %d outside [2, 16]", l.Name, l.Bits)
	case l.Budget.L1 < 0 || l.Budget.Half < 0 || math.IsNaN(l.Budget.L1) || math.IsNaN(l.Budget.Half):
		return fmt.Errorf("layer %s: budget %+v", l.Name, l.Budget)
	}
	for c, s := range l.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("layer %s: channel %d scale %v, want a positive finite number", l.Name, c, s)
		}
	}
	return nil
}

// qmax is the largest weight magnitude at b bits.
func qmax(b int) float64 { return float64(int(1)<<(b-1) - 1) }

// roundRTN rounds one channel by projection onto the budget, then toward
// zero, into q.
func roundRTN(l *Layer, c int, q []int32) {
	k, s, m := l.K, float64(l.Scale[c]), qmax(l.Bits)
	v := make([]float32, k)
	for i := range v {
		v[i] = float32(math.Max(-m, math.Min(m, float64(l.W[c*k+i])/s)))
	}
	switch {
	case l.Budget.Half > 0:
		// Project the positive and the negative weights separately.
		pos, neg := make([]float32, k), make([]float32, k)
		for i, x := range v {
			if x > 0 {
				pos[i] = x
			} else {
				neg[i] = -x
			}
		}
		quant.ProjectL1(pos, l.Budget.Half)
		quant.ProjectL1(neg, l.Budget.Half)
		for i := range v {
			v[i] = pos[i] - neg[i]
		}
	case l.Budget.L1 > 0:
		quant.ProjectL1(v, l.Budget.L1)
	}
	for i, x := range v {
		q[c*k+i] = int32(math.Trunc(float64(x)))
	}
}

// Stats accumulates a layer's input statistics over calibration data: H =
// XᵀX of the inputs X the partly quantized model feeds the layer, and, for
// GPFQ, G = XᵀX̃ with the inputs X̃ the float model feeds it. Rows are the
// layer's dot-product inputs (im2col rows of a convolution, per group).
type Stats struct {
	K    int
	Rows int       // rows accumulated
	H    []float64 // K×K
	G    []float64 // K×K, nil until AddFloat rows arrive
}

// NewStats returns empty statistics for dot products of length k.
func NewStats(k int) *Stats { return &Stats{K: k, H: make([]float64, k*k)} }

// Add accumulates rows of x (rows×K, the quantized path's inputs) and, when
// xf is not nil, of xf (the float model's inputs for the same examples).
func (st *Stats) Add(x, xf []float32, rows int) error {
	k := st.K
	if len(x) != rows*k || xf != nil && len(xf) != rows*k {
		return fmt.Errorf("stats: %d and %d values for %d rows of %d: %w", len(x), len(xf), rows, k, ErrShape)
	}
	if xf != nil && st.G == nil {
		st.G = make([]float64, k*k)
	}
	for r := 0; r < rows; r++ {
		row := x[r*k : (r+1)*k]
		for i, a := range row {
			if a == 0 {
				continue
			}
			h := st.H[i*k : (i+1)*k]
			for j, b := range row {
				h[j] += float64(a) * float64(b)
			}
			if xf != nil {
				g := st.G[i*k : (i+1)*k]
				for j, b := range xf[r*k : (r+1)*k] {
					g[j] += float64(a) * float64(b)
				}
			}
		}
	}
	st.Rows += rows
	return nil
}

// Options tune the methods.
type Options struct {
	// Damp is GPTQ's dampening, a share of the mean diagonal of H added to
	// it (0: 0.01).
	Damp float64
}

// Quantize rounds the layer's weights with method m, returning the integer
// weights (OutC rows of K). Every channel satisfies l.Budget and the bit
// width. RTN needs no statistics; GPTQ needs st.H, GPFQ st.H and st.G.
func Quantize(l Layer, m Method, st *Stats, o Options) ([]int32, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if m != RTN && (st == nil || st.K != l.K || st.Rows == 0) {
		return nil, fmt.Errorf("layer %s: %s needs the layer's input statistics: %w", l.Name, m, ErrShape)
	}
	q := make([]int32, l.OutC*l.K)
	switch m {
	case RTN:
		for c := 0; c < l.OutC; c++ {
			roundRTN(&l, c, q)
		}
	default:
		return nil, fmt.Errorf("layer %s: method %q not implemented", l.Name, m)
	}
	return q, nil
}
