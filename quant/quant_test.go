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
	"github.com/a2qtoolkit/a2q/thresh"
)

func randWQ(rng *rand.Rand, mode Mode, cout, k, m, n, p int, signed bool) *WeightQuant {
	v := nn.NewParam("w", false, cout, k)
	for i := range v.Value.Data {
		v.Value.Data[i] = float32(rng.NormFloat64() * 0.1)
	}
	w := &WeightQuant{Mode: mode, Bits: m, InputBits: n, InputSigned: signed, V: v, layer: &LayerConfig{AccBits: p}}
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

// TestA2QStraightThroughGradients checks the straight-through gradients
// of A2Q and A2Q+ (with the quantizer's rounding and clamp replaced by the
// identity) against finite differences, with g/s inside and beyond the
// budget; tiled layers have one tile of large weights, scaled to its own
// budget ("clamped"), beside tiles that share the channel's scale.
func TestA2QStraightThroughGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		k, tile int
	}{
		{7, 0},
		{10, 4}, // tiles of 4, 4 and 2 weights
		{9, 3},
	} {
		for _, mode := range []Mode{A2Q, A2QPlus} {
			for _, clampG := range []bool{false, true} {
				const cout = 3
				k := tc.k
				w := randWQ(rng, mode, cout, k, 8, 8, 12, false)
				w.layer.Tile = tc.tile
				w.surrogate = true
				tile, tiles := w.tiling()
				if tc.tile > 0 {
					for c := 0; c < cout; c++ {
						for i := 0; i < tile; i++ {
							w.V.Value.Data[c*k+i] *= 5
						}
					}
				}
				w.InitFromWeights(false)
				bt := w.Budget()
				switch {
				case clampG:
					// g/s above the budget: g gets gradient only from the penalty.
					for c := range w.Log2G.Value.Data {
						w.Log2G.Value.Data[c] = w.Log2S.Value.Data[c] + float32(math.Log2(bt*float64(tiles))) + 0.5
					}
				case tc.tile == 0:
					for c := range w.Log2G.Value.Data {
						w.Log2G.Value.Data[c] -= 0.3
					}
				default:
					// r/N halfway between the scales at which the largest
					// tile and the second largest reach the budget.
					ts := make([]tileState, cout*tiles)
					w.computeTiled(make([]float32, cout*k), make([]float32, cout), nil, ts)
					for c := 0; c < cout; c++ {
						var n, first, second float64
						for j := 0; j < tiles; j++ {
							n1 := float64(ts[c*tiles+j].n1)
							n += n1
							first, second = max(first, n1), max(second, min(first, n1))
						}
						a := 2 * bt / (first + second)
						w.Log2G.Value.Data[c] = w.Log2S.Value.Data[c] + float32(math.Log2(a*n))
					}
				}
				if tc.tile > 0 {
					st, ts := make([]chanState, cout), make([]tileState, cout*tiles)
					w.computeTiled(make([]float32, cout*k), make([]float32, cout), st, ts)
					for c := 0; c < cout; c++ {
						var clamped int
						for _, s := range ts[c*tiles : (c+1)*tiles] {
							if s.clamped {
								clamped++
							}
						}
						if clamped == 0 || clamped == tiles || st[c].clamped != clampG {
							t.Fatalf("%s tile %d clampG=%v channel %d: %d of %d tiles clamped, channel clamped %v: want a mix", mode, tc.tile, clampG, c, clamped, tiles, st[c].clamped)
						}
					}
				}
				r := make([]float32, cout*k)
				rs := make([]float32, cout)
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
							lo := i / k * k
							lo += (i - lo) / tile * tile
							kink = mean(p.Value.Data[lo:min(lo+tile, i/k*k+k)])
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
							t.Errorf("%s tile %d clampG=%v: d/d%s[%d] (value %v): analytic %.5g, numeric %.5g", mode, tc.tile, clampG, p.Name, i, p.Value.Data[i], ana, num)
						}
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
									xi := thresh.Quantize(x.Data[((n*5+hh)*5+ww)*3+c], s, lo, hi)
									acc += int64(xi) * int64(q[o*k+(a*3+b)*3+c])
								}
							}
						}
						want := thresh.Requant(float32(acc), thresh.OutputScale(l.In.Log2Scale.Value.Data[0], ls[o]), l.Bias.Value.Data[o])
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

// TestInputMoments: the moments of a grouped, strided, padded convolution
// and of a linear layer match sums over explicitly enumerated patches.
func TestInputMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cases := []struct {
		name string
		l    func() (*Layer, error)
		x    *tensor.Tensor
	}{
		{"conv pad 1 stride 2 groups 2", func() (*Layer, error) {
			return NewConv("c", 4, 6, 3, autodiff.ConvOptions{Pad: 1, Stride: 2, Groups: 2}, true, LayerConfig{Mode: A2QPlus, WeightBits: 4, ActBits: 4, AccBits: 16}, false, rng)
		}, tensor.New(3, 5, 6, 4)},
		{"linear", func() (*Layer, error) {
			return NewLinear("f", 7, 3, true, LayerConfig{Mode: A2QPlus, WeightBits: 4, ActBits: 4, AccBits: 16}, false, rng)
		}, tensor.New(11, 7)},
	}
	for _, c := range cases {
		l, err := c.l()
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.x.Data {
			c.x.Data[i] = float32(rng.Float64())
		}
		mo := l.NewInputMoments()
		mo.Add(c.x)
		// Enumerate the patches: rows[group] is a list of K-vectors.
		k := l.K()
		var rows [][][]float64
		if l.Kind == "linear" {
			var rs [][]float64
			for n := 0; n < c.x.Shape[0]; n++ {
				r := make([]float64, k)
				for i := range r {
					r[i] = float64(c.x.Data[n*k+i])
				}
				rs = append(rs, r)
			}
			rows = append(rows, rs)
		} else {
			sh := c.x.Shape
			g := l.Options.Groups
			cpg := sh[3] / g
			for grp := 0; grp < g; grp++ {
				var rs [][]float64
				for n := 0; n < sh[0]; n++ {
					for oy := 0; oy*2-1+3 <= sh[1]+1; oy++ {
						for ox := 0; ox*2-1+3 <= sh[2]+1; ox++ {
							r := make([]float64, 0, k)
							for a := 0; a < 3; a++ {
								for b := 0; b < 3; b++ {
									y, x := oy*2-1+a, ox*2-1+b
									for ci := 0; ci < cpg; ci++ {
										v := 0.0
										if y >= 0 && x >= 0 && y < sh[1] && x < sh[2] {
											v = float64(c.x.Data[((n*sh[1]+y)*sh[2]+x)*sh[3]+grp*cpg+ci])
										}
										r = append(r, v)
									}
								}
							}
							rs = append(rs, r)
						}
					}
				}
				rows = append(rows, rs)
			}
		}
		if mo.Rows() != len(rows[0]) || len(mo.sum) != len(rows) {
			t.Fatalf("%s: %d rows in %d groups, want %d in %d", c.name, mo.Rows(), len(mo.sum), len(rows[0]), len(rows))
		}
		for grp, rs := range rows {
			for i := 0; i < k; i++ {
				var s float64
				for _, r := range rs {
					s += r[i]
				}
				if math.Abs(s-mo.sum[grp][i]) > 1e-4 {
					t.Fatalf("%s: group %d sum[%d] = %g, want %g", c.name, grp, i, mo.sum[grp][i], s)
				}
				for j := 0; j < k; j++ {
					var o float64
					for _, r := range rs {
						o += r[i] * r[j]
					}
					if got := mo.outer[grp].At(i, j); math.Abs(got-o) > 1e-4 {
						t.Fatalf("%s: group %d outer[%d][%d] = %g, want %g", c.name, grp, i, j, got, o)
					}
				}
			}
		}
	}
}

// TestCentreOnInputs: on inputs that are positive and correlated (as after
// a ReLU), the quantized weights CentreOnInputs leaves reproduce the float
// layer's output (up to a gain and an offset) no worse than those of the
// plain mean subtraction, and much better where the budget leaves room;
// the float weights sum to zero per channel, the bias keeps each channel's
// mean output, and the A2Q+ budget holds.
func TestCentreOnInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	const k, cout, rows, latent = 24, 6, 3000, 4
	// x = relu(A·z + 0.5): a few latent factors, positive mean.
	a := make([]float64, k*latent)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	x := tensor.New(rows, k)
	mean := make([]float64, k)
	for r := 0; r < rows; r++ {
		z := make([]float64, latent)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for i := 0; i < k; i++ {
			v := 0.5
			for j := 0; j < latent; j++ {
				v += a[i*latent+j] * z[j]
			}
			x.Data[r*k+i] = float32(max(v, 0))
			mean[i] += float64(x.Data[r*k+i]) / rows
		}
	}
	w0 := make([]float32, k*cout)
	for i := range w0 {
		w0[i] = float32(rng.NormFloat64()*0.1 + 0.05) // channel means far from zero
	}
	b0 := make([]float32, cout)
	for i := range b0 {
		b0[i] = float32(rng.NormFloat64())
	}
	// quantErr is the mean over channels of min_α E[((w0 − α·q·s)·(x − m))²].
	quantErr := func(l *Layer) float64 {
		q, log2s := l.W.Integers()
		var total float64
		for c := 0; c < cout; c++ {
			s := float64(Exp2(log2s[c]))
			var rr, rh, hh float64
			for r := 0; r < rows; r++ {
				var yr, yh float64
				for i := 0; i < k; i++ {
					xc := float64(x.Data[r*k+i]) - mean[i]
					yr += float64(w0[c*k+i]) * xc
					yh += float64(q[c*k+i]) * s * xc
				}
				rr, rh, hh = rr+yr*yr, rh+yr*yh, hh+yh*yh
			}
			alpha := 0.0
			if hh > 0 {
				alpha = max(rh/hh, 0)
			}
			total += (rr - 2*alpha*rh + alpha*alpha*hh) / rows
		}
		return total / cout
	}
	for _, c := range []struct {
		name    string
		cfg     LayerConfig
		betterX float64 // data-aware error at most this share of the plain one
	}{
		{"W4A4, budget loose", LayerConfig{Mode: A2QPlus, WeightBits: 4, ActBits: 4, AccBits: 12}, 0.5},
		{"W8A8, budget tight", LayerConfig{Mode: A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 11}, 1 + 1e-9},
		{"W4A4 in tiles of 10, budget loose", LayerConfig{Mode: A2QPlus, WeightBits: 4, ActBits: 4, AccBits: 12, Tile: 10}, 0.5},
		{"W8A8 in tiles of 8, budget tight", LayerConfig{Mode: A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 10, Tile: 8}, 1 + 1e-9},
	} {
		newLayer := func() *Layer {
			l, err := NewLinear("f", k, cout, true, c.cfg, false, rng)
			if err != nil {
				t.Fatal(err)
			}
			copy(l.Weight.Value.Data, w0)
			copy(l.Bias.Value.Data, b0)
			return l
		}
		plain := newLayer()
		plain.W.InitFromWeights(true)
		l := newLayer()
		mo := l.NewInputMoments()
		mo.Add(x)
		kept, err := l.CentreOnInputs(mo)
		if err != nil {
			t.Fatal(err)
		}
		pe, de := quantErr(plain), quantErr(l)
		t.Logf("%s: output error of the quantized weights: plain %.4g, on data %.4g (plain kept in %d of %d channels)", c.name, pe, de, kept, cout)
		if !(de <= c.betterX*pe) {
			t.Errorf("%s: error %.4g on data, plain %.4g: want at most %g of it", c.name, de, pe, c.betterX)
		}
		ref := l.W.ReferenceL1()
		q, _ := l.W.IntegerWeights()
		budget := l.W.Budget()
		tile := l.W.Tile()
		if tile != c.cfg.Tile {
			t.Fatalf("%s: tile %d", c.name, tile)
		}
		if tile == 0 {
			tile = k
		}
		for ch := 0; ch < cout; ch++ {
			for lo := 0; lo < k; lo += tile {
				hi := min(lo+tile, k)
				pos, neg := tileSums(q[ch*k+lo : ch*k+hi])
				if float64(pos) > budget/2 || float64(neg) > budget/2 {
					t.Errorf("%s channel %d tile %d: q⁺ = %d, q⁻ = %d exceed T/2 = %g", c.name, ch, lo/tile, pos, neg, budget/2)
				}
				if c.betterX < 1 {
					// The budget does not bind, so the projection left V as
					// centred: every tile sums to zero.
					var sum float64
					for _, v := range l.Weight.Value.Data[ch*k+lo : ch*k+hi] {
						sum += float64(v)
					}
					if math.Abs(sum) > 1e-4*ref[ch] {
						t.Errorf("%s channel %d tile %d: weights sum to %g", c.name, ch, lo/tile, sum)
					}
				}
			}
			if c.betterX < 1 {
				// The bias kept the mean output.
				var dm float64
				for i := 0; i < k; i++ {
					dm += (float64(l.Weight.Value.Data[ch*k+i]) - float64(w0[ch*k+i])) * mean[i]
				}
				if d := dm + float64(l.Bias.Value.Data[ch]-b0[ch]); math.Abs(d) > 1e-4 {
					t.Errorf("%s channel %d: mean output moved by %g", c.name, ch, d)
				}
			}
		}
	}

	// Errors: not A2Q+, no rows.
	rngE := rand.New(rand.NewPCG(1, 1))
	b, _ := NewLinear("g", k, cout, true, LayerConfig{Mode: A2Q, WeightBits: 4, ActBits: 4, AccBits: 12}, false, rngE)
	if _, err := b.CentreOnInputs(b.NewInputMoments()); err == nil || !strings.Contains(err.Error(), "layer g") {
		t.Errorf("A2Q layer: err = %v", err)
	}
	l, _ := NewLinear("f", k, cout, true, LayerConfig{Mode: A2QPlus, WeightBits: 4, ActBits: 4, AccBits: 12}, false, rngE)
	if _, err := l.CentreOnInputs(l.NewInputMoments()); err == nil || !strings.Contains(err.Error(), "layer f") {
		t.Errorf("empty moments: err = %v", err)
	}
}

func mean32(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return float32(s / float64(len(v)))
}

// TestReferenceL1: InitFromWeights records each channel's L1 norm after
// A2Q+'s centring and before the projection.
func TestReferenceL1(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, mode := range []Mode{A2Q, A2QPlus} {
		w := randWQ(rng, mode, 3, 50, 4, 4, 10, false)
		for i := range w.V.Value.Data {
			w.V.Value.Data[i] += 0.2
		}
		cout, k := w.Channels()
		want := make([]float64, cout)
		for c := 0; c < cout; c++ {
			v := w.V.Value.Data[c*k : c*k+k]
			var mu float32
			if mode == A2QPlus {
				mu = mean32(v)
			}
			for _, x := range v {
				want[c] += math.Abs(float64(x - mu))
			}
		}
		w.InitFromWeights(true)
		got := w.ReferenceL1()
		for c := range want {
			if math.Abs(got[c]-want[c]) > 1e-4*want[c] {
				t.Errorf("%s channel %d: ReferenceL1 %g, want %g", mode, c, got[c], want[c])
			}
		}
	}
}
