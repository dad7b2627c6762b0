package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/nn"
)

// liftPair returns two quantizers of the same float weights, initialised
// with the projection, one lifting the projected norms (the default) and
// one keeping them (KeepProjectedNorm).
func liftPair(mode Mode, cout, k, m, n, p, tile int, seed uint64) (lifted, kept *WeightQuant) {
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	v := make([]float32, cout*k)
	for c := 0; c < cout; c++ {
		// Trained filters: a spread of channel sizes, a few large weights.
		scale := 0.02 + 0.06*rng.Float64()
		for i := 0; i < k; i++ {
			x := rng.NormFloat64() * scale
			if rng.IntN(20) == 0 {
				x *= 3
			}
			v[c*k+i] = float32(x)
		}
	}
	make1 := func(keep bool) *WeightQuant {
		w := &WeightQuant{Mode: mode, Bits: m, InputBits: n, V: nn.NewParam("w", false, cout, k),
			layer: &LayerConfig{AccBits: p, Tile: tile}, KeepProjectedNorm: keep}
		copy(w.V.Value.Data, v)
		w.Log2G = nn.NewParam("g", true, cout)
		w.Log2S = nn.NewParam("s", true, cout)
		w.InitFromWeights(true)
		return w
	}
	return make1(false), make1(true)
}

// deadChannels counts the channels whose integers are all zero.
func deadChannels(w *WeightQuant) int {
	q, _ := w.IntegerWeights()
	cout, k := w.Channels()
	dead := 0
	for c := 0; c < cout; c++ {
		if !slices.ContainsFunc(q[c*k:c*k+k], func(v int32) bool { return v != 0 }) {
			dead++
		}
	}
	return dead
}

// TestInitLiftsNorm: where the budget binds hard, InitFromWeights scales
// each projected channel up to ‖v_c‖₁·T = ReferenceL1 and leaves its
// integers, g and s as the projection made them; where it binds less, V
// stays as projected. The lift is what lets a channel survive an optimiser
// step that moves every weight by the same small amount (as Adam does),
// which rounds the projected channel to zero.
func TestInitLiftsNorm(t *testing.T) {
	const cout, k = 16, 288
	for _, tc := range []struct {
		name       string
		mode       Mode
		m, n, p    int
		tile       int
		tight      bool // every channel needs the lift
		step       float64
		wantKilled bool // the steps kill channels kept at the projected norm
	}{
		{"A2Q W8A8 P = 12", A2Q, 8, 8, 12, 0, true, 1e-3, true},
		{"A2Q+ W8A8 P = 12", A2QPlus, 8, 8, 12, 0, true, 1e-3, true},
		{"A2Q W8A8 P = 13", A2Q, 8, 8, 13, 0, true, 1e-3, true},
		{"A2Q W8A8 P = 12 in tiles of 96", A2Q, 8, 8, 12, 96, true, 1e-3, true},
		{"A2Q+ W8A8 P = 12 in tiles of 96", A2QPlus, 8, 8, 12, 96, true, 1e-3, true},
		{"A2Q W4A4 P = 16, budget loose", A2Q, 4, 4, 16, 0, false, 0, false},
		{"A2Q+ W4A4 P = 16, budget loose", A2QPlus, 4, 4, 16, 0, false, 0, false},
	} {
		lifted, kept := liftPair(tc.mode, cout, k, tc.m, tc.n, tc.p, tc.tile, 3)
		if lifted.Tile() != tc.tile {
			t.Fatalf("%s: tile %d", tc.name, lifted.Tile())
		}
		ql, sl := lifted.IntegerWeights()
		qk, sk := kept.IntegerWeights()
		if !slices.Equal(ql, qk) || !slices.Equal(sl, sk) || !slices.Equal(lifted.Log2G.Value.Data, kept.Log2G.Value.Data) {
			t.Fatalf("%s: the lift changed the integers, g or s", tc.name)
		}
		if !slices.Equal(lifted.ReferenceL1(), kept.ReferenceL1()) {
			t.Fatalf("%s: reference norms differ", tc.name)
		}
		bt := lifted.Budget()
		var liftedChannels int
		for c := 0; c < cout; c++ {
			vl, vk := lifted.V.Value.Data[c*k:c*k+k], kept.V.Value.Data[c*k:c*k+k]
			ref := lifted.ReferenceL1()[c]
			var nl, nk float64
			for i := range vl {
				nl += math.Abs(float64(vl[i]))
				nk += math.Abs(float64(vk[i]))
			}
			switch {
			case nk*bt >= ref:
				if !slices.Equal(vl, vk) {
					t.Errorf("%s channel %d: ‖v‖₁·T = %.4g ≥ ReferenceL1 %.4g, yet V was changed", tc.name, c, nk*bt, ref)
				}
			case slices.Equal(vl, vk):
				// Kept because float rounding would have changed an integer.
			default:
				liftedChannels++
				if math.Abs(nl*bt-ref) > 1e-5*ref {
					t.Errorf("%s channel %d: lifted to ‖v‖₁·T = %.6g, want ReferenceL1 %.6g", tc.name, c, nl*bt, ref)
				}
				// A multiple of the projected channel.
				f := nl / nk
				for i := range vl {
					if math.Abs(float64(vl[i])-f*float64(vk[i])) > 1e-5*math.Abs(f*float64(vk[i])) {
						t.Fatalf("%s channel %d weight %d: %g is not %g × %g", tc.name, c, i, vl[i], f, vk[i])
					}
				}
			}
		}
		t.Logf("%s: T = %.4g, %d of %d channels lifted", tc.name, bt, liftedChannels, cout)
		if tc.tight && liftedChannels < cout*9/10 {
			t.Errorf("%s: only %d of %d channels lifted", tc.name, liftedChannels, cout)
		}
		if !tc.tight && liftedChannels > 0 {
			t.Errorf("%s: %d channels lifted where the budget leaves room", tc.name, liftedChannels)
		}
		if tc.step == 0 {
			continue
		}
		// A few optimiser steps of tc.step on every weight, in random
		// directions, the same for both.
		const steps = 10
		rng := rand.New(rand.NewPCG(5, 5))
		for range steps {
			for i := range lifted.V.Value.Data {
				d := float32(tc.step)
				if rng.IntN(2) == 0 {
					d = -d
				}
				lifted.V.Value.Data[i] += d
				kept.V.Value.Data[i] += d
			}
		}
		dl, dk := deadChannels(lifted), deadChannels(kept)
		t.Logf("%s: after %d steps of %g on every weight, %d channels dead (%d kept at the projected norm)", tc.name, steps, tc.step, dl, dk)
		if dl > 0 {
			t.Errorf("%s: the steps killed %d of %d lifted channels", tc.name, dl, cout)
		}
		if tc.wantKilled && dk < cout/4 {
			t.Errorf("%s: the steps killed only %d of %d channels at the projected norm: they do not exercise the failure the lift prevents", tc.name, dk, cout)
		}
	}
}

// TestKeepProjectedNormOnlyProjects: without the projection, InitFromWeights
// never lifts (V is the float weights, A2Q+ centred), whatever
// KeepProjectedNorm says.
func TestKeepProjectedNormOnlyProjects(t *testing.T) {
	for _, mode := range []Mode{A2Q, A2QPlus} {
		a, b := liftPair(mode, 4, 288, 8, 8, 12, 0, 9)
		a.KeepProjectedNorm, b.KeepProjectedNorm = false, true
		copy(a.V.Value.Data, b.V.Value.Data)
		a.InitFromWeights(false)
		b.InitFromWeights(false)
		if !slices.Equal(a.V.Value.Data, b.V.Value.Data) || !slices.Equal(a.Log2G.Value.Data, b.Log2G.Value.Data) {
			t.Errorf("%s: InitFromWeights(false) depends on KeepProjectedNorm", mode)
		}
	}
}
