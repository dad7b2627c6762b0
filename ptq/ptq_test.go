package ptq

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
)

var methods = []Method{RTN, GPTQ, GPFQ}

// problem is a random layer with its calibration data.
type problem struct {
	l         Layer
	x, xf     []float32 // rows×K inputs of the quantized and the float paths
	rows      int
	st        *Stats
	p, n      int // accumulator and input bits
	signed    bool
	plus      bool // A2Q+ budget
	tile      int
	quantized bool
}

// randomProblem draws a layer of width up to maxK with correlated inputs
// and a budget from accum's budget functions at a random P.
func randomProblem(rng *rand.Rand, maxK int) problem {
	k := 1 + rng.IntN(maxK)
	outC := 1 + rng.IntN(6)
	bits := 2 + rng.IntN(7)
	n := 1 + rng.IntN(8)
	signed := rng.IntN(2) == 0
	plus := rng.IntN(2) == 0
	lo := max(accum.MinAccBits, accum.MinBitsForNonzero(n, signed, plus)-1)
	hi := accum.DataTypeBits(k, n, signed, bits) + 1
	p := lo + rng.IntN(hi-lo+1)
	var b Budget
	if plus {
		b.Half = accum.A2QPlusBudget(p, n) / 2
	} else {
		b.L1 = accum.A2QBudget(p, n, signed)
	}
	if k > 2 && rng.IntN(4) == 0 {
		b.Tile = 1 + rng.IntN(k)
	}
	// What an A2Q+ quantizer needs to hold the integers (SetIntegers).
	b.Balanced = plus && rng.IntN(2) == 0
	w := make([]float32, outC*k)
	scale := make([]float32, outC)
	for c := range scale {
		spread := math.Exp(rng.NormFloat64())
		var mx float64
		for i := 0; i < k; i++ {
			v := rng.NormFloat64() * spread
			if rng.IntN(3) == 0 {
				v += spread // channels not centred
			}
			w[c*k+i] = float32(v)
			mx = math.Max(mx, math.Abs(v))
		}
		scale[c] = float32((mx + 1e-3) / qmax(bits) * (0.3 + rng.Float64()))
	}
	rows := 2*k + rng.IntN(64)
	x, xf := correlated(rng, rows, k)
	st := NewStats(k)
	if err := st.Add(x, xf, rows); err != nil {
		panic(err)
	}
	return problem{
		l: Layer{Name: "rand", W: w, OutC: outC, K: k, Scale: scale, Bits: bits, Budget: b},
		x: x, xf: xf, rows: rows, st: st, p: p, n: n, signed: signed, plus: plus, tile: b.Tile,
	}
}

// correlated returns rows×k inputs with correlated columns (some of them
// always zero) and a noisy copy of them standing for the float path.
func correlated(rng *rand.Rand, rows, k int) (x, xf []float32) {
	mix := make([]float64, k*k)
	for i := range mix {
		mix[i] = rng.NormFloat64() / math.Sqrt(float64(k))
	}
	for i := 0; i < k; i++ {
		mix[i*k+i] += 1
	}
	dead := make([]bool, k)
	for i := range dead {
		dead[i] = rng.IntN(10) == 0
	}
	x, xf = make([]float32, rows*k), make([]float32, rows*k)
	z := make([]float64, k)
	for r := 0; r < rows; r++ {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for j := 0; j < k; j++ {
			if dead[j] {
				continue
			}
			var v float64
			for i := 0; i < k; i++ {
				v += z[i] * mix[i*k+j]
			}
			x[r*k+j] = float32(v)
			xf[r*k+j] = float32(v + 0.1*rng.NormFloat64())
		}
	}
	return x, xf
}

func TestStatsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		k, rows int
		float   bool
	}{
		{1, 1, false}, {3, 5, true}, {17, addBlock + 3, true}, {40, 2*addBlock + 1, false}, {5, 0, true},
	} {
		t.Run(fmt.Sprintf("k%d_rows%d", tc.k, tc.rows), func(t *testing.T) {
			x := make([]float32, tc.rows*tc.k)
			var xf []float32
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			if tc.float {
				xf = make([]float32, len(x))
				for i := range xf {
					xf[i] = float32(rng.NormFloat64())
				}
			}
			st := NewStats(tc.k)
			// Two calls: the sums must accumulate.
			half := tc.rows / 2
			if err := st.Add(x[:half*tc.k], sub(xf, 0, half*tc.k), half); err != nil {
				t.Fatal(err)
			}
			if err := st.Add(x[half*tc.k:], sub(xf, half*tc.k, len(x)), tc.rows-half); err != nil {
				t.Fatal(err)
			}
			if st.Rows != tc.rows {
				t.Errorf("Rows = %d, want %d", st.Rows, tc.rows)
			}
			if tc.float != (st.G != nil) {
				t.Fatalf("G allocated = %v, want %v", st.G != nil, tc.float)
			}
			for i := 0; i < tc.k; i++ {
				for j := 0; j < tc.k; j++ {
					var h, g, scale, scaleG float64
					for r := 0; r < tc.rows; r++ {
						a := float64(x[r*tc.k+i])
						h += a * float64(x[r*tc.k+j])
						scale += math.Abs(a * float64(x[r*tc.k+j]))
						if tc.float {
							g += a * float64(xf[r*tc.k+j])
							scaleG += math.Abs(a * float64(xf[r*tc.k+j]))
						}
					}
					tol := 1e-5*scale + 1e-12
					if d := math.Abs(st.H[i*tc.k+j] - h); d > tol {
						t.Fatalf("H[%d][%d] = %v, want %v", i, j, st.H[i*tc.k+j], h)
					}
					if tc.float && math.Abs(st.G[i*tc.k+j]-g) > 1e-5*scaleG+1e-12 {
						t.Fatalf("G[%d][%d] = %v, want %v", i, j, st.G[i*tc.k+j], g)
					}
				}
			}
		})
	}
	if err := NewStats(3).Add(make([]float32, 5), nil, 2); !errors.Is(err, ErrShape) {
		t.Errorf("Add of 5 values as 2 rows of 3: %v, want ErrShape", err)
	}
}

func sub(x []float32, a, b int) []float32 {
	if x == nil {
		return nil
	}
	return x[a:b]
}

func TestRoom(t *testing.T) {
	for _, tc := range []struct {
		b              Budget
		pos, neg, m    int64
		wantUp, wantDn int64
	}{
		{Budget{}, 5, 5, 7, 7, 7},
		{Budget{L1: 10}, 0, 0, 127, 10, 10},
		{Budget{L1: 10.9}, 3, 4, 127, 3, 3},
		{Budget{L1: 10}, 6, 4, 127, 0, 0},
		{Budget{L1: 10}, 0, 0, 3, 3, 3},
		{Budget{Half: 5.5}, 5, 1, 127, 0, 4},
		{Budget{Half: 5.5}, 2, 6, 127, 3, 0},
		{Budget{L1: 8, Half: 5}, 2, 3, 127, 3, 2},
		{Budget{L1: 1e300}, 0, 0, 127, 127, 127},
	} {
		up, dn := tc.b.room(tc.pos, tc.neg, tc.m)
		if up != tc.wantUp || dn != tc.wantDn {
			t.Errorf("%+v.room(%d, %d, %d) = %d, %d, want %d, %d", tc.b, tc.pos, tc.neg, tc.m, up, dn, tc.wantUp, tc.wantDn)
		}
	}
}

func TestWithinBudget(t *testing.T) {
	for _, tc := range []struct {
		q    []int32
		k    int
		bits int
		b    Budget
		ok   bool
	}{
		{[]int32{3, -3, 1}, 3, 3, Budget{L1: 7}, true},
		{[]int32{3, -3, 2}, 3, 3, Budget{L1: 7.9}, false},
		{[]int32{4, 0, 0}, 3, 3, Budget{}, false}, // beyond ±3
		{[]int32{3, 3, -3}, 3, 3, Budget{Half: 6}, true},
		{[]int32{3, 3, -3}, 3, 3, Budget{Half: 5.9}, false},
		{[]int32{1, 1, 1, 1, -1, -1, -1, -1}, 4, 3, Budget{L1: 4}, true}, // two channels
		{[]int32{3, 3, 3, 3}, 4, 3, Budget{L1: 6, Tile: 2}, true},
		{[]int32{3, 3, 3, 3}, 4, 3, Budget{L1: 6, Tile: 3}, false},
	} {
		err := withinBudget(tc.q, tc.k, tc.bits, tc.b)
		if (err == nil) != tc.ok {
			t.Errorf("withinBudget(%v, %d, %d, %+v) = %v, want ok %v", tc.q, tc.k, tc.bits, tc.b, err, tc.ok)
		}
	}
}

// TestRTNFloatOvershoot checks the case the tracker exists for in RTN: the
// float32 projection can land on integers whose L1 norm is above a budget
// just below an integer (Σ trunc(v_i) ≤ floor(Σ v_i), so only such budgets,
// or integer ones under a large accumulated error, can be broken).
func TestRTNFloatOvershoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 2000; trial++ {
		k := 1 + rng.IntN(300)
		w := make([]float32, k)
		var sum float64
		for i := range w {
			n := float64(1 + rng.IntN(100))
			sum += n
			w[i] = float32(math.Copysign(n+0.25, rng.Float64()-0.5))
		}
		T := sum - 1e-7
		if rng.IntN(2) == 0 {
			T = sum // an integer budget
		}
		for _, b := range []Budget{{L1: T}, {Half: T / 2}, {L1: T, Tile: 1 + rng.IntN(k)}} {
			l := Layer{Name: "overshoot", W: w, OutC: 1, K: k, Scale: []float32{1}, Bits: 8, Budget: b}
			q, err := Quantize(l, RTN, nil, Options{})
			if err != nil {
				t.Fatalf("k = %d, budget %+v: %v", k, b, err)
			}
			if err := withinBudget(q, k, 8, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// certify checks q against the bit width, the budget, the zero sums of a
// balanced budget and the accumulator width P with accum's exact bounds
// (per tile when the budget is tiled).
func (pr *problem) certify(q []int32) error {
	l := &pr.l
	if err := withinBudget(q, l.K, l.Bits, l.Budget); err != nil {
		return err
	}
	if l.Budget.Balanced {
		for c := 0; c < l.OutC; c++ {
			for t := 0; t < l.Budget.tiles(l.K); t++ {
				lo, hi := 0, l.K
				if l.Budget.Tile > 0 {
					lo, hi = t*l.Budget.Tile, min(l.K, (t+1)*l.Budget.Tile)
				}
				var sum int64
				for _, v := range q[c*l.K+lo : c*l.K+hi] {
					sum += int64(v)
				}
				if sum != 0 {
					return fmt.Errorf("channel %d tile %d: balanced integers sum to %d", c, t, sum)
				}
			}
		}
	}
	if l.Budget.Tile > 0 {
		if inner, _ := accum.TiledBits(q, l.OutC, l.K, l.Budget.Tile, pr.n, pr.signed); inner > pr.p {
			return fmt.Errorf("inner accumulator %d bits, above P = %d", inner, pr.p)
		}
		return nil
	}
	c, err := accum.Certify(accum.Layer{
		Name: l.Name, Weights: q, OutChannels: l.OutC, K: l.K, InputBits: pr.n, InputSigned: pr.signed,
		WeightBits: l.Bits, TargetBits: pr.p,
	})
	if err != nil {
		return err
	}
	if !c.Certified {
		return fmt.Errorf("exact accumulator %d bits, above P = %d", c.AccBitsExact, pr.p)
	}
	return nil
}

// bruteForce checks every channel's dot product with every input vector
// whose entries are 0 or an extreme of the n-bit range (every partial sum
// of every order of summation is such a dot product) against P bits.
func (pr *problem) bruteForce(q []int32) error {
	lo, hi := accum.InputRange(pr.n, pr.signed)
	amin, amax := -(int64(1) << (pr.p - 1)), int64(1)<<(pr.p-1)-1
	k, tile := pr.l.K, pr.l.Budget.Tile
	if tile == 0 {
		tile = k
	}
	for c := 0; c < pr.l.OutC; c++ {
		for t0 := 0; t0 < k; t0 += tile {
			row := q[c*k+t0 : c*k+min(k, t0+tile)]
			combos := 1
			for range row {
				combos *= 3
			}
			for code := 0; code < combos; code++ {
				var acc int64
				for i, v := 0, code; i < len(row); i, v = i+1, v/3 {
					acc += int64(row[i]) * [3]int64{0, lo, hi}[v%3]
				}
				if acc < amin || acc > amax {
					return fmt.Errorf("channel %d: a dot product reaches %d, outside %d bits", c, acc, pr.p)
				}
			}
		}
	}
	return nil
}

func TestPropertyCertified(t *testing.T) {
	trials := 3000
	if testing.Short() {
		trials = 500
	}
	rng := rand.New(rand.NewPCG(5, 6))
	brute, tiled, balanced := 0, 0, 0
	for trial := 0; trial < trials; trial++ {
		maxK := 64
		small := trial%4 == 0
		switch {
		case small:
			maxK = 6
		case trial%50 == 1:
			maxK = 3 * lazyBlock // several blocks of lazy updates
		}
		pr := randomProblem(rng, maxK)
		if pr.l.Budget.Tile > 0 {
			tiled++
		}
		if pr.l.Budget.Balanced {
			balanced++
		}
		for _, m := range methods {
			q, err := Quantize(pr.l, m, pr.st, Options{})
			if err != nil {
				t.Fatalf("trial %d %s: %v", trial, m, err)
			}
			if err := pr.certify(q); err != nil {
				t.Fatalf("trial %d %s (K %d, M %d, N %d, P %d, %+v): %v", trial, m, pr.l.K, pr.l.Bits, pr.n, pr.p, pr.l.Budget, err)
			}
			if small {
				if err := pr.bruteForce(q); err != nil {
					t.Fatalf("trial %d %s brute force: %v", trial, m, err)
				}
				brute++
			}
		}
	}
	t.Logf("%d layers × %d methods certified (%d tiled, %d balanced), %d brute-forced", trials, len(methods), tiled, balanced, brute)
}

// outErr returns ‖Y − X(sQ)ᵀ‖_F² with Y = ref·Wᵀ.
func outErr(ref, x []float32, rows int, l *Layer, q []int32) float64 {
	k := l.K
	var e float64
	for r := 0; r < rows; r++ {
		for c := 0; c < l.OutC; c++ {
			var y, yq float64
			for i := 0; i < k; i++ {
				y += float64(ref[r*k+i]) * float64(l.W[c*k+i])
				yq += float64(x[r*k+i]) * float64(q[c*k+i]) * float64(l.Scale[c])
			}
			e += (y - yq) * (y - yq)
		}
	}
	return e
}

// TestOutputError checks AXE's claim on random correlated layers: with the
// same budget, GPTQ and GPFQ follow the layer's output better than RTN on
// average (GPFQ the float path's output X̃Wᵀ).
func TestOutputError(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name         string
		plus         bool
		minK, layers int
	}{
		{"a2q", false, 32, 40}, {"a2q+", true, 32, 40},
		{"a2q_wide", false, 2 * lazyBlock, 6}, {"a2q+_wide", true, 2 * lazyBlock, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sum [3]float64
			var sumF [3]float64
			layers := float64(tc.layers)
			for trial := 0; trial < tc.layers; trial++ {
				k, outC, bits := tc.minK+rng.IntN(tc.minK+1), 4, 4+rng.IntN(5)
				rows := 4 * k
				x, xf := correlated(rng, rows, k)
				w := make([]float32, outC*k)
				scale := make([]float32, outC)
				var l1 float64
				for c := range scale {
					var mx float64
					for i := 0; i < k; i++ {
						v := rng.NormFloat64()
						w[c*k+i] = float32(v)
						mx = math.Max(mx, math.Abs(v))
					}
					scale[c] = float32(mx / qmax(bits))
					for i := 0; i < k; i++ {
						l1 += math.Abs(float64(w[c*k+i]) / float64(scale[c]))
					}
				}
				// A moderate budget: 60 % of the mean channel's L1 norm.
				T := 0.6 * l1 / float64(outC)
				b := Budget{L1: T}
				if tc.plus {
					b = Budget{Half: T / 2}
				}
				l := Layer{Name: "corr", W: w, OutC: outC, K: k, Scale: scale, Bits: bits, Budget: b}
				st := NewStats(k)
				if err := st.Add(x, xf, rows); err != nil {
					t.Fatal(err)
				}
				for mi, m := range methods {
					q, err := Quantize(l, m, st, Options{})
					if err != nil {
						t.Fatal(err)
					}
					base := outErr(x, x, rows, &l, make([]int32, len(q)))
					sum[mi] += outErr(x, x, rows, &l, q) / base
					sumF[mi] += outErr(xf, x, rows, &l, q) / outErr(xf, x, rows, &l, make([]int32, len(q)))
				}
			}
			for mi, m := range methods {
				t.Logf("%s: mean relative ‖XWᵀ − X(sQ)ᵀ‖² %.4f, ‖X̃Wᵀ − X(sQ)ᵀ‖² %.4f", m, sum[mi]/layers, sumF[mi]/layers)
			}
			if !(sum[1] < sum[0]) {
				t.Errorf("GPTQ error %.4f not below RTN's %.4f", sum[1]/layers, sum[0]/layers)
			}
			if !(sum[2] < sum[0]) {
				t.Errorf("GPFQ error %.4f not below RTN's %.4f", sum[2]/layers, sum[0]/layers)
			}
			if !(sumF[2] < sumF[0]) {
				t.Errorf("GPFQ float-path error %.4f not below RTN's %.4f", sumF[2]/layers, sumF[0]/layers)
			}
		})
	}
}

func TestQuantizeBadInput(t *testing.T) {
	good := Layer{Name: "l", W: make([]float32, 6), OutC: 2, K: 3, Scale: []float32{1, 1}, Bits: 4}
	st := NewStats(3)
	if err := st.Add([]float32{1, 2, 3}, nil, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Layer)
		m    Method
		st   *Stats
	}{
		{"short W", func(l *Layer) { l.W = l.W[:5] }, RTN, nil},
		{"bits", func(l *Layer) { l.Bits = 1 }, RTN, nil},
		{"negative tile", func(l *Layer) { l.Budget.Tile = -1 }, RTN, nil},
		{"infinite budget", func(l *Layer) { l.Budget.L1 = math.Inf(1) }, RTN, nil},
		{"zero scale", func(l *Layer) { l.Scale[1] = 0 }, RTN, nil},
		{"gptq without stats", func(*Layer) {}, GPTQ, nil},
		{"gpfq with wrong K", func(*Layer) {}, GPFQ, NewStats(4)},
		{"gptq with no rows", func(*Layer) {}, GPTQ, NewStats(3)},
		{"unknown method", func(*Layer) {}, "adaround", st},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := good
			l.Scale = []float32{1, 1}
			tc.edit(&l)
			if _, err := Quantize(l, tc.m, tc.st, Options{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestExactWeights checks that with an unconstraining budget and inputs
// that single out each weight, every method rounds to nearest (GPTQ and
// GPFQ have no error to propagate between independent inputs).
func TestExactWeights(t *testing.T) {
	k := 5
	w := []float32{0.4, -1.6, 2.2, 0, -3}
	x := make([]float32, k*k)
	for i := 0; i < k; i++ {
		x[i*k+i] = 1
	}
	st := NewStats(k)
	if err := st.Add(x, x, k); err != nil {
		t.Fatal(err)
	}
	l := Layer{Name: "id", W: w, OutC: 1, K: k, Scale: []float32{1}, Bits: 4, Budget: Budget{L1: 100}}
	for _, tc := range []struct {
		m    Method
		want []int32
	}{
		{RTN, []int32{0, -1, 2, 0, -3}}, // toward zero
		{GPTQ, []int32{0, -2, 2, 0, -3}},
		{GPFQ, []int32{0, -2, 2, 0, -3}},
	} {
		q, err := Quantize(l, tc.m, st, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(q) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.m, q, tc.want)
		}
	}
}

// TestInvChol checks UᵀU = (H + λI)⁻¹ against gonum's inverse, with a dead
// input.
func TestInvChol(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, k := range []int{1, 2, 7, 40} {
		x, _ := correlated(rng, 3*k, k)
		st := NewStats(k)
		if err := st.Add(x, nil, 3*k); err != nil {
			t.Fatal(err)
		}
		if k > 1 {
			for j := 0; j < k; j++ {
				st.H[1*k+j], st.H[j*k+1] = 0, 0
			}
		}
		u, dead, err := invChol(st.H, k, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		a := make([]float64, k*k)
		copy(a, st.H)
		var mean float64
		for i := 0; i < k; i++ {
			if a[i*k+i] == 0 {
				a[i*k+i] = 1
				if !dead[i] {
					t.Errorf("k = %d: input %d not reported dead", k, i)
				}
			}
			mean += a[i*k+i]
		}
		for i := 0; i < k; i++ {
			a[i*k+i] += 0.01 * mean / float64(k)
		}
		// (UᵀU)·A must be the identity.
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				var v float64
				for m := 0; m < k; m++ {
					var inv float64 // (UᵀU)[i][m]
					for l := 0; l <= min(i, m); l++ {
						inv += u[l*k+i] * u[l*k+m]
					}
					v += inv * a[m*k+j]
				}
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(v-want) > 1e-8 {
					t.Fatalf("k = %d: (UᵀU·A)[%d][%d] = %v, want %v", k, i, j, v, want)
				}
			}
		}
		for i := 0; i < k; i++ {
			for j := 0; j < i; j++ {
				if u[i*k+j] != 0 {
					t.Fatalf("k = %d: U[%d][%d] = %v below the diagonal", k, i, j, u[i*k+j])
				}
			}
		}
	}
}

// refGPTQ and refGPFQ are the methods without lazy updates, in float64, as
// the package doc states them.
func refGPTQ(l *Layer, st *Stats) []int32 {
	k := l.K
	u, dead, err := invChol(st.H, k, 0.01)
	if err != nil {
		panic(err)
	}
	w, th, nt := scaled(l), thresholds(l), l.Budget.tiles(k)
	tr, m, q := newTracker(l.Budget, l.Bits, l.OutC), qmax(l.Bits), make([]int32, l.OutC*k)
	for i := 0; i < k; i++ {
		tr.start(i)
		for c := 0; c < l.OutC; c++ {
			row := w[c*k : (c+1)*k]
			x := 0.0
			if dead[i] {
				row[i] = 0
			} else {
				lo, hi := tr.bounds(c)
				x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(row[i], th[c*nt+l.Budget.tileOf(i)])))))
			}
			q[c*k+i] = tr.take(c, x)
			e := (row[i] - float64(q[c*k+i])) / u[i*k+i]
			for j := i + 1; j < k; j++ {
				row[j] -= e * u[i*k+j]
			}
		}
	}
	return q
}

func refGPFQ(l *Layer, st *Stats) []int32 {
	k, h, g := l.K, st.H, st.G
	w, th, nt := scaled(l), thresholds(l), l.Budget.tiles(k)
	tr, m, q := newTracker(l.Budget, l.Bits, l.OutC), qmax(l.Bits), make([]int32, l.OutC*k)
	for t := 0; t < k; t++ {
		tr.start(t)
		for c := 0; c < l.OutC; c++ {
			x := 0.0
			if h[t*k+t] != 0 {
				a := g[t*k+t] * w[c*k+t]
				for j := 0; j < t; j++ {
					a += g[t*k+j]*w[c*k+j] - h[t*k+j]*float64(q[c*k+j])
				}
				lo, hi := tr.bounds(c)
				x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(a/h[t*k+t], th[c*nt+l.Budget.tileOf(t)])))))
			}
			q[c*k+t] = tr.take(c, x)
		}
	}
	return q
}

// TestLazyUpdates checks the blocked methods against the plain ones over
// several blocks: the same weights but for float32 near-ties.
func TestLazyUpdates(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for trial := 0; trial < 6; trial++ {
		k := lazyBlock + 1 + rng.IntN(2*lazyBlock)
		rows := 2 * k
		x, xf := correlated(rng, rows, k)
		st := NewStats(k)
		if err := st.Add(x, xf, rows); err != nil {
			t.Fatal(err)
		}
		outC := 3
		w := make([]float32, outC*k)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		b := Budget{L1: float64(k)}
		if trial%2 == 1 {
			b = Budget{Half: float64(k) / 3, Tile: 1 + rng.IntN(k)}
		}
		l := Layer{Name: "lazy", W: w, OutC: outC, K: k, Scale: []float32{0.05, 0.1, 0.2}, Bits: 6, Budget: b}
		for _, tc := range []struct {
			m   Method
			ref func(*Layer, *Stats) []int32
		}{{GPTQ, refGPTQ}, {GPFQ, refGPFQ}} {
			q, err := Quantize(l, tc.m, st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.ref(&l, st)
			diff := 0
			for i := range q {
				if q[i] != want[i] {
					diff++
				}
			}
			if diff > len(q)/50 {
				t.Errorf("trial %d %s (K %d, %+v): %d of %d weights differ from the plain method", trial, tc.m, k, b, diff, len(q))
			}
		}
	}
}
