package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestMaxPoolReference compares MaxPool (including its 2×2 fast path)
// with a direct loop, values and argmax indices.
func TestMaxPoolReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ n, h, w, ch, k, s int }{{2, 6, 6, 3, 2, 2}, {1, 7, 5, 4, 2, 2}, {2, 5, 5, 2, 3, 1}, {1, 4, 4, 1, 2, 1}} {
		g := PoolGeom{N: c.n, H: c.h, W: c.w, C: c.ch, K: c.k, Stride: c.s}
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, c.n*c.h*c.w*c.ch)
		for i := range x {
			x[i] = float32(rng.IntN(5)) // ties: the first maximum must win
		}
		y := make([]float32, c.n*g.OH*g.OW*c.ch)
		arg := make([]uint8, len(y))
		MaxPool(2, &g, x, y, arg)
		for n := 0; n < c.n; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					for ch := 0; ch < c.ch; ch++ {
						best, bi := float32(-1), -1
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								i := ((n*c.h+oh*c.s+kh)*c.w+ow*c.s+kw)*c.ch + ch
								if x[i] > best {
									best, bi = x[i], kh*c.k+kw
								}
							}
						}
						o := ((n*g.OH+oh)*g.OW+ow)*c.ch + ch
						if y[o] != best || int(arg[o]) != bi {
							t.Fatalf("%+v: out %d = %v at %d, want %v at %d", c, o, y[o], arg[o], best, bi)
						}
					}
				}
			}
		}
	}
}
