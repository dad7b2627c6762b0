package quant

import (
	"math"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

func TestActQuantCalibration(t *testing.T) {
	// 99,995 values spread evenly over [0, 1) and five outliers: 0.005 %
	// of the data, above the 99.99th percentile.
	const bulk = 99995
	x := make([]float32, 0, bulk+5)
	for i := range bulk {
		x = append(x, float32(i)/bulk)
	}
	x = append(x, 50, 50, 50, 50, 50)
	neg := append([]float32(nil), x...)
	neg[0] = -60
	tests := []struct {
		name       string
		bits       int
		signed     bool
		percentile float64
		x          []float32
		lo, hi     float64 // bounds on the value mapped to the top of the range
	}{
		{"default clips outliers", 8, false, 0, x, 0.999, 1},
		{"maximum keeps outliers", 8, false, RegressionPercentile, x, 50, 50},
		{"median", 8, false, 50, x, 0.49, 0.51},
		{"signed maximum of |x|", 8, true, RegressionPercentile, neg, 60, 60},
		{"4-bit maximum", 4, false, RegressionPercentile, x, 50, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewActQuant("x", tc.bits, tc.signed)
			a.Percentile = tc.percentile
			tp := autodiff.NewTape(1)
			a.Apply(tp, tp.Constant(tensor.FromData(tc.x, len(tc.x))), true)
			if a.Calibrated.Value.Data[0] != 1 {
				t.Fatal("not marked calibrated")
			}
			_, hi := a.Range()
			top := float64(a.Scale()) * float64(hi)
			if top < tc.lo*(1-1e-5) || top > tc.hi*(1+1e-5) {
				t.Errorf("scale maps %g to the top of the range, want [%g, %g]", top, tc.lo, tc.hi)
			}
			// A second batch does not recalibrate.
			s := a.Scale()
			a.Apply(tp, tp.Constant(tensor.FromData([]float32{1000}, 1)), true)
			if a.Scale() != s {
				t.Errorf("second batch changed the scale from %g to %g", s, a.Scale())
			}
		})
	}
}

func TestActQuantCalibrationDegenerate(t *testing.T) {
	for _, x := range [][]float32{{0, 0, 0}, {float32(math.NaN()), 1}} {
		a := NewActQuant("x", 8, false)
		a.Percentile = RegressionPercentile
		tp := autodiff.NewTape(1)
		a.Apply(tp, tp.Constant(tensor.FromData(x, len(x))), false)
		if s := a.Scale(); !(s > 0) || math.IsInf(float64(s), 0) {
			t.Errorf("calibrating on %v gave scale %g, want a positive finite one", x, s)
		}
	}
}

func TestActQuantCalibrationBadPercentile(t *testing.T) {
	for _, p := range []float64{-1, 100.5, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("percentile %g: no panic", p)
				}
			}()
			a := NewActQuant("x", 8, false)
			a.Percentile = p
			tp := autodiff.NewTape(1)
			a.Apply(tp, tp.Constant(tensor.FromData([]float32{1}, 1)), false)
		}()
	}
}
