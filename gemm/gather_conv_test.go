package gemm_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestSgemmGatherConv computes unpadded convolutions as gathered products
// and compares them bit for bit with tensor.Im2col followed by Sgemm (and
// SgemmB where the weights pack), and their weights' gradients
// (SgemmGatherRight) with the output gradient times the patch matrix by
// SgemmParallel, on every kernel family: the reference
// CNN's layers, strides, channel counts, kernel shapes, groups, outputs
// cropped for a pool, odd row counts, patches spanning several k-blocks,
// wide outputs and weights too large to pack whole.
func TestSgemmGatherConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	tests := []struct {
		g    tensor.ConvGeom
		crop int // rows and columns cut off the output, as for a pool
	}{
		{tensor.ConvGeom{N: 2, H: 28, W: 28, C: 1, KH: 3, KW: 3, Cout: 32}, 0},
		{tensor.ConvGeom{N: 2, H: 13, W: 13, C: 32, KH: 3, KW: 3, Cout: 64}, 1},
		{tensor.ConvGeom{N: 1, H: 9, W: 8, C: 64, KH: 3, KW: 3, Cout: 64}, 2},
		{tensor.ConvGeom{N: 3, H: 11, W: 10, C: 3, KH: 5, KW: 5, Stride: 2, Cout: 16}, 0},
		{tensor.ConvGeom{N: 2, H: 5, W: 20, C: 5, KH: 1, KW: 7, Stride: 3, Cout: 24}, 0},
		{tensor.ConvGeom{N: 1, H: 8, W: 8, C: 16, KH: 3, KW: 3, Cout: 200}, 0},
		{tensor.ConvGeom{N: 3, H: 7, W: 9, C: 100, KH: 5, KW: 5, Cout: 40}, 0},
		{tensor.ConvGeom{N: 2, H: 6, W: 7, C: 8, KH: 3, KW: 2, Stride: 2, Groups: 2, Cout: 12}, 0},
		{tensor.ConvGeom{N: 1, H: 3, W: 3, C: 7, KH: 3, KW: 3, Cout: 9}, 0},
		{tensor.ConvGeom{N: 5, H: 4, W: 4, C: 2, KH: 2, KW: 2, Stride: 2, Cout: 17}, 0},
	}
	for _, tt := range tests {
		g := tt.g
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		g.OH, g.OW = g.OH-tt.crop, g.OW-tt.crop
		rows, cols, ok := g.PatchOffsets()
		if !ok {
			t.Fatalf("%+v: no patch offsets", g)
		}
		x := make([]float32, g.N*g.H*g.W*g.C)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		w := make([]float32, g.Cout*g.KPerGroup)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		m, k, cog := g.Rows(), g.KPerGroup, g.CoutPerGroup
		col := make([]float32, m*k)
		gemm.ForEachKernel(func(family string) {
			want := make([]float32, m*g.Cout)
			got := make([]float32, m*g.Cout)
			check := func(how string) {
				t.Helper()
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v %s: element %d is %v, im2col %v", family, g, how, i, got[i], want[i])
					}
				}
				clear(got)
			}
			for grp := 0; grp < g.Groups; grp++ {
				tensor.Im2col(1, &g, x, grp, col)
				wg := w[grp*cog*k:]
				gemm.Sgemm(false, true, m, cog, k, col, k, wg, k, 0, want[grp*cog:], g.Cout)
			}
			for _, threads := range []int{1, 2} {
				for grp := 0; grp < g.Groups; grp++ {
					a := gemm.Gather{Data: x[grp*g.CinPerGroup:], Rows: rows, Cols: cols}
					gemm.SgemmGather(threads, a, true, cog, w[grp*cog*k:], k, 0, got[grp*cog:], g.Cout)
				}
				check(fmt.Sprintf("SgemmGather threads=%d", threads))
			}
			packed := true
			for grp := 0; grp < g.Groups && packed; grp++ {
				pb := gemm.PackB(true, cog, k, w[grp*cog*k:], k)
				if packed = pb != nil; packed {
					a := gemm.Gather{Data: x[grp*g.CinPerGroup:], Rows: rows, Cols: cols}
					gemm.SgemmGatherB(a, pb, 0, got[grp*cog:], g.Cout)
				}
			}
			if packed {
				check("SgemmGatherB")
			}
			// The weights' gradient: dyᵀ (cog×m, dy stored m×Cout) times
			// the patch matrix.
			dy := want
			wantW := make([]float32, g.Cout*k)
			for grp := 0; grp < g.Groups; grp++ {
				tensor.Im2col(1, &g, x, grp, col)
				gemm.SgemmParallel(2, true, false, cog, k, m, dy[grp*cog:], g.Cout, col, k, 1, wantW[grp*cog*k:], k)
			}
			for _, threads := range []int{1, 2} {
				gotW := make([]float32, g.Cout*k)
				for grp := 0; grp < g.Groups; grp++ {
					p := gemm.Gather{Data: x[grp*g.CinPerGroup:], Rows: rows, Cols: cols}
					gemm.SgemmGatherRight(threads, true, cog, dy[grp*cog:], g.Cout, p, 1, gotW[grp*cog*k:], k)
				}
				for i := range gotW {
					if math.Float32bits(gotW[i]) != math.Float32bits(wantW[i]) {
						t.Fatalf("%s %+v SgemmGatherRight threads=%d: weight gradient %d is %v, im2col %v", family, g, threads, i, gotW[i], wantW[i])
					}
				}
			}
		})
	}
}

// BenchmarkConv times the reference CNN's convolutions (conv1: 28×28×1,
// 3×3, 32 channels; conv2: 13×13×32, 3×3, 64 channels, output cropped to
// 10×10 for the pool) on one thread with weights packed once: as
// tensor.Im2col and SgemmB, as SgemmB alone on a patch matrix built
// beforehand (directonly), and as SgemmGatherB reading the input in place;
// for the two images of an inference chunk and for a training batch. At
// the training batch also the weights' gradient: tensor.Im2col and Sgemm
// (wgrad-im2col), and SgemmGatherRight (wgrad-gather).
func BenchmarkConv(b *testing.B) {
	layers := []struct {
		name   string
		g      tensor.ConvGeom
		oh, ow int
	}{
		{"conv1", tensor.ConvGeom{H: 28, W: 28, C: 1, KH: 3, KW: 3, Cout: 32}, 26, 26},
		{"conv2", tensor.ConvGeom{H: 13, W: 13, C: 32, KH: 3, KW: 3, Cout: 64}, 10, 10},
	}
	for _, l := range layers {
		for _, n := range []int{2, 128} {
			g := l.g
			g.N = n
			if err := g.Validate(); err != nil {
				b.Fatal(err)
			}
			g.OH, g.OW = l.oh, l.ow
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, g.N*g.H*g.W*g.C)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			w := make([]float32, g.Cout*g.KPerGroup)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			m, k := g.Rows(), g.KPerGroup
			pb := gemm.PackB(true, g.Cout, k, w, k)
			if pb == nil {
				b.Skip("weights do not pack on this CPU")
			}
			c := make([]float32, m*g.Cout)
			col := make([]float32, m*k)
			rows, cols, _ := g.PatchOffsets()
			b.Run(fmt.Sprintf("%s/N=%d/im2col", l.name, n), func(b *testing.B) {
				for b.Loop() {
					tensor.Im2col(1, &g, x, 0, col)
					gemm.SgemmB(m, col, k, pb, 0, c, g.Cout)
				}
			})
			b.Run(fmt.Sprintf("%s/N=%d/directonly", l.name, n), func(b *testing.B) {
				tensor.Im2col(1, &g, x, 0, col)
				for b.Loop() {
					gemm.SgemmB(m, col, k, pb, 0, c, g.Cout)
				}
			})
			b.Run(fmt.Sprintf("%s/N=%d/gather", l.name, n), func(b *testing.B) {
				for b.Loop() {
					gemm.SgemmGatherB(gemm.Gather{Data: x, Rows: rows, Cols: cols}, pb, 0, c, g.Cout)
				}
			})
			if n < 128 {
				continue
			}
			gw := make([]float32, g.Cout*k)
			b.Run(fmt.Sprintf("%s/N=%d/wgrad-im2col", l.name, n), func(b *testing.B) {
				for b.Loop() {
					tensor.Im2col(1, &g, x, 0, col)
					gemm.Sgemm(true, false, g.Cout, k, m, c, g.Cout, col, k, 1, gw, k)
				}
			})
			b.Run(fmt.Sprintf("%s/N=%d/wgrad-gather", l.name, n), func(b *testing.B) {
				for b.Loop() {
					gemm.SgemmGatherRight(1, true, g.Cout, c, g.Cout, gemm.Gather{Data: x, Rows: rows, Cols: cols}, 1, gw, k)
				}
			})
		}
	}
}
