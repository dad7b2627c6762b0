package tensor

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveIm2col is the definition of Im2col: entry (row, (kh·KW + kw)·cg + c)
// is input channel c0 + c at pixel (oh·s − p + kh, ow·s − p + kw), or 0
// outside the image.
func naiveIm2col(g *ConvGeom, x []float32, grp int) []float32 {
	cg, k := g.CinPerGroup, g.KPerGroup
	col := make([]float32, g.Rows()*k)
	for n := 0; n < g.N; n++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				row := ((n*g.OH+oh)*g.OW + ow) * k
				for kh := 0; kh < g.KH; kh++ {
					for kw := 0; kw < g.KW; kw++ {
						ih, iw := oh*g.Stride-g.Pad+kh, ow*g.Stride-g.Pad+kw
						if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
							continue
						}
						for c := 0; c < cg; c++ {
							col[row+(kh*g.KW+kw)*cg+c] = x[((n*g.H+ih)*g.W+iw)*g.C+grp*cg+c]
						}
					}
				}
			}
		}
	}
	return col
}

// TestIm2colCol2im checks Im2col against its definition and Col2im as its
// adjoint (⟨Im2col x, c⟩ = ⟨x, Col2im c⟩, exact on small integers) on
// random geometries: padding, strides, groups, kernel rows inside and
// across the image border, outputs cropped to their first rows and columns.
func TestIm2colCol2im(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		groups := 1 + rng.IntN(3)
		g := ConvGeom{N: 1 + rng.IntN(3), H: 1 + rng.IntN(9), W: 1 + rng.IntN(9), C: groups * (1 + rng.IntN(6)),
			KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), Stride: 1 + rng.IntN(3), Pad: rng.IntN(3), Groups: groups, Cout: groups}
		if g.Validate() != nil || g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW {
			continue
		}
		if trial%4 == 3 { // an output cropped for a pool (autodiff.ConvOptions.PoolK)
			g.OH, g.OW = max(1, g.OH-1), max(1, g.OW-1)
		}
		x := make([]float32, g.N*g.H*g.W*g.C)
		for i := range x {
			x[i] = float32(rng.IntN(19) - 9)
		}
		for grp := 0; grp < groups; grp++ {
			col := make([]float32, g.Rows()*g.KPerGroup)
			for i := range col {
				col[i] = 99 // padding entries must be overwritten
			}
			Im2col(1+trial%2, &g, x, grp, col)
			if want := naiveIm2col(&g, x, grp); !slices.Equal(col, want) {
				t.Fatalf("trial %d, %+v, group %d: Im2col differs from its definition", trial, g, grp)
			}
			c := make([]float32, len(col))
			for i := range c {
				c[i] = float32(rng.IntN(19) - 9)
			}
			dx := make([]float32, len(x))
			Col2im(1+trial%2, &g, c, grp, dx)
			var lhs, rhs float64
			for i, v := range col {
				lhs += float64(v) * float64(c[i])
			}
			for i, v := range x {
				rhs += float64(v) * float64(dx[i])
			}
			if lhs != rhs {
				t.Fatalf("trial %d, %+v, group %d: ⟨Im2col x, c⟩ = %v, ⟨x, Col2im c⟩ = %v", trial, g, grp, lhs, rhs)
			}
			if groups == 1 { // Col2imSet writes the same over garbage
				set := make([]float32, len(x))
				for i := range set {
					set[i] = float32(rng.NormFloat64())
				}
				Col2imSet(1+trial%2, &g, c, set)
				if !slices.Equal(set, dx) {
					t.Fatalf("trial %d, %+v: Col2imSet differs from Col2im", trial, g)
				}
			}
		}
	}
}

// TestPatchOffsets checks that the offsets of an unpadded convolution's
// patches address exactly what Im2col copies, for every group, on random
// geometries (strides, groups, cropped outputs), and that a padded
// convolution has none.
func TestPatchOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	checked := 0
	for trial := range 300 {
		groups := 1 + rng.IntN(3)
		g := ConvGeom{N: 1 + rng.IntN(3), H: 1 + rng.IntN(9), W: 1 + rng.IntN(9), C: groups * (1 + rng.IntN(6)),
			KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), Stride: 1 + rng.IntN(3), Pad: rng.IntN(3) / 2, Groups: groups, Cout: groups}
		if g.Validate() != nil || g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW {
			continue
		}
		if trial%4 == 3 { // an output cropped for a pool
			g.OH, g.OW = max(1, g.OH-1), max(1, g.OW-1)
		}
		rows, cols, ok := g.PatchOffsets()
		if g.Pad > 0 {
			if ok || rows != nil || cols != nil {
				t.Fatalf("trial %d, %+v: offsets for a padded convolution", trial, g)
			}
			continue
		}
		if !ok || len(rows) != g.Rows() || len(cols) != g.KPerGroup {
			t.Fatalf("trial %d, %+v: ok %v, %d rows and %d columns", trial, g, ok, len(rows), len(cols))
		}
		x := make([]float32, g.N*g.H*g.W*g.C)
		for i := range x {
			x[i] = float32(i) // distinct: a wrong offset reads a wrong value
		}
		for grp := 0; grp < groups; grp++ {
			col := make([]float32, g.Rows()*g.KPerGroup)
			Im2col(1, &g, x, grp, col)
			xg := x[grp*g.CinPerGroup:]
			for r, ro := range rows {
				for p, co := range cols {
					if got, want := xg[ro+co], col[r*g.KPerGroup+p]; got != want {
						t.Fatalf("trial %d, %+v, group %d: patch (%d, %d) reads %v, Im2col has %v", trial, g, grp, r, p, got, want)
					}
				}
			}
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d unpadded geometries checked", checked)
	}
}

// BenchmarkIm2col copies the patches of the reference CNN's two
// convolutions for a batch of 128 images, and adds them back.
func BenchmarkIm2col(b *testing.B) {
	for _, c := range []struct {
		name string
		g    ConvGeom
	}{
		{"conv1", ConvGeom{N: 128, H: 28, W: 28, C: 1, KH: 3, KW: 3, Cout: 32}},
		{"conv2", ConvGeom{N: 128, H: 13, W: 13, C: 32, KH: 3, KW: 3, Cout: 64}},
	} {
		g := c.g
		if err := g.Validate(); err != nil {
			b.Fatal(err)
		}
		x := make([]float32, g.N*g.H*g.W*g.C)
		col := make([]float32, g.Rows()*g.KPerGroup)
		b.Run(c.name+"/im2col", func(b *testing.B) {
			for b.Loop() {
				Im2col(1, &g, x, 0, col)
			}
		})
		b.Run(c.name+"/col2im", func(b *testing.B) {
			for b.Loop() {
				Col2im(1, &g, col, 0, x)
			}
		})
	}
}

// TestWindow compares Window with the taps found by testing each one.
// TestConvGeomRejectsWideKernel checks that a kernel larger than the
// padded input is rejected, also when the stride would round the
// negative room up to one output.
func TestConvGeomRejectsWideKernel(t *testing.T) {
	for _, g := range []ConvGeom{
		{N: 1, H: 3, W: 3, C: 1, KH: 4, KW: 3, Stride: 2, Cout: 1},
		{N: 1, H: 3, W: 3, C: 1, KH: 3, KW: 4, Stride: 2, Cout: 1},
		{N: 1, H: 3, W: 3, C: 1, KH: 6, KW: 3, Pad: 1, Stride: 3, Cout: 1},
		{N: 1, H: 3, W: 3, C: 1, KH: 4, KW: 4, Cout: 1},
	} {
		if err := g.Validate(); err == nil {
			t.Errorf("%+v: accepted, OH=%d OW=%d", g, g.OH, g.OW)
		}
	}
	ok := ConvGeom{N: 1, H: 3, W: 3, C: 1, KH: 5, KW: 3, Pad: 1, Stride: 2, Cout: 1}
	if err := ok.Validate(); err != nil || ok.OH != 1 || ok.OW != 2 {
		t.Errorf("%+v: %v", ok, err)
	}
}

func TestWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		g := ConvGeom{N: 1, H: 1 + rng.IntN(7), W: 1 + rng.IntN(7), C: 1, KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4),
			Stride: 1 + rng.IntN(3), Pad: rng.IntN(3), Cout: 1}
		if g.Validate() != nil || g.OH < 1 || g.OW < 1 {
			continue
		}
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				kh0, kh1, kw0, kw1 := g.Window(oh, ow)
				for kh := 0; kh < g.KH; kh++ {
					for kw := 0; kw < g.KW; kw++ {
						ih, iw := oh*g.Stride-g.Pad+kh, ow*g.Stride-g.Pad+kw
						inside := ih >= 0 && ih < g.H && iw >= 0 && iw < g.W
						if got := kh >= kh0 && kh < kh1 && kw >= kw0 && kw < kw1; got != inside {
							t.Fatalf("%+v pixel (%d, %d) tap (%d, %d): in window %v, inside the image %v", g, oh, ow, kh, kw, got, inside)
						}
					}
				}
			}
		}
	}
}
