package intinfer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/intgemm"
)

// TestPlanarVNNI runs the planar first layer against a reference written
// out loop by loop (the 3×3 products, the 2×2 maximum, the fused form's
// level in Go), on images whose windows fill whole blocks and ones that do
// not, several images per call, channel counts from 1 to 33, levels of 8
// and 4 bits, and corrections at accumulators the images reach; every
// other byte of the planes must keep its sentinel.
func TestPlanarVNNI(t *testing.T) {
	if !cpuAVX512 || !hasVBMI || !intgemm.HasVNNI() {
		t.Skip("no AVX-512 VBMI and VNNI on this CPU (or a noasm build)")
	}
	forceVec(t, "avx512")
	rng := rand.New(rand.NewPCG(81, 82))
	for _, c := range []struct{ h, w, n, nb int }{
		{28, 28, 32, 3}, {28, 28, 5, 1}, {10, 12, 1, 2}, {6, 30, 33, 2}, {34, 34, 8, 1}, {4, 4, 3, 4},
	} {
		t.Run(fmt.Sprintf("%dx%d/n%d/nb%d", c.h, c.w, c.n, c.nb), func(t *testing.T) {
			oh, ow := (c.h-2)/2, (c.w-2)/2
			w8 := make([]int8, 9*c.n)
			for i := range w8 {
				w8[i] = int8(rng.IntN(256) - 128)
			}
			imgLen := c.h * c.w
			x := make([]uint8, c.nb*imgLen+slack)
			for i := range x {
				x[i] = uint8(rng.IntN(256))
			}
			// The pooled accumulators, loop by loop.
			per := oh * ow
			acc := make([]int32, c.nb*per*c.n)
			for b := range c.nb {
				for wi := range per {
					i, j := wi/ow, wi%ow
					for o := range c.n {
						best := int32(math.MinInt32)
						for _, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
							s := int32(0)
							for r := range 3 {
								for q := range 3 {
									s += int32(w8[o*9+3*r+q]) * int32(x[b*imgLen+(2*i+d[0]+r)*c.w+2*j+d[1]+q])
								}
							}
							best = max(best, s)
						}
						acc[(b*per+wi)*c.n+o] = best
					}
				}
			}
			hi := int32(255)
			if c.n%2 == 1 {
				hi = 15
			}
			f := &fmaForm{m: make([]float32, c.n), c: make([]float32, c.n), lo: 0, hi: hi, fix: make([]int32, 2*c.n)}
			for o := range c.n {
				f.m[o] = float32(math.Exp2(-6 - 4*rng.Float64()))
				f.c[o] = float32(rng.NormFloat64() * 10)
				f.fix[o] = math.MinInt32
				if o%3 == 0 {
					f.fix[o] = acc[rng.IntN(c.nb*per)*c.n+o]                     // an accumulator the images reach
					f.fix[c.n+o] = int32(1+rng.IntN(3)) * int32(1-2*rng.IntN(2)) // ±1…3
				}
			}
			pr := newPlanarRun(c.h, c.w, oh, ow, w8, c.n, f)
			if pr == nil {
				t.Fatal("the layer was refused")
			}
			ldp := c.nb*per + 7
			const sentinel = 0xA5
			planes := slices.Repeat([]uint8{sentinel}, c.n*ldp)
			pr.run(x, c.nb, planes, ldp)
			want := slices.Repeat([]uint8{sentinel}, c.n*ldp)
			hits := 0
			for p := range c.nb * per {
				for o := range c.n {
					a := acc[p*c.n+o]
					want[o*ldp+p] = f.level(o, a)
					if a == f.fix[o] && f.fix[c.n+o] != 0 {
						hits++
					}
				}
			}
			for i := range want {
				if planes[i] != want[i] {
					o, p := i/ldp, i%ldp
					t.Fatalf("channel %d, window %d: kernel %d, reference %d", o, p, planes[i], want[i])
				}
			}
			if hits == 0 && c.n >= 3 {
				t.Error("no accumulator hit a correction")
			}
		})
	}
}

// TestPlanarRefuses checks the shapes the planar layer does not take: an
// image so wide that a block's windows span more than its two loads per
// row.
func TestPlanarRefuses(t *testing.T) {
	f := &fmaForm{m: []float32{1}, c: []float32{0}, hi: 255}
	if pr := newPlanarRun(10, 70, 4, 34, make([]int8, 9), 1, f); pr != nil {
		t.Error("a 70-byte-wide image was taken: two of its window rows are 140 bytes apart")
	}
	if pr := newPlanarRun(28, 28, 13, 13, make([]int8, 9), 1, f); pr == nil {
		t.Error("the reference CNN's first layer was refused")
	}
}
