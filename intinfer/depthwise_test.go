package intinfer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestDepthwise compares the direct depthwise kernel with im2col and dot
// products over strides, padding, kernel sizes, channel counts with and
// without a vector tail and signed inputs, with and without AVX2.
func TestDepthwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ h, w, c, k, stride, pad int }{
		{5, 5, 3, 3, 1, 1}, {7, 6, 16, 3, 2, 1}, {6, 6, 8, 3, 1, 0}, {9, 9, 5, 5, 2, 2}, {4, 4, 32, 1, 1, 0},
		{6, 7, 20, 3, 1, 1}, {8, 8, 24, 3, 2, 1},
	} {
		for _, signed := range []bool{false, true} {
			g := tensor.ConvGeom{N: 2, H: tc.h, W: tc.w, C: tc.c, KH: tc.k, KW: tc.k, Stride: tc.stride, Pad: tc.pad, Groups: tc.c, Cout: tc.c}
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			l := &Layer{Kind: "conv", InC: tc.c, OutC: tc.c, KH: tc.k, KW: tc.k, K: tc.k * tc.k, Groups: tc.c, Weights: make([]int32, tc.c*tc.k*tc.k)}
			for i := range l.Weights {
				l.Weights[i] = int32(rng.IntN(255) - 127)
			}
			d := newDepthwise(&layerRun{l: l}, &g)
			x := make([]uint8, g.N*g.H*g.W*g.C)
			xi := make([]int32, len(x))
			for i := range x {
				x[i] = uint8(rng.IntN(256))
				xi[i] = int32(x[i])
				if signed {
					xi[i] = int32(int8(x[i]))
				}
			}
			want := make([]int32, g.Rows()*g.C)
			col := make([]int32, g.Rows()*g.KPerGroup)
			for grp := 0; grp < g.C; grp++ {
				im2col(1, &g, xi, grp, col)
				w := l.Weights[grp*l.K : (grp+1)*l.K]
				for r := 0; r < g.Rows(); r++ {
					a, _ := dotP(col[r*l.K:(r+1)*l.K], w, 32, intgemm.Exact)
					want[r*g.C+grp] = int32(a)
				}
			}
			got := make([]int32, g.Rows()*g.C)
			var pad []uint8
			for _, impl := range append(vecImpls(), "go") {
				forceVec(t, impl)
				for i := range got {
					got[i] = -1
				}
				d.run(&g, x, signed, got, &pad)
				if !slices.Equal(got, want) {
					t.Errorf("%s, %+v signed %v: direct and im2col differ", impl, tc, signed)
				}
			}
		}
	}
	if newDepthwise(&layerRun{l: &Layer{Kind: "conv"}}, &tensor.ConvGeom{Groups: 1, CinPerGroup: 3, CoutPerGroup: 3}) != nil {
		t.Error("a one-group convolution taken for a depthwise one")
	}
}
