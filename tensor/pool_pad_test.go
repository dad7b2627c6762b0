package tensor

import (
	"math/rand/v2"
	"testing"
)

// TestMaxPoolPaddedReference compares MaxPool with padding against a
// direct loop that skips the padded taps (−∞ never wins), values and
// argmax positions, with ties among the small integer inputs.
func TestMaxPoolPaddedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, c := range []struct{ n, h, w, ch, k, s, p int }{
		{2, 6, 6, 3, 2, 2, 1}, {1, 5, 7, 4, 2, 1, 1}, {2, 5, 5, 2, 3, 2, 1}, {1, 4, 4, 1, 3, 1, 2}, {1, 1, 1, 2, 2, 1, 1},
	} {
		g := PoolGeom{N: c.n, H: c.h, W: c.w, C: c.ch, K: c.k, Stride: c.s, Pad: c.p}
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, c.n*c.h*c.w*c.ch)
		for i := range x {
			x[i] = float32(rng.IntN(5)) - 10 // negative: padding read as 0 would win
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
						best, bi, bx := float32(0), -1, -1
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								ih, iw := oh*c.s-c.p+kh, ow*c.s-c.p+kw
								if ih < 0 || iw < 0 || ih >= c.h || iw >= c.w {
									continue
								}
								i := ((n*c.h+ih)*c.w+iw)*c.ch + ch
								if bi < 0 || x[i] > best {
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
	}
}

func TestPoolGeomRejectsWidePadding(t *testing.T) {
	g := PoolGeom{N: 1, H: 4, W: 4, C: 1, K: 2, Pad: 2}
	if g.Validate() == nil {
		t.Error("padding 2 accepted for a 2×2 window")
	}
}

func TestPoolOut(t *testing.T) {
	tests := []struct{ n, k, stride, pad, want int }{
		{28, 2, 0, 0, 14}, // stride 0: the window's size
		{27, 2, 0, 0, 13}, // the floor
		{5, 3, 1, 0, 3},
		{5, 3, 2, 1, 3},
		{7, 3, 0, 1, 3},
		{2, 2, 0, 0, 1},
	}
	for _, tt := range tests {
		if got := PoolOut(tt.n, tt.k, tt.stride, tt.pad); got != tt.want {
			t.Errorf("PoolOut(%d, %d, %d, %d) = %d, want %d", tt.n, tt.k, tt.stride, tt.pad, got, tt.want)
		}
	}
}
