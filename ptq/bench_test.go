package ptq

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchLayer returns a random outC×k layer at W8, P = 16, N = 8 (A2Q) with
// statistics from 4k rows.
func benchLayer(b *testing.B, k, outC int) (Layer, *Stats) {
	rng := rand.New(rand.NewPCG(9, 10))
	w := make([]float32, outC*k)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	scale := make([]float32, outC)
	for c := range scale {
		scale[c] = 4.0 / 127
	}
	rows := 4 * k
	x := make([]float32, rows*k)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	st := NewStats(k)
	if err := st.Add(x, x, rows); err != nil {
		b.Fatal(err)
	}
	l := Layer{Name: "bench", W: w, OutC: outC, K: k, Scale: scale, Bits: 8, Budget: Budget{L1: 127.0 * 2 / 255 * 128}}
	return l, st
}

// BenchmarkQuantize times the methods on the reference CNN's largest layer
// shapes: its dense layer (K = 1600, 10 outputs) and conv2 (K = 288, 64
// outputs).
func BenchmarkQuantize(b *testing.B) {
	for _, sh := range []struct{ k, outC int }{{1600, 10}, {288, 64}} {
		l, st := benchLayer(b, sh.k, sh.outC)
		for _, m := range methods {
			b.Run(fmt.Sprintf("%s/K%d_OutC%d", m, sh.k, sh.outC), func(b *testing.B) {
				for b.Loop() {
					if _, err := Quantize(l, m, st, Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// naiveAdd is the row-by-row accumulation Stats.Add replaced, kept as the
// benchmark's baseline.
func naiveAdd(st *Stats, x, xf []float32, rows int) {
	k := st.K
	for r := 0; r < rows; r++ {
		row := x[r*k : (r+1)*k]
		for i, a := range row {
			h := st.H[i*k : (i+1)*k]
			for j, v := range row {
				h[j] += float64(a) * float64(v)
			}
			if xf != nil {
				g := st.G[i*k : (i+1)*k]
				for j, v := range xf[r*k : (r+1)*k] {
					g[j] += float64(a) * float64(v)
				}
			}
		}
	}
	st.Rows += rows
}

// BenchmarkStatsAdd times accumulating H and G over 8192 rows of conv2's
// and the dense layer's inputs (the reference CNN's 512 calibration images
// give about 100k rows of conv2), beside the row-by-row baseline on conv2.
func BenchmarkStatsAdd(b *testing.B) {
	const rows = 8192
	for _, k := range []int{288, 1600} {
		rng := rand.New(rand.NewPCG(11, 12))
		x, xf := make([]float32, rows*k), make([]float32, rows*k)
		for i := range x {
			x[i], xf[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		b.Run(fmt.Sprintf("gemm/K%d", k), func(b *testing.B) {
			st := NewStats(k)
			for b.Loop() {
				if err := st.Add(x, xf, rows); err != nil {
					b.Fatal(err)
				}
			}
		})
		if k > 288 {
			continue // the baseline takes a minute
		}
		b.Run(fmt.Sprintf("naive/K%d", k), func(b *testing.B) {
			st := NewStats(k)
			st.G = make([]float64, k*k)
			for b.Loop() {
				naiveAdd(st, x, xf, rows)
			}
		})
	}
}
