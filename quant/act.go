package quant

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// ActQuant quantizes a layer's input to N-bit integers with a learned scale:
// x_int = clamp(round(x/s), lo, hi), unsigned [0, 2^N−1] or signed
// [−2^(N−1), 2^(N−1)−1]. Its gradient is straight-through inside the range
// (and zero outside), and the scale's gradient follows from x̂ = s·x_int
// (as in LSQ). The scale is initialised from the first batch the quantizer
// sees (see Percentile).
type ActQuant struct {
	Name      string
	Bits      int
	Signed    bool
	Log2Scale *nn.Param // scalar, log2 of s
	// Calibrated is a one-element buffer, 1 once the scale has been set
	// from data.
	Calibrated *nn.Param
	// Percentile of the first batch's values (of |x| for signed inputs)
	// that the calibration maps to the top of the integer range, in
	// (0, 100]; 0 selects 99.99, 100 the maximum.
	//
	// Classifiers tolerate clipping a few outliers and gain resolution
	// from it, hence the default. A network whose output is an image
	// (super-resolution) does not: a clipped activation becomes a wrong
	// pixel, while 8-bit resolution is rarely its limit. Such networks use
	// [RegressionPercentile].
	Percentile float64
}

// RegressionPercentile is the calibration percentile of networks that
// regress pixel values: the maximum, so that nothing the calibration batch
// holds is clipped. On ESPCN ×2 (docs/EVALUATION-ESPCN.md) the 99.99th
// percentile of a sample of the first training batch at the hidden layer's
// input is 0.81 while the test tiles reach 1.12 (the batch's maximum is
// 1.44); quantizing the float model at W8A8 with the percentile gives
// 32.2 dB, with the maximum 36.7 dB (float 37.9 dB).
const RegressionPercentile = 100

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

// CheckScale reports a log2 scale that is not the log2 of a usable scale
// (see CheckLog2Scale), naming the tensor.
func (a *ActQuant) CheckScale() error {
	if err := CheckLog2Scale(a.Log2Scale.Value.Data[0]); err != nil {
		return fmt.Errorf("tensor %s: %w", a.Log2Scale.Name, err)
	}
	return nil
}

// Params returns the scale and the calibration flag.
func (a *ActQuant) Params() []*nn.Param { return []*nn.Param{a.Log2Scale, a.Calibrated} }

// calibrate sets s so that the a.Percentile-th percentile of |x| (of x
// for unsigned inputs) maps to the top of the range. Percentiles below 100
// are taken from a sample of about 65,536 values, the maximum from all of
// x. A percentile outside (0, 100] is a programmer error.
func (a *ActQuant) calibrate(x []float32) {
	p := a.Percentile
	if p == 0 {
		p = 99.99
	}
	if !(p > 0 && p <= 100) {
		panic(fmt.Sprintf("quant: %s: calibration percentile %g outside (0, 100]", a.Name, p))
	}
	abs := func(v float32) float32 {
		if a.Signed && v < 0 {
			return -v
		}
		return v
	}
	var top float64
	if p == 100 {
		var m float32
		for _, v := range x {
			m = max(m, abs(v))
		}
		top = float64(m)
	} else {
		step := max(1, len(x)/65536)
		sample := make([]float32, 0, len(x)/step+1)
		for i := 0; i < len(x); i += step {
			sample = append(sample, abs(x[i]))
		}
		slices.Sort(sample)
		top = float64(sample[min(len(sample)-1, int(p/100*float64(len(sample))))])
	}
	_, hi := a.Range()
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	a.Log2Scale.Value.Data[0] = float32(math.Log2(top / float64(hi)))
	a.Calibrated.Value.Data[0] = 1
}

// IsCalibrated reports whether the scale has been set from data (or
// fixed): until then the next Apply calibrates it on its input.
func (a *ActQuant) IsCalibrated() bool { return a.Calibrated.Value.Data[0] != 0 }

// Apply records the quantizer on the tape and returns the integer-valued
// x_int (held in float32).
func (a *ActQuant) Apply(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	if !a.IsCalibrated() {
		a.calibrate(x.Value.Data)
	}
	ls := a.Log2Scale.Var(tp)
	s := a.Scale()
	lo, hi := a.Range()
	out := tp.NewOutput(x.Value.Shape...)
	xd, od := x.Value.Data, out.Data
	threads := tp.Threads
	if len(xd) < 1<<15 {
		threads = 1
	}
	tensor.For(threads, len(xd), func(lo0, hi0 int) {
		f32.Quantize(od[lo0:hi0], xd[lo0:hi0], s, lo, hi)
	})
	return tp.CustomFresh(out, func(d *tensor.Tensor, g []*tensor.Tensor, fresh []bool) {
		gx, gl := g[0], g[1]
		if gx == nil && gl == nil {
			return
		}
		if gl != nil && fresh[1] {
			clear(gl.Data)
		}
		// Straight-through inside the range; a clamped element is
		// constant in x and in s. Each thread returns its part of the
		// gradient with respect to ln s, summed over blocks of f32.Block
		// values; a fresh input gradient is written, not added to.
		parts := make([]float64, max(threads, 1))
		chunk := (len(xd) + len(parts) - 1) / len(parts)
		tensor.For(len(parts), len(parts), func(tlo, thi int) {
			for ti := tlo; ti < thi; ti++ {
				i0, i1 := min(ti*chunk, len(xd)), min((ti+1)*chunk, len(xd))
				var sum float64
				for b0 := i0; b0 < i1; b0 += f32.Block {
					b1 := min(b0+f32.Block, i1)
					if gx != nil && fresh[0] {
						sum += f32.QuantizeGradTo(gx.Data[b0:b1], d.Data[b0:b1], xd[b0:b1], s, lo, hi)
						continue
					}
					var gxd []float32
					if gx != nil {
						gxd = gx.Data[b0:b1]
					}
					sum += f32.QuantizeGrad(gxd, d.Data[b0:b1], xd[b0:b1], s, lo, hi)
				}
				parts[ti] = sum
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
