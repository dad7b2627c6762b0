package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
)

// tileSums returns q⁺ and q⁻ of q[lo:hi].
func tileSums(q []int32) (pos, neg int64) {
	for _, v := range q {
		if v > 0 {
			pos += int64(v)
		} else {
			neg -= int64(v)
		}
	}
	return pos, neg
}

// TestTiledBudgetProperty: random tiled A2Q and A2Q+ layers (K rarely a
// multiple of the tile) after random training steps hold the budget in
// every tile, and their exact inner accumulator width (accum.TiledBits) is
// at most P.
func TestTiledBudgetProperty(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	for _, mode := range []Mode{A2Q, A2QPlus} {
		rng := rand.New(rand.NewPCG(21, 22))
		for trial := 0; trial < n; trial++ {
			m := 2 + rng.IntN(7)
			nb := 1 + rng.IntN(8)
			signed := rng.IntN(2) == 0
			p := accum.MinBitsForNonzero(nb, signed, mode == A2QPlus) + rng.IntN(12)
			k := 2 + rng.IntN(300)
			tile := 1 + rng.IntN(k-1)
			cout := 1 + rng.IntN(4)
			w := randWQ(rng, mode, cout, k, m, nb, p, signed)
			w.layer.Tile = tile
			w.InitFromWeights(trial%2 == 0)
			if w.Tile() != tile {
				t.Fatalf("Tile() = %d, want %d (K %d)", w.Tile(), tile, k)
			}
			budget := w.Budget()
			for step := 0; step < 3; step++ {
				for i := range w.V.Value.Data {
					w.V.Value.Data[i] += float32(rng.NormFloat64() * 0.05)
				}
				for c := 0; c < cout; c++ {
					w.Log2G.Value.Data[c] += float32(rng.NormFloat64() * 2)
					w.Log2S.Value.Data[c] += float32(rng.NormFloat64())
				}
				qi, _ := w.IntegerWeights()
				for c := 0; c < cout; c++ {
					for lo := 0; lo < k; lo += tile {
						pos, neg := tileSums(qi[c*k+lo : c*k+min(lo+tile, k)])
						ok := float64(pos+neg) <= budget
						if mode == A2QPlus {
							ok = float64(pos) <= budget/2 && float64(neg) <= budget/2
						}
						if !ok {
							t.Fatalf("%s M=%d N=%d signed=%v P=%d K=%d tile %d: channel %d tile %d has q+=%d q-=%d, budget %v",
								mode, m, nb, signed, p, k, tile, c, lo/tile, pos, neg, budget)
						}
					}
				}
				if inner, outer := accum.TiledBits(qi, cout, k, tile, nb, signed); inner > p || outer > accum.OuterBits(p, k, tile) {
					t.Fatalf("%s M=%d N=%d signed=%v P=%d K=%d tile %d: inner accumulator %d bits, outer %d", mode, m, nb, signed, p, k, tile, inner, outer)
				}
			}
		}
	}
}

// TestTileAtLeastKUntiled: a tile of K or more terms is one stage
// (LayerConfig.TileFor), so the quantizer computes exactly the untiled
// integers and gradients.
func TestTileAtLeastKUntiled(t *testing.T) {
	for _, mode := range []Mode{A2Q, A2QPlus} {
		for _, tile := range []int{40, 41, 1000} {
			run := func(tile int) ([]float32, map[*nn.Param][]float32, []float32) {
				rng := rand.New(rand.NewPCG(5, 5))
				w := randWQ(rng, mode, 3, 40, 6, 6, 14, false)
				w.layer.Tile = tile
				w.InitFromWeights(true)
				r, rs := make([]float32, 120), make([]float32, 3)
				for i := range r {
					r[i] = float32(rng.NormFloat64())
				}
				_, g := weightLoss(w, r, rs)
				q, _ := w.Integers()
				return q, g, slices.Clone(w.V.Value.Data)
			}
			q0, g0, v0 := run(0)
			q1, g1, v1 := run(tile)
			if !slices.Equal(q0, q1) || !slices.Equal(v0, v1) {
				t.Errorf("%s tile %d ≥ K: integers or initialised weights differ from the untiled ones", mode, tile)
			}
			if len(g0) != len(g1) {
				t.Fatalf("%s tile %d: %d gradients, want %d", mode, tile, len(g1), len(g0))
			}
			for p, g := range g0 {
				found := false
				for p1, h := range g1 {
					if p1.Name == p.Name {
						found = true
						if !slices.Equal(g, h) {
							t.Errorf("%s tile %d: gradient of %s differs from the untiled one", mode, tile, p.Name)
						}
					}
				}
				if !found {
					t.Errorf("%s tile %d: no gradient for %s", mode, tile, p.Name)
				}
			}
		}
	}
}

// TestTiledInit: InitFromWeights with the projection centres each tile
// (A2Q+), projects it onto the L1 ball of radius s·T, records the channel's
// centred L1 norm, and sets g so that the first integers are the projected
// weights truncated in units of s. (KeepProjectedNorm leaves V as
// projected; TestInitLiftsNorm checks the lift.)
func TestTiledInit(t *testing.T) {
	for _, tc := range []struct {
		mode    Mode
		k, tile int
		m, p    int
	}{
		{A2Q, 100, 32, 8, 14},
		{A2QPlus, 100, 32, 8, 14},
		{A2QPlus, 288, 64, 4, 12},
		{A2Q, 50, 7, 6, 12},
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.tile)))
		w := randWQ(rng, tc.mode, 4, tc.k, tc.m, 8, tc.p, false)
		w.layer.Tile = tc.tile
		w.KeepProjectedNorm = true
		for i := range w.V.Value.Data {
			w.V.Value.Data[i] += 0.1 // tiles not centred
		}
		cout, k := w.Channels()
		orig := slices.Clone(w.V.Value.Data)
		w.InitFromWeights(true)
		q, log2s := w.Integers()
		bt := w.Budget()
		var projected, off int
		for c := 0; c < cout; c++ {
			s := float64(Exp2(log2s[c]))
			var ref float64
			for lo := 0; lo < k; lo += tc.tile {
				hi := min(lo+tc.tile, k)
				var mu float32
				if tc.mode == A2QPlus {
					mu = mean(orig[c*k+lo : c*k+hi])
				}
				var l1, sum float64
				for i := c*k + lo; i < c*k+hi; i++ {
					ref += math.Abs(float64(orig[i] - mu))
					l1 += math.Abs(float64(w.V.Value.Data[i]))
					sum += float64(w.V.Value.Data[i])
					if want := math.Trunc(float64(w.V.Value.Data[i]) / s); float64(q[i]) != want {
						off++
						if math.Abs(float64(q[i])-want) > 1 {
							t.Errorf("%s K %d tile %d: weight %d quantized to %v, projected %v", tc.mode, k, tc.tile, i, q[i], want)
						}
					}
				}
				if l1 > s*bt*(1+1e-5) {
					t.Errorf("%s K %d tile %d: channel %d tile %d: L1 %g above s·T = %g", tc.mode, k, tc.tile, c, lo/tc.tile, l1, s*bt)
				}
				if l1 > s*bt*(1-1e-3) {
					projected++
				}
				if tc.mode == A2QPlus && math.Abs(sum) > 1e-4*max(l1, s) {
					t.Errorf("%s K %d tile %d: channel %d tile %d sums to %g", tc.mode, k, tc.tile, c, lo/tc.tile, sum)
				}
			}
			if got := w.ReferenceL1()[c]; math.Abs(got-ref) > 1e-4*ref {
				t.Errorf("%s K %d tile %d: channel %d: ReferenceL1 %g, want %g", tc.mode, k, tc.tile, c, got, ref)
			}
		}
		// Truncation at an exact multiple of s may land either side.
		if off > cout*k/100 {
			t.Errorf("%s K %d tile %d: %d of %d integers are not the projected weights truncated", tc.mode, k, tc.tile, off, cout*k)
		}
		if projected == 0 {
			t.Errorf("%s K %d tile %d: no tile reached its budget: the test does not exercise the projection", tc.mode, k, tc.tile)
		}
	}
}

// TestTiledPenalty: a tiled layer's penalty is λ·Σ_c relu(g_c − T·tiles·s_c).
func TestTiledPenalty(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, tc := range []struct {
		k, tile, tiles int
	}{{100, 32, 4}, {100, 0, 1}, {64, 64, 1}} {
		w := randWQ(rng, A2Q, 3, tc.k, 8, 8, 16, false)
		w.layer.Tile = tc.tile
		bt := w.Budget()
		for c := range w.Log2G.Value.Data {
			w.Log2G.Value.Data[c] = w.Log2S.Value.Data[c] + float32(math.Log2(bt*float64(tc.tiles))) + float32(c) - 1
		}
		var want float64
		for c := range w.Log2G.Value.Data {
			g := math.Exp2(float64(w.Log2G.Value.Data[c]))
			want += max(g-bt*float64(tc.tiles)*math.Exp2(float64(w.Log2S.Value.Data[c])), 0)
		}
		want *= PenaltyWeight
		got := float64(w.Penalty(autodiff.NewTape(1)).Value.Data[0])
		if math.Abs(got-want) > 1e-5*want || want == 0 {
			t.Errorf("K %d tile %d: penalty %g, want %g", tc.k, tc.tile, got, want)
		}
	}
}

// TestCentring checks Centring against a direct solution of its problem:
// the d minimising dᵀ·A·d (A = Σ + ρ·tr(Σ)/K·I) subject to every tile of
// w − d summing to zero, from the KKT system [A B; Bᵀ 0]·[d; ν] = [0; s]
// (B the tiles' indicators, s their sums), and the bias change d·m.
func TestCentring(t *testing.T) {
	for _, tc := range []struct {
		k, tile int
		rho     float64
	}{
		{12, 5, 1},
		{12, 4, 0.1},
		{12, 0, 1},
		{12, 5, math.Inf(1)},
		{12, 0, math.Inf(1)},
		{7, 3, 10},
		{9, 9, 1}, // one tile: untiled
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.tile)))
		k := tc.k
		// A covariance with correlated inputs: L·Lᵀ/k for random L.
		l := make([]float64, k*k)
		for i := range l {
			l[i] = rng.NormFloat64()
		}
		cov := mat.NewSymDense(k, nil)
		var tr float64
		for i := 0; i < k; i++ {
			for j := i; j < k; j++ {
				var v float64
				for r := 0; r < k; r++ {
					v += l[i*k+r] * l[j*k+r]
				}
				cov.SetSym(i, j, v/float64(k))
			}
			tr += cov.At(i, i)
		}
		m := make([]float64, k)
		w := make([]float32, k)
		for i := range w {
			w[i] = float32(rng.NormFloat64() + 0.3)
			m[i] = rng.Float64()
		}
		ce := NewCentring(cov, tr, tc.rho, tc.tile)
		if ce == nil {
			t.Fatalf("K %d tile %d ρ %g: no centring", k, tc.tile, tc.rho)
		}
		dst := make([]float32, k)
		db := ce.Centre(dst, w, m)

		tile := tc.tile
		if tile == 0 {
			tile = k
		}
		tiles := (k + tile - 1) / tile
		n := k + tiles
		kkt := mat.NewDense(n, n, nil)
		rhs := mat.NewVecDense(n, nil)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				a := cov.At(i, j)
				if math.IsInf(tc.rho, 1) {
					a = 0
					if i == j {
						a = 1
					}
				} else if i == j {
					a += tc.rho * tr / float64(k)
				}
				kkt.Set(i, j, a)
			}
			kkt.Set(i, k+i/tile, 1)
			kkt.Set(k+i/tile, i, 1)
			rhs.SetVec(k+i/tile, rhs.AtVec(k+i/tile)+float64(w[i]))
		}
		var sol mat.VecDense
		if err := sol.SolveVec(kkt, rhs); err != nil {
			t.Fatal(err)
		}
		var wantDB float64
		for i := 0; i < k; i++ {
			d := sol.AtVec(i)
			wantDB += d * m[i]
			if got := float64(w[i] - dst[i]); math.Abs(got-d) > 1e-5*(1+math.Abs(d)) {
				t.Errorf("K %d tile %d ρ %g: d[%d] = %.7g, want %.7g", k, tc.tile, tc.rho, i, got, d)
			}
		}
		if math.Abs(db-wantDB) > 1e-5*(1+math.Abs(wantDB)) {
			t.Errorf("K %d tile %d ρ %g: bias change %.7g, want %.7g", k, tc.tile, tc.rho, db, wantDB)
		}
		for lo := 0; lo < k; lo += tile {
			var sum float64
			for _, v := range dst[lo:min(lo+tile, k)] {
				sum += float64(v)
			}
			if math.Abs(sum) > 1e-5 {
				t.Errorf("K %d tile %d ρ %g: tile %d sums to %g after centring", k, tc.tile, tc.rho, lo/tile, sum)
			}
		}
	}
}

// TestProjectHalves: the result has q⁺, q⁻ ≤ z, a vector already there is
// unchanged, a zero-sum vector stays zero-sum, and it is the Euclidean
// projection: (v − p)·(y − p) ≤ 0 for every y in the set (checked on
// random y).
func TestProjectHalves(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	sides := func(v []float32) (pos, neg float64) {
		for _, x := range v {
			pos, neg = pos+max(float64(x), 0), neg+max(-float64(x), 0)
		}
		return pos, neg
	}
	for trial := 0; trial < 500; trial++ {
		k := 1 + rng.IntN(40)
		v := make([]float32, k)
		var mu float64
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			mu += float64(v[i]) / float64(k)
		}
		centred := trial%2 == 0
		if centred {
			for i := range v {
				v[i] -= float32(mu)
			}
		}
		p0, n0 := sides(v)
		z := max(p0, n0) * rng.Float64() * 1.2
		p := slices.Clone(v)
		ProjectHalves(p, z)
		pos, neg := sides(p)
		if pos > z*(1+1e-5)+1e-6 || neg > z*(1+1e-5)+1e-6 {
			t.Fatalf("trial %d: q⁺ = %g, q⁻ = %g above z = %g", trial, pos, neg, z)
		}
		if p0 <= z && n0 <= z && !slices.Equal(p, v) {
			t.Fatalf("trial %d: a vector inside moved", trial)
		}
		if centred && math.Abs(pos-neg) > 1e-4*(1+pos) {
			t.Fatalf("trial %d: centred vector now sums to %g", trial, pos-neg)
		}
		for try := 0; try < 20; try++ {
			y := make([]float64, k)
			for i := range y {
				y[i] = rng.NormFloat64()
			}
			var yp, yn float64
			for _, x := range y {
				yp, yn = yp+max(x, 0), yn+max(-x, 0)
			}
			sc := 1.0
			if yp > z {
				sc = z / yp
			}
			if yn > z {
				sc = min(sc, z/yn)
			}
			var ip float64
			for i := range y {
				ip += float64(v[i]-p[i]) * (y[i]*sc - float64(p[i]))
			}
			if ip > 1e-4 {
				t.Fatalf("trial %d: (v − p)·(y − p) = %g > 0 for a y in the set", trial, ip)
			}
		}
	}
}
