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
//
// # Budget
//
// All methods fix each channel's weights in index order and bound every
// weight by what the earlier ones of its channel (its tile, with
// Budget.Tile) left: with A2Q's L1 budget T, |q_i| ≤ T − Σ_{j<i}|q_j|; with
// A2Q+'s, a positive q_i is at most Half − q⁺ and a negative one at least
// −(Half − q⁻), q⁺ and q⁻ summing the earlier positive and negative
// weights. Since these remainders are whole numbers of budget left, the
// budget holds exactly, whatever the float arithmetic before; Quantize
// checks it again before it returns. RTN takes its projected, truncated
// weights through the same bound.
//
// # GPTQ and GPFQ under the budget (AXE)
//
// As in Brevitas's A2GPTQ and A2GPFQ (brevitas_examples/common/axe.py), each
// weight, before it is rounded to nearest, is soft-thresholded,
// x ↦ sign(x)·max(|x| − θ, 0), and clamped to the bit width and to the
// budget left. θ is fixed per channel (and tile) before rounding starts: the
// shift of the Euclidean projection of the channel's w/s onto the L1 ball of
// the budget (for A2Q+, of the centred w/s onto the ball of radius 2·Half),
// so that the budget is spent across the channel rather than used up by its
// first weights. Columns are taken in their natural order (no activation
// ordering).
//
// GPTQ dampens H = XᵀX by Options.Damp·mean(diag H), gives inputs that are
// always zero a unit diagonal and zero weights, and propagates each
// column's error through the upper Cholesky factor U of H⁻¹:
// w_j −= (w_i − q_i)/U_ii · U_ij for j > i, in blocks with lazy updates by
// the project's GEMM. Unlike Brevitas, which propagates only the rounding
// error of the thresholded and clamped weight, the whole error w_i − q_i is
// propagated, so that later weights make up for the shrinkage too; this
// follows the layer's output more closely.
//
// GPFQ follows the float layer's output greedily: with X the quantized
// path's inputs and X̃ the float model's, weight t of a channel is
//
//	q_t = Q(⟨X_t, u_{t−1} + w_t·X̃_t⟩ / ‖X_t‖²),  u_t = u_{t−1} + w_t·X̃_t − s·q_t·X_t,
//
// computed, as Brevitas does, from H = XᵀX and G = XᵀX̃ alone (in units
// of s): q_t = Q((Σ_{j≤t} G_tj·w_j − Σ_{j<t} H_tj·q_j) / H_tt), Q
// thresholding, clamping and rounding as above.
package ptq

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/a2qtoolkit/a2q/gemm"
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
	// Balanced asks for integers that sum to zero in every channel, or in
	// every tile with Tile: an A2Q+ weight quantizer centres its float
	// weights (each tile on its own mean) before rounding toward zero, so
	// it can only hold integers whose sum is near zero (see
	// quant.WeightQuant.SetIntegers). Quantize meets it by shrinking the
	// heavier side of a channel (tile), smallest weights first, which keeps
	// every other bound.
	Balanced bool
	// Tile, when positive, applies the bounds to each tile of Tile
	// consecutive weights of a channel separately (the last tile may be
	// shorter): multi-stage accumulation, each tile summed in its own
	// accumulator. Zero applies them to the whole channel.
	Tile int
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
	case l.Budget.L1 < 0 || l.Budget.Half < 0 || math.IsNaN(l.Budget.L1) || math.IsNaN(l.Budget.Half) ||
		math.IsInf(l.Budget.L1, 0) || math.IsInf(l.Budget.Half, 0) || l.Budget.Tile < 0:
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

// roundRTN rounds one channel by projection onto the budget (per tile),
// then toward zero, into q. The projection is computed in float32 and may
// leave the L1 norm a hair above the budget; the tracker takes the rounded
// weights back within it.
func roundRTN(l *Layer, c int, q []int32, tr *tracker) {
	k, s, m := l.K, float64(l.Scale[c]), qmax(l.Bits)
	v := make([]float32, k)
	for i := range v {
		v[i] = float32(math.Max(-m, math.Min(m, float64(l.W[c*k+i])/s)))
	}
	for t := 0; t < l.Budget.tiles(k); t++ {
		lo, hi := 0, k
		if l.Budget.Tile > 0 {
			lo, hi = t*l.Budget.Tile, min(k, (t+1)*l.Budget.Tile)
		}
		v := v[lo:hi]
		if l.Budget.L1 > 0 {
			quant.ProjectL1(v, l.Budget.L1)
		}
		if l.Budget.Half > 0 {
			quant.ProjectHalves(v, l.Budget.Half)
		}
	}
	for i, x := range v {
		tr.start(i)
		q[c*k+i] = tr.take(c, math.Trunc(float64(x)))
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
	G    []float64 // K×K, nil until Add receives float inputs
	// Sum holds the column sums of the rows of X (K): Sum[i]/Rows is the
	// mean of input i.
	Sum []float64

	tmp []float32 // Add's block sums

	// GPTQ's factor of (H + λI)⁻¹ for damp, kept until H changes: scale
	// searches round a layer several times with the same statistics.
	damp float64
	u    []float64
	dead []bool
}

// NewStats returns empty statistics for dot products of length k.
func NewStats(k int) *Stats { return &Stats{K: k, H: make([]float64, k*k), Sum: make([]float64, k)} }

// addBlock is the number of rows whose products Add sums in float32 (with
// the project's GEMM) before adding them into the float64 totals.
const addBlock = 2048

// Add accumulates rows of x (rows×K, the quantized path's inputs) and, when
// xf is not nil, of xf (the float model's inputs for the same examples).
// Products are summed in float32 by blocks of rows and the block sums in
// float64.
func (st *Stats) Add(x, xf []float32, rows int) error {
	k := st.K
	if rows < 0 || len(x) != rows*k || xf != nil && len(xf) != rows*k {
		return fmt.Errorf("stats: %d and %d values for %d rows of %d: %w", len(x), len(xf), rows, k, ErrShape)
	}
	if xf != nil && st.G == nil {
		st.G = make([]float64, k*k)
	}
	if len(st.tmp) != k*k {
		st.tmp = make([]float32, k*k)
	}
	threads := runtime.GOMAXPROCS(0)
	acc := func(dst []float64, a, b []float32, n int) {
		gemm.SgemmParallel(threads, true, false, k, k, n, a, k, b, k, 0, st.tmp, k)
		for i, v := range st.tmp {
			dst[i] += float64(v)
		}
	}
	for r0 := 0; r0 < rows; r0 += addBlock {
		n := min(addBlock, rows-r0)
		xs := x[r0*k : (r0+n)*k]
		acc(st.H, xs, xs, n)
		if xf != nil {
			acc(st.G, xs, xf[r0*k:(r0+n)*k], n)
		}
	}
	for r := 0; r < rows; r++ {
		for i, v := range x[r*k : (r+1)*k] {
			st.Sum[i] += float64(v)
		}
	}
	st.Rows += rows
	st.u, st.dead = nil, nil
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
// width. RTN needs no statistics; GPTQ needs st.H, GPFQ st.H and st.G (H
// in its place when G is nil, that is when the layer's quantized and float
// inputs are the same).
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
		tr := newTracker(l.Budget, l.Bits, l.OutC)
		for c := 0; c < l.OutC; c++ {
			roundRTN(&l, c, q, tr)
		}
	case GPTQ:
		if err := gptq(&l, st, o, q); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Name, err)
		}
	case GPFQ:
		gpfq(&l, st, q)
	default:
		return nil, fmt.Errorf("layer %s: unknown method %q", l.Name, m)
	}
	if l.Budget.Balanced {
		balance(q, l.K, l.Budget)
	}
	if err := withinBudget(q, l.K, l.Bits, l.Budget); err != nil {
		// The methods hold the budget by construction.
		return nil, fmt.Errorf("layer %s: %s broke its budget: %v", l.Name, m, err)
	}
	return q, nil
}
