package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestMaxPoolReference compares MaxPool (including its 2×2 fast paths)
// with a direct loop, values and argmax indices, and MaxPoolBackward (and
// MaxPoolGrad, over garbage) with the gradient routed to each window's
// argmax.
func TestMaxPoolReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ n, h, w, ch, k, s int }{{2, 6, 6, 3, 2, 2}, {1, 7, 5, 4, 2, 2}, {2, 5, 5, 2, 3, 1}, {1, 4, 4, 1, 2, 1}, {2, 6, 7, 19, 2, 2}} {
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
		dy := make([]float32, len(y))
		for i := range dy {
			dy[i] = float32(i + 1)
		}
		dx := make([]float32, len(x))
		MaxPoolBackward(2, &g, dy, arg, dx)
		wantDx := make([]float32, len(x))
		for n := 0; n < c.n; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					for ch := 0; ch < c.ch; ch++ {
						best, bi, bx := float32(-1), -1, -1
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								i := ((n*c.h+oh*c.s+kh)*c.w+ow*c.s+kw)*c.ch + ch
								if x[i] > best {
									best, bi, bx = x[i], kh*c.k+kw, i
								}
							}
						}
						o := ((n*g.OH+oh)*g.OW+ow)*c.ch + ch
						if y[o] != best || int(arg[o]) != bi {
							t.Fatalf("%+v: out %d = %v at %d, want %v at %d", c, o, y[o], arg[o], best, bi)
						}
						wantDx[bx] += dy[o]
					}
				}
			}
		}
		for i := range dx {
			if dx[i] != wantDx[i] {
				t.Fatalf("%+v: dx[%d] = %v, want %v", c, i, dx[i], wantDx[i])
			}
		}
		// MaxPoolGrad writes the same gradient over whatever dx held.
		for i := range dx {
			dx[i] = float32(rng.NormFloat64())
		}
		MaxPoolGrad(2, &g, dy, arg, dx)
		for i := range dx {
			if dx[i] != wantDx[i] {
				t.Fatalf("%+v: MaxPoolGrad: dx[%d] = %v, want %v", c, i, dx[i], wantDx[i])
			}
		}
	}
}
