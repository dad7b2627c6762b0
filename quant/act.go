package quant

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// ActQuant quantizes a layer's input to N-bit integers with a learned scale:
// x_int = clamp(round(x/s), lo, hi), unsigned [0, 2^N−1] or signed
// [−2^(N−1), 2^(N−1)−1]. Its gradient is straight-through inside the range
// (and zero outside), and the scale's gradient follows from x̂ = s·x_int
// (as in LSQ). The scale is initialised from the first training batch.
type ActQuant struct {
	Name      string
	Bits      int
	Signed    bool
	Log2Scale *nn.Param // scalar, log2 of s
	// Calibrated is a one-element buffer, 1 once the scale has been set
	// from data.
	Calibrated *nn.Param
}

// NewActQuant returns an uncalibrated activation quantizer.
func NewActQuant(name string, bits int, signed bool) *ActQuant {
	return &ActQuant{Name: name, Bits: bits, Signed: signed,
		Log2Scale:  nn.NewParam(name+".log2_scale", true, 1),
		Calibrated: nn.NewBuffer(name+".calibrated", 1)}
}

// FixScale sets s and freezes it: the scale is no longer trained or
// calibrated. Image inputs in [0, 1] use s = 1/(2^N − 1), which represents
// 8-bit pixels exactly.
func (a *ActQuant) FixScale(s float64) {
	a.Log2Scale.Value.Data[0] = float32(math.Log2(s))
	a.Log2Scale.Grad = nil
	a.Calibrated.Value.Data[0] = 1
}

// Range returns the integer range of the quantizer.
func (a *ActQuant) Range() (lo, hi float32) {
	if a.Signed {
		return -float32(math.Exp2(float64(a.Bits - 1))), float32(math.Exp2(float64(a.Bits-1))) - 1
	}
	return 0, float32(math.Exp2(float64(a.Bits))) - 1
}

// Scale returns s.
func (a *ActQuant) Scale() float32 { return Exp2(a.Log2Scale.Value.Data[0]) }

// Params returns the scale and the calibration flag.
func (a *ActQuant) Params() []*nn.Param { return []*nn.Param{a.Log2Scale, a.Calibrated} }

// calibrate sets s so that the 99.99th percentile of |x| (of x for
// unsigned inputs) maps to the top of the range.
func (a *ActQuant) calibrate(x []float32) {
	step := max(1, len(x)/65536)
	sample := make([]float32, 0, len(x)/step+1)
	for i := 0; i < len(x); i += step {
		v := x[i]
		if a.Signed {
			v = float32(math.Abs(float64(v)))
		}
		sample = append(sample, v)
	}
	slices.Sort(sample)
	top := float64(sample[min(len(sample)-1, int(0.9999*float64(len(sample))))])
	_, hi := a.Range()
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	a.Log2Scale.Value.Data[0] = float32(math.Log2(top / float64(hi)))
	a.Calibrated.Value.Data[0] = 1
}

// Apply records the quantizer on the tape and returns the integer-valued
// x_int (held in float32).
func (a *ActQuant) Apply(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	if a.Calibrated.Value.Data[0] == 0 {
		a.calibrate(x.Value.Data)
	}
	ls := a.Log2Scale.Var(tp)
	s := a.Scale()
	lo, hi := a.Range()
	out := tp.NewValue(x.Value.Shape...)
	xd, od := x.Value.Data, out.Data
	threads := tp.Threads
	if len(xd) < 1<<15 {
		threads = 1
	}
	tensor.For(threads, len(xd), func(lo0, hi0 int) {
		for i, v := range xd[lo0:hi0] {
			od[lo0+i] = Quantize(v, s, lo, hi)
		}
	})
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		gx, gl := g[0], g[1]
		parts := make([]float64, max(threads, 1))
		chunk := (len(xd) + len(parts) - 1) / len(parts)
		tensor.For(len(parts), len(parts), func(tlo, thi int) {
			for ti := tlo; ti < thi; ti++ {
				var dl float64
				for i := ti * chunk; i < min((ti+1)*chunk, len(xd)); i++ {
					u := xd[i] / s
					if u < lo-0.5 || u > hi+0.5 {
						continue // clamped: constant in x and in s along this path
					}
					if gx != nil {
						gx.Data[i] += d.Data[i] / s
					}
					dl -= float64(d.Data[i]) * float64(u)
				}
				parts[ti] = dl
			}
		})
		if gl != nil {
			var dl float64
			for _, p := range parts {
				dl += p
			}
			gl.Data[0] += float32(dl * math.Ln2)
		}
	}, x, ls)
}

// String describes the quantizer.
func (a *ActQuant) String() string {
	sign := "unsigned"
	if a.Signed {
		sign = "signed"
	}
	return fmt.Sprintf("%s: %d-bit %s, scale %g", a.Name, a.Bits, sign, a.Scale())
}
