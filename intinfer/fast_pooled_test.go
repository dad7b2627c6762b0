package intinfer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestIm2colPool2 compares the patches in pool-window order with
// im2colU8's, row by row, on random convolutions with even output sizes
// (padded or not, strides 1 and 2, runs short enough for the word kernel
// and longer, and the one-channel 3×3 shape of the block kernel), with and
// without the vector kernels; rows must come out in window order and every
// padding byte zero.
func TestIm2colPool2(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	kernel, blocks := 0, 0
	for trial := 0; trial < 300; trial++ {
		g := tensor.ConvGeom{N: 1 + rng.IntN(3), H: 3 + rng.IntN(12), W: 3 + rng.IntN(12), C: 1 + rng.IntN(6),
			KH: 1 + rng.IntN(3), Stride: 1 + rng.IntN(2), Groups: 1, Cout: 1}
		g.KW = 1 + rng.IntN(3)
		if trial%3 == 0 {
			g.KH, g.KW, g.C = 3, 3, 1 // the reference CNN's conv1 shape
		}
		g.Pad = rng.IntN(2)
		if g.Validate() != nil || g.OH%2 != 0 || g.OW%2 != 0 {
			continue
		}
		lda := g.KPerGroup + (4-g.KPerGroup%4)%4
		x := make([]uint8, g.N*g.H*g.W*g.C+slack)
		for i := range x {
			x[i] = uint8(rng.Uint32())
		}
		rows := g.N * g.OH * g.OW
		want := make([]uint8, rows*lda+slack)
		im2colU8(&g, x, 0, want, lda)
		if g.KH == 3 && g.KW*g.C <= 8 {
			kernel++
		}
		if g.KH == 3 && g.KW == 3 && g.C == 1 && g.Stride == 1 && lda == 12 {
			blocks++
		}
		for _, impl := range append(vecImpls(), "go") {
			forceVec(t, impl)
			col := make([]uint8, len(want))
			for i := range col {
				col[i] = 0xAA
			}
			var pad []uint8
			im2colPool2(&g, x, col, lda, &pad)
			r := 0
			for b := 0; b < g.N; b++ {
				for i := 0; i < g.OH/2; i++ {
					for j := 0; j < g.OW/2; j++ {
						for _, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
							src := ((b*g.OH+2*i+d[0])*g.OW + 2*j + d[1]) * lda
							if !slices.Equal(col[r*lda:(r+1)*lda], want[src:src+lda]) {
								t.Fatalf("trial %d, %s, %+v: window row %d is not position (%d, %d, %d)", trial, impl, g, r, b, 2*i+d[0], 2*j+d[1])
							}
							r++
						}
					}
				}
			}
		}
	}
	if kernel == 0 || blocks == 0 {
		t.Fatalf("%d cases for the word kernel, %d for the block kernel: want some of each", kernel, blocks)
	}
}

// TestPooledProduct runs the layers whose 2×2 pool can run inside the
// product (intgemm.Kernel.MulU8Max4, on the broadcast 32-bit kernel and on
// VNNI's: the reference CNN's conv1, the small models' convolutions on the
// 32-bit path, signed inputs and padding among them) with and without the
// vector kernels and VNNI, and compares the outputs and captured inputs with
// the scalar reference bit for bit.
func TestPooledProduct(t *testing.T) {
	cases := fusedCases(t)
	for _, name := range []string{"cnn", "tiny0", "tiny1", "tiny3"} {
		m := cases[name]
		lo := 0.0
		if m.Layers()[0].InputSigned {
			lo = -0.6
		}
		n := 2*chunkImages + 3
		x := randImages(rand.New(rand.NewPCG(uint64(len(name)), 9)), n, m, lo, 1)
		ref, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: PathScalar})
		if err != nil {
			t.Fatal(err)
		}
		want := ref.Run(x, n, true)
		for _, impl := range append(vecImpls(), "go") {
			forceVec(t, impl)
			for _, th := range []int{1, 2} {
				for _, noVNNI := range []bool{true, false} {
					e, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: PathAcc32, NoVNNI: noVNNI, Threads: th})
					if err != nil {
						t.Fatal(err)
					}
					// VNNI's kernels pool unsigned inputs only.
					if want := noVNNI || !intgemm.HasVNNI() || !m.Layers()[0].InputSigned; e.plan.stages[0].pooled != want {
						t.Fatalf("%s, %s, NoVNNI %v: the first layer pools in its product: %v, want %v (%s)", name, impl, noVNNI, !want, want, e.Layers()[0].Reason)
					}
					got := e.Run(x, n, true)
					if !slices.Equal(got.Out, want.Out) || !slices.Equal(got.Overflows, want.Overflows) {
						t.Errorf("%s, %s, %d threads: pooled output differs from the scalar reference", name, impl, th)
					}
					for li := range want.Inputs {
						if !slices.Equal(got.Inputs[li], want.Inputs[li]) {
							t.Errorf("%s, %s, %d threads: layer %d's input differs", name, impl, th, li)
						}
					}
				}
			}
		}
	}
}
