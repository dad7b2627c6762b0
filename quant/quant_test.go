package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

func randWQ(rng *rand.Rand, mode Mode, cout, k, m, n, p int, signed bool) *WeightQuant {
	v := nn.NewParam("w", false, cout, k)
	for i := range v.Value.Data {
		v.Value.Data[i] = float32(rng.NormFloat64() * 0.1)
	}
	w := &WeightQuant{Mode: mode, Bits: m, AccBits: p, InputBits: n, InputSigned: signed, V: v}
	if mode.AccumulatorAware() {
		w.Log2G = nn.NewParam("g", true, cout)
		w.Log2S = nn.NewParam("s", true, cout)
		w.InitFromWeights(false)
	}
	return w
}

// loss is Σ r·q + Σ r'·log2s for fixed random r, r'; with the surrogate
// quantizer it is smooth, so finite differences check the STE gradients.
func weightLoss(w *WeightQuant, r []float32, rs []float32) (float64, map[*nn.Param][]float32) {
	tp := autodiff.NewTape(1)
	ps := append([]*nn.Param{w.V}, w.Params()...)
	nn.ZeroGrad(ps)
	q, ls := w.Apply(tp)
	out := tp.NewValue(1)
	var sum float64
	for i, v := range q.Value.Data {
		sum += float64(v * r[i])
	}
	for i, v := range ls.Value.Data {
		sum += float64(v * rs[i])
	}
	out.Data[0] = float32(sum)
	l := tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		for i := range r {
			g[0].Data[i] += r[i]
		}
		if g[1] != nil {
			for i := range rs {
				g[1].Data[i] += rs[i]
			}
		}
	}, q, ls)
	if pen := w.Penalty(tp); pen != nil {
		l = tp.Sum(l, pen)
		sum += float64(pen.Value.Data[0])
	}
	tp.Backward(l)
	grads := map[*nn.Param][]float32{}
	for _, p := range ps {
		grads[p] = append([]float32(nil), p.Grad.Data...)
	}
	return sum, grads
}

func TestA2QStraightThroughGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, mode := range []Mode{A2Q, A2QPlus} {
		for _, clampG := range []bool{false, true} {
			w := randWQ(rng, mode, 3, 7, 8, 8, 12, false)
			w.surrogate = true
			if clampG {
				// g/s above the budget: g gets gradient only from the penalty.
				for c := range w.Log2G.Value.Data {
					w.Log2G.Value.Data[c] = w.Log2S.Value.Data[c] + float32(math.Log2(w.Budget())) + 0.5
				}
			} else {
				for c := range w.Log2G.Value.Data {
					w.Log2G.Value.Data[c] -= 0.3
				}
			}
			r := make([]float32, 21)
			rs := make([]float32, 3)
			for i := range r {
				r[i] = float32(rng.NormFloat64())
			}
			for i := range rs {
				rs[i] = float32(rng.NormFloat64())
			}
			_, grads := weightLoss(w, r, rs)
			for _, p := range append([]*nn.Param{w.V}, w.Params()...) {
				for i := range p.Value.Data {
					orig := p.Value.Data[i]
					const h = 1e-3
					kink := float32(0)
					if mode == A2QPlus && p == w.V {
						kink = mean(p.Value.Data[i/7*7 : i/7*7+7])
					}
					if p == w.V && math.Abs(float64(orig-kink)) < 3*h {
						continue // |v − μ| has a kink at 0
					}
					p.Value.Data[i] = orig + h
					up, _ := weightLoss(w, r, rs)
					p.Value.Data[i] = orig - h
					down, _ := weightLoss(w, r, rs)
					p.Value.Data[i] = orig
					num := (up - down) / (2 * h)
					ana := float64(grads[p][i])
					if math.Abs(num-ana) > 2e-2*math.Max(1, math.Abs(num)) {
						t.Errorf("%s clampG=%v: d/d%s[%d] (value %v): analytic %.5g, numeric %.5g", mode, clampG, p.Name, i, p.Value.Data[i], ana, num)
					}
				}
			}
		}
	}
}

// TestBudgetProperty: thousands of random layers after random training
// steps; every accumulator-aware channel stays within its L1 budget, and its
// worst-case input fits in P bits.
func TestBudgetProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for trial := 0; trial < n; trial++ {
		mode := []Mode{A2Q, A2QPlus}[trial%2]
		m := 2 + rng.IntN(7)
		nb := 1 + rng.IntN(8)
		signed := rng.IntN(2) == 0
		p := accum.MinBitsForNonzero(nb, signed, mode == A2QPlus) + rng.IntN(12)
		k := 1 + rng.IntN(300)
		cout := 1 + rng.IntN(4)
		w := randWQ(rng, mode, cout, k, m, nb, p, signed)
		for step := 0; step < 3; step++ {
			for i := range w.V.Value.Data {
				w.V.Value.Data[i] += float32(rng.NormFloat64() * 0.05)
			}
			for c := 0; c < cout; c++ {
				w.Log2G.Value.Data[c] += float32(rng.NormFloat64() * 2)
				w.Log2S.Value.Data[c] += float32(rng.NormFloat64())
			}
			q, _ := w.Integers()
			qi := make([]int32, len(q))
			for i, v := range q {
				qi[i] = int32(v)
				if float32(qi[i]) != v {
					t.Fatalf("non-integer weight %v", v)
				}
			}
			budget := w.Budget()
			for c := 0; c < cout; c++ {
				var l1, pos, neg int64
				for _, v := range qi[c*k : c*k+k] {
					if v > 0 {
						pos += int64(v)
					} else {
						neg -= int64(v)
					}
				}
				l1 = pos + neg
				ok := float64(l1) <= budget
				if mode == A2QPlus {
					ok = float64(pos) <= budget/2 && float64(neg) <= budget/2
				}
				if !ok {
					t.Fatalf("%s M=%d N=%d signed=%v P=%d K=%d: channel %d has q+=%d q-=%d, budget %v",
						mode, m, nb, signed, p, k, c, pos, neg, budget)
				}
			}
			r := accum.ExactRange(qi, cout, k, nb, signed)
			if bits := accum.RangeBits(r); bits > p {
				t.Fatalf("%s M=%d N=%d signed=%v P=%d K=%d: worst case needs %d bits", mode, m, nb, signed, p, k, bits)
			}
		}
	}
}

func TestProjectL1(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := 0; trial < 200; trial++ {
		v := make([]float32, 1+rng.IntN(50))
		var l1 float64
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			l1 += math.Abs(float64(v[i]))
		}
		orig := append([]float32(nil), v...)
		z := l1 * rng.Float64()
		ProjectL1(v, z)
		var got float64
		theta := -1.0
		for i, x := range v {
			got += math.Abs(float64(x))
			if x != 0 {
				if math.Signbit(float64(x)) != math.Signbit(float64(orig[i])) {
					t.Fatalf("sign flipped")
				}
				d := math.Abs(float64(orig[i])) - math.Abs(float64(x))
				if theta < 0 {
					theta = d
				} else if math.Abs(d-theta) > 1e-4 {
					t.Fatalf("shrinkage not uniform: %v vs %v", d, theta)
				}
			}
		}
		if math.Abs(got-z) > 1e-3*math.Max(1, z) {
			t.Fatalf("projected L1 %v, want %v", got, z)
		}
	}
	v := []float32{0.1, -0.2}
	ProjectL1(v, 1)
	if v[0] != 0.1 || v[1] != -0.2 {
		t.Fatalf("inside the ball changed: %v", v)
	}
}

func TestActQuant(t *testing.T) {
	a := NewActQuant("x", 4, false)
	a.Log2Scale.Value.Data[0] = -2 // s = 0.25
	a.Calibrated.Value.Data[0] = 1
	tp := autodiff.NewTape(1)
	in := tensor.FromData([]float32{-1, 0.125, 0.375, 1, 3.74, 10}, 6)
	g := tensor.New(6)
	x := tp.Leaf(in, g)
	y := a.Apply(tp, x, true)
	want := []float32{0, 0, 2, 4, 15, 15} // 0.125/0.25 = 0.5 rounds to even 0; 0.375→1.5→2
	for i, v := range y.Value.Data {
		if v != want[i] {
			t.Errorf("x_int[%d] = %v, want %v", i, v, want[i])
		}
	}
	tp.Backward(tp.Sum(weightedSum(tp, y)))
	wantG := []float32{0, 4, 4, 4, 4, 0}
	for i, v := range g.Data {
		if v != wantG[i] {
			t.Errorf("dx[%d] = %v, want %v", i, v, wantG[i])
		}
	}
	// ∂Σx_int/∂log2 s = −Σ_{in range} (x/s)·ln2.
	wantL := -(0.5 + 1.5 + 4 + 14.96) * math.Ln2
	if d := float64(a.Log2Scale.Grad.Data[0]) - wantL; math.Abs(d) > 1e-4 {
		t.Errorf("dlog2s = %v, want %v", a.Log2Scale.Grad.Data[0], wantL)
	}
}

func weightedSum(tp *autodiff.Tape, y *autodiff.Var) *autodiff.Var {
	out := tp.NewValue(1)
	for _, v := range y.Value.Data {
		out.Data[0] += v
	}
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		for i := range g[0].Data {
			g[0].Data[i] += d.Data[0]
		}
	}, y)
}

func TestLayerConfigErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	_, err := NewConv("conv2", 32, 64, 3, autodiff.ConvOptions{}, true, LayerConfig{Mode: A2Q, WeightBits: 8, ActBits: 8, AccBits: 8}, false, rng)
	if err == nil || !strings.Contains(err.Error(), "conv2") || !strings.Contains(err.Error(), "too small") {
		t.Errorf("P=8 with 8-bit unsigned inputs: err = %v", err)
	}
	_, err = NewLinear("fc", 10, 2, true, LayerConfig{Mode: A2Q, WeightBits: 1, ActBits: 8, AccBits: 16}, false, rng)
	if err == nil || !strings.Contains(err.Error(), "fc") {
		t.Errorf("1-bit weights: err = %v", err)
	}
	l, err := NewLinear("fc", 10, 2, true, LayerConfig{Mode: A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}, false, rng)
	if err != nil {
		t.Fatal(err)
	}
	l.In = nil
	if err := l.Validate(); err == nil || !strings.Contains(err.Error(), "not quantized") {
		t.Errorf("A2Q+ without input quantizer: err = %v", err)
	}
}

// TestLayerComputesOnIntegers checks that a quantized layer's output is
// exactly Requant of the integer dot product.
func TestLayerComputesOnIntegers(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, mode := range []Mode{Baseline, A2Q, A2QPlus} {
		l, err := NewConv("c", 3, 4, 3, autodiff.ConvOptions{Pad: 1}, true, LayerConfig{Mode: mode, WeightBits: 4, ActBits: 4, AccBits: 12}, false, rng)
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(2, 5, 5, 3)
		for i := range x.Data {
			x.Data[i] = float32(rng.Float64())
		}
		tp := autodiff.NewTape(1)
		y := l.Forward(tp, tp.Constant(x), true).Value
		q, ls := l.W.Integers()
		s := l.In.Scale()
		lo, hi := l.In.Range()
		k := l.K()
		for n := 0; n < 2; n++ {
			for i := 0; i < 5; i++ {
				for j := 0; j < 5; j++ {
					for o := 0; o < 4; o++ {
						var acc int64
						for a := 0; a < 3; a++ {
							for b := 0; b < 3; b++ {
								hh, ww := i-1+a, j-1+b
								if hh < 0 || ww < 0 || hh >= 5 || ww >= 5 {
									continue
								}
								for c := 0; c < 3; c++ {
									xi := Quantize(x.Data[((n*5+hh)*5+ww)*3+c], s, lo, hi)
									acc += int64(xi) * int64(q[o*k+(a*3+b)*3+c])
								}
							}
						}
						want := Requant(float32(acc), OutputScale(l.In.Log2Scale.Value.Data[0], ls[o]), l.Bias.Value.Data[o])
						if got := y.Data[((n*5+i)*5+j)*4+o]; got != want {
							t.Fatalf("%s: y = %v, integer path %v", mode, got, want)
						}
					}
				}
			}
		}
	}
}

// TestFreshLayerNotDead: a randomly initialised A2Q layer with a tight
// budget (K = 288, P = 16, 8-bit unsigned inputs: T ≈ 128) must start with
// non-zero integer weights in every channel.
func TestFreshLayerNotDead(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, mode := range []Mode{A2Q, A2QPlus} {
		l, err := NewConv("conv2", 32, 64, 3, autodiff.ConvOptions{}, true, LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16}, false, rng)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := l.W.Integers()
		k := l.K()
		for c := 0; c < l.OutC; c++ {
			nz := 0
			for _, v := range q[c*k : c*k+k] {
				if v != 0 {
					nz++
				}
			}
			if nz == 0 {
				t.Fatalf("%s: channel %d of a fresh layer is all zero", mode, c)
			}
		}
	}
}
