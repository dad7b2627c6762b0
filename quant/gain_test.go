package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// TestFitGain: after the projection at a tight budget, FitGain gives each
// channel the least-squares gain and offset against the float channel on
// the inputs: the outputs' squared error is the smallest over gains (a
// gain 2 % either way does worse), no larger than with the L1 gain the
// projection takes (ProjectionGain), the mean error is zero with a bias,
// and the integers and g/s do not change. A channel whose best gain is not
// positive keeps its scale.
func TestFitGain(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const k, cout, rows = 48, 8, 2000
	// Positive, correlated inputs, as after a ReLU.
	x := tensor.New(rows, k)
	for r := 0; r < rows; r++ {
		z := rng.NormFloat64()
		for i := 0; i < k; i++ {
			x.Data[r*k+i] = float32(max(0.3+0.5*z+rng.NormFloat64(), 0))
		}
	}
	w0 := make([]float32, k*cout)
	for i := range w0 {
		w0[i] = float32(rng.NormFloat64() * 0.1)
	}
	b0 := make([]float32, cout)
	for i := range b0 {
		b0[i] = float32(rng.NormFloat64() * 0.1)
	}
	// errs returns, per channel, the mean error and the mean squared error
	// of the quantized channel, with its gain times f, against the float one.
	errs := func(l *Layer, f float64) (me, mse []float64) {
		q, log2s := l.W.Integers()
		for c := 0; c < cout; c++ {
			s := float64(Exp2(log2s[c])) * f
			b := 0.0
			if l.Bias != nil {
				b = float64(l.Bias.Value.Data[c])
			}
			var e1, e2 float64
			for r := 0; r < rows; r++ {
				yf, yq := float64(b0[c]), b
				if l.Bias == nil {
					yf = 0
				}
				for i := 0; i < k; i++ {
					xi := float64(x.Data[r*k+i])
					yf += float64(w0[c*k+i]) * xi
					yq += float64(q[c*k+i]) * s * xi
				}
				e1 += yq - yf
				e2 += (yq - yf) * (yq - yf)
			}
			me, mse = append(me, e1/rows), append(mse, e2/rows)
		}
		return me, mse
	}
	for _, c := range []struct {
		name string
		mode Mode
		bias bool
	}{
		{"A2Q with a bias", A2Q, true},
		{"A2Q+ with a bias", A2QPlus, true},
		{"A2Q without a bias", A2Q, false},
		{"A2Q+ without a bias", A2QPlus, false},
	} {
		cfg := LayerConfig{Mode: c.mode, WeightBits: 8, ActBits: 8, AccBits: 13}
		newLayer := func() *Layer {
			l, err := NewLinear("f", k, cout, c.bias, cfg, false, rng)
			if err != nil {
				t.Fatal(err)
			}
			copy(l.Weight.Value.Data, w0)
			if c.bias {
				copy(l.Bias.Value.Data, b0)
			}
			l.W.InitFromWeights(true)
			return l
		}
		// The L1 gain, for comparison.
		folded := newLayer()
		for ch, a := range folded.W.ProjectionGain() {
			d := float32(math.Log2(a))
			folded.W.Log2S.Value.Data[ch] += d
			folded.W.Log2G.Value.Data[ch] += d
		}
		l := newLayer()
		q0, _ := l.W.Integers()
		ratio := func() []float32 {
			var r []float32
			for ch := range cout {
				r = append(r, l.W.Log2G.Value.Data[ch]-l.W.Log2S.Value.Data[ch])
			}
			return r
		}
		r0 := ratio()
		s0 := slices.Clone(l.W.Log2S.Value.Data)
		mo := l.NewInputMoments()
		mo.Add(x)
		n, err := l.FitGain(mo, w0, b0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s: no channel given a gain", c.name)
		}
		if q, _ := l.W.Integers(); !slices.Equal(q, q0) {
			t.Fatalf("%s: the integers changed", c.name)
		}
		for ch, v := range ratio() {
			if math.Abs(float64(v-r0[ch])) > 1e-5 {
				t.Errorf("%s channel %d: log2(g/s) %v, was %v", c.name, ch, v, r0[ch])
			}
		}
		me, mse := errs(l, 1)
		_, lo := errs(l, 0.98)
		_, hi := errs(l, 1.02)
		_, fe := errs(folded, 1)
		for ch := range cout {
			tol := 1e-6 * (1 + mse[ch])
			if l.W.Log2S.Value.Data[ch] == s0[ch] {
				// Kept its scale: the best gain is not positive, so a
				// smaller one does better.
				if lo[ch] > mse[ch]+tol {
					t.Errorf("%s channel %d kept its scale, yet a smaller gain does worse (%.6g > %.6g)", c.name, ch, lo[ch], mse[ch])
				}
				continue
			}
			if mse[ch] > lo[ch]+tol || mse[ch] > hi[ch]+tol {
				t.Errorf("%s channel %d: squared error %.6g, with the gain 2 %% off %.6g and %.6g", c.name, ch, mse[ch], lo[ch], hi[ch])
			}
			if mse[ch] > fe[ch]+tol {
				t.Errorf("%s channel %d: squared error %.6g, with the L1 gain %.6g", c.name, ch, mse[ch], fe[ch])
			}
			if c.bias && math.Abs(me[ch]) > 1e-4 {
				t.Errorf("%s channel %d: mean error %.3g", c.name, ch, me[ch])
			}
		}
	}

	// Errors name the layer: not accumulator-aware, no rows, wrong sizes.
	rngE := rand.New(rand.NewPCG(1, 1))
	b, _ := NewLinear("g", k, cout, true, LayerConfig{Mode: Baseline, WeightBits: 8, ActBits: 8, AccBits: 32}, false, rngE)
	if _, err := b.FitGain(b.NewInputMoments(), w0, b0); err == nil || !strings.Contains(err.Error(), "layer g") {
		t.Errorf("baseline layer: err = %v", err)
	}
	l, _ := NewLinear("f", k, cout, true, LayerConfig{Mode: A2Q, WeightBits: 8, ActBits: 8, AccBits: 13}, false, rngE)
	if _, err := l.FitGain(l.NewInputMoments(), w0, b0); err == nil || !strings.Contains(err.Error(), "layer f") {
		t.Errorf("empty moments: err = %v", err)
	}
	mo := l.NewInputMoments()
	mo.Add(x)
	if _, err := l.FitGain(mo, w0[:k], b0); err == nil || !strings.Contains(err.Error(), "layer f") {
		t.Errorf("short weights: err = %v", err)
	}
}
