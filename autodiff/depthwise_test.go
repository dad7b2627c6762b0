package autodiff

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// depthwiseLoops is a depthwise convolution written as direct loops over
// the output pixels (the engine's former implementation, products
// rounded before they are added): it returns the
// output and adds the input and weight gradients for the output gradient
// dy into gx and gw (either may be nil), the weight gradient summed per
// block of images as a tape of the given threads splits them.
func depthwiseLoops(g *tensor.ConvGeom, xd, wd, bd, dy, gx, gw []float32, threads int) []float32 {
	C, kk := g.C, g.KH*g.KW
	od := make([]float32, g.N*g.OH*g.OW*C)
	nt := max(min(threads, g.N), 1)
	chunk := (g.N + nt - 1) / nt
	parts := make([][]float32, nt)
	for ti := range parts {
		parts[ti] = make([]float32, kk*C)
	}
	for n := 0; n < g.N; n++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				o := od[((n*g.OH+oh)*g.OW+ow)*C:][:C]
				d := dy[((n*g.OH+oh)*g.OW+ow)*C:][:C]
				kh0, kh1, kw0, kw1 := g.Window(oh, ow)
				for kh := kh0; kh < kh1; kh++ {
					for kw := kw0; kw < kw1; kw++ {
						off := ((n*g.H+oh*g.Stride-g.Pad+kh)*g.W + ow*g.Stride - g.Pad + kw) * C
						for c := range o {
							wv := wd[c*kk+kh*g.KW+kw]
							o[c] += float32(xd[off+c] * wv)
							parts[n/chunk][(kh*g.KW+kw)*C+c] += float32(d[c] * xd[off+c])
							if gx != nil {
								gx[off+c] += float32(d[c] * wv)
							}
						}
					}
				}
				if bd != nil {
					for c := range o {
						o[c] += bd[c]
					}
				}
			}
		}
	}
	if gw != nil {
		for _, p := range parts {
			for c := 0; c < C; c++ {
				for k := 0; k < kk; k++ {
					gw[c*kk+k] += p[k*C+c]
				}
			}
		}
	}
	return od
}

// TestDepthwiseMatchesLoops checks the depthwise convolution's output and
// gradients bit for bit against direct loops, over strides, paddings,
// kernel shapes, channel counts that leave vector tails, cropped outputs
// and thread counts, with the input's gradient fresh (an intermediate
// value) and accumulated (a leaf holding a gradient already).
func TestDepthwiseMatchesLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tt := range []struct {
		n, h, w, c, kh, kw int
		o                  ConvOptions
		bias               bool
	}{
		{3, 7, 6, 5, 3, 3, ConvOptions{Pad: 1}, true},
		{2, 9, 9, 37, 3, 3, ConvOptions{Stride: 2, Pad: 1}, false},
		{2, 8, 8, 64, 3, 3, ConvOptions{Stride: 2, Pad: 1}, true},
		{2, 6, 7, 40, 5, 3, ConvOptions{Pad: 2}, false},
		{1, 5, 5, 9, 1, 1, ConvOptions{Stride: 2}, true},
		{2, 7, 8, 11, 3, 3, ConvOptions{PoolK: 2}, false},
		{1, 4, 5, 3, 3, 3, ConvOptions{Pad: 3}, false},    // windows wholly in the padding
		{2, 10, 9, 8, 2, 2, ConvOptions{Stride: 3}, true}, // inputs no window reads
		{3, 6, 6, 33, 3, 3, ConvOptions{Stride: 2}, false},
	} {
		x, w, b := randTensor(rng, tt.n, tt.h, tt.w, tt.c), randTensor(rng, tt.c, tt.kh, tt.kw, 1), randTensor(rng, tt.c)
		o := tt.o
		o.Groups = tt.c
		for _, threads := range []int{1, 2, 3} {
			for _, fresh := range []bool{true, false} {
				name := fmt.Sprintf("%dx%dx%dx%d k%dx%d %+v threads %d fresh %v", tt.n, tt.h, tt.w, tt.c, tt.kh, tt.kw, o, threads, fresh)
				tp := NewTape(threads)
				gx0, gw0 := randTensor(rng, x.Shape...), randTensor(rng, w.Shape...)
				gx, gw := gx0.Clone(), gw0.Clone()
				var xv *Var
				if fresh {
					xv = tp.Scale(tp.Leaf(x, tensor.New(x.Shape...)), 1) // its gradient starts unwritten
				} else {
					xv = tp.Leaf(x, gx)
				}
				var bv *Var
				if tt.bias {
					bv = tp.Leaf(b, tensor.New(b.Shape...))
				}
				y := tp.Conv2d(xv, tp.Leaf(w, gw), bv, o)
				tp.Backward(weighted(tp, y, 3))
				g := tensor.ConvGeom{N: tt.n, H: tt.h, W: tt.w, C: tt.c, KH: tt.kh, KW: tt.kw, Stride: o.Stride, Pad: o.Pad, Groups: tt.c, Cout: tt.c}
				if err := g.Validate(); err != nil {
					t.Fatal(err)
				}
				g.OH, g.OW = y.Shape()[1], y.Shape()[2]
				wantGx := gx0.Clone()
				if fresh {
					wantGx = tensor.New(x.Shape...)
				}
				wantGw := gw0.Clone()
				var bd []float32
				if tt.bias {
					bd = b.Data
				}
				want := depthwiseLoops(&g, x.Data, w.Data, bd, y.Grad.Data, wantGx.Data, wantGw.Data, threads)
				sameBits(t, name+" output", y.Value.Data, want)
				sameBits(t, name+" weight gradient", gw.Data, wantGw.Data)
				gotGx := gx.Data
				if fresh {
					gotGx = xv.Grad.Data
				}
				sameBits(t, name+" input gradient", gotGx, wantGx.Data)
			}
		}
	}
}
