package tensor

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/internal/f32"
)

// ConvGeom describes a 2-D convolution over NHWC images: N images of
// H×W×C, KH×KW kernels, a stride and symmetric zero padding, Groups groups
// (Groups == C is depthwise), Cout output channels.
type ConvGeom struct {
	N, H, W, C   int
	KH, KW       int
	Stride, Pad  int
	Groups, Cout int
	OH, OW       int // output height and width, set by Validate
	CinPerGroup  int // C / Groups, set by Validate
	CoutPerGroup int // Cout / Groups, set by Validate
	KPerGroup    int // KH·KW·C/Groups: the dot-product length, set by Validate
}

// Validate fills in the derived sizes and reports inconsistent geometry.
func (g *ConvGeom) Validate() error {
	if g.Groups == 0 {
		g.Groups = 1
	}
	if g.Stride == 0 {
		g.Stride = 1
	}
	switch {
	case g.N < 0 || g.H < 1 || g.W < 1 || g.C < 1 || g.KH < 1 || g.KW < 1 || g.Cout < 1 || g.Pad < 0 || g.Stride < 1:
		return fmt.Errorf("conv: bad geometry %+v", *g)
	case g.C%g.Groups != 0 || g.Cout%g.Groups != 0:
		return fmt.Errorf("conv: %d input and %d output channels do not split into %d groups", g.C, g.Cout, g.Groups)
	}
	if g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW {
		return fmt.Errorf("conv: %dx%d kernel does not fit a %dx%d input with padding %d", g.KH, g.KW, g.H, g.W, g.Pad)
	}
	g.OH = (g.H+2*g.Pad-g.KH)/g.Stride + 1
	g.OW = (g.W+2*g.Pad-g.KW)/g.Stride + 1
	g.CinPerGroup = g.C / g.Groups
	g.CoutPerGroup = g.Cout / g.Groups
	g.KPerGroup = g.KH * g.KW * g.CinPerGroup
	return nil
}

// Rows returns N·OH·OW, the number of output pixels: the rows of the
// im2col matrix.
func (g *ConvGeom) Rows() int { return g.N * g.OH * g.OW }

// Window returns the kernel taps of output pixel (oh, ow) that fall inside
// the image: kh in [kh0, kh1), kw in [kw0, kw1); the others read padding.
func (g *ConvGeom) Window(oh, ow int) (kh0, kh1, kw0, kw1 int) {
	ih0, iw0 := oh*g.Stride-g.Pad, ow*g.Stride-g.Pad
	return max(0, -ih0), min(g.KH, g.H-ih0), max(0, -iw0), min(g.KW, g.W-iw0)
}

// PatchOffsets returns the patch matrix of an unpadded convolution as
// offsets into its input x: element (r, p) of the Rows()×KPerGroup matrix
// that Im2col writes for group grp is x[grp·CinPerGroup + rows[r] + cols[p]].
// rows[r] is where the window of output pixel r = (n, oh, ow) starts,
// cols[p] where tap p = (kh, kw, c) lies relative to it. ok is false, and
// the slices nil, when the convolution is padded (its patches read zeros
// that are not in x) or x has 2³¹ values or more.
func (g *ConvGeom) PatchOffsets() (rows, cols []int32, ok bool) {
	if g.Pad != 0 || g.N*g.H*g.W*g.C > math.MaxInt32 {
		return nil, nil, false
	}
	rows = make([]int32, 0, g.Rows())
	for n := 0; n < g.N; n++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				rows = append(rows, int32(((n*g.H+oh*g.Stride)*g.W+ow*g.Stride)*g.C))
			}
		}
	}
	cols = make([]int32, 0, g.KPerGroup)
	for kh := 0; kh < g.KH; kh++ {
		for kw := 0; kw < g.KW; kw++ {
			for c := 0; c < g.CinPerGroup; c++ {
				cols = append(cols, int32((kh*g.W+kw)*g.C+c))
			}
		}
	}
	return rows, cols, true
}

// Im2col writes the patches of group grp of x (NHWC, N×H×W×C) into col, a
// Rows()×KPerGroup row-major matrix whose row (n, oh, ow) lists the
// receptive field in (kh, kw, c) order, zeros where it falls in the padding.
func Im2col(threads int, g *ConvGeom, x []float32, grp int, col []float32) {
	if len(x) < g.N*g.H*g.W*g.C || len(col) < g.Rows()*g.KPerGroup {
		panic(fmt.Sprintf("tensor: Im2col: x has %d values, col %d, for %+v", len(x), len(col), *g))
	}
	patches(threads, g, x, grp, col, false)
}

// Col2im is the adjoint of Im2col: it adds each entry of col back into the
// input position it was copied from, accumulating into dx (which the caller
// zeroes first if it wants a fresh gradient).
func Col2im(threads int, g *ConvGeom, col []float32, grp int, dx []float32) {
	if len(dx) < g.N*g.H*g.W*g.C || len(col) < g.Rows()*g.KPerGroup {
		panic(fmt.Sprintf("tensor: Col2im: dx has %d values, col %d, for %+v", len(dx), len(col), *g))
	}
	patches(threads, g, dx, grp, col, true)
}

// Col2imSet is Col2im for a one-group convolution into a dx whose
// contents do not matter: each image of dx is cleared just before its
// patches are added back, while it is in cache.
func Col2imSet(threads int, g *ConvGeom, col []float32, dx []float32) {
	if g.Groups != 1 {
		panic(fmt.Sprintf("tensor: Col2imSet: %d groups", g.Groups))
	}
	if len(dx) < g.N*g.H*g.W*g.C || len(col) < g.Rows()*g.KPerGroup {
		panic(fmt.Sprintf("tensor: Col2imSet: dx has %d values, col %d, for %+v", len(dx), len(col), *g))
	}
	img := g.H * g.W * g.C
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			clear(dx[n*img : (n+1)*img])
			one := *g
			one.N = 1
			patches(1, &one, dx[n*img:(n+1)*img], 0, col[n*g.OH*g.OW*g.KPerGroup:], true)
		}
	})
}

// patches walks every receptive field of group grp: forward (adjoint
// false) it copies x into col and zeroes the padding; adjoint it adds col
// back into x. Work is split by image, so adjoint writes never collide.
func patches(threads int, g *ConvGeom, x []float32, grp int, col []float32, adjoint bool) {
	cg, c0 := g.CinPerGroup, grp*g.CinPerGroup
	k := g.KPerGroup
	whole := cg == g.C // one group: a kernel row's channels are contiguous
	if whole && g.Pad == 0 {
		validPatches(threads, g, x, col, adjoint)
		return
	}
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					row := col[((n*g.OH+oh)*g.OW+ow)*k:][:k]
					for kh := 0; kh < g.KH; kh++ {
						seg := row[kh*g.KW*cg:][:g.KW*cg] // this kernel row's KW·cg entries
						ih := oh*g.Stride - g.Pad + kh
						if ih < 0 || ih >= g.H {
							if !adjoint {
								clear(seg)
							}
							continue
						}
						xrow := x[(n*g.H+ih)*g.W*g.C:]
						if iw0 := ow*g.Stride - g.Pad; whole && iw0 >= 0 && iw0+g.KW <= g.W {
							// The kernel row lies inside the image: its
							// KW·C entries are one run of the input row.
							run := xrow[iw0*g.C:][:len(seg)]
							switch {
							case adjoint:
								f32.AddRows(run, seg)
							case len(seg) <= 16: // cheaper than a call to memmove
								for i := range seg {
									seg[i] = run[i]
								}
							default:
								copy(seg, run)
							}
							continue
						}
						for kw := 0; kw < g.KW; kw++ {
							entries := seg[kw*cg:][:cg]
							iw := ow*g.Stride - g.Pad + kw
							switch {
							case iw < 0 || iw >= g.W:
								if !adjoint {
									clear(entries)
								}
							case adjoint:
								pixel := xrow[iw*g.C+c0:][:cg]
								for i, v := range entries {
									pixel[i] += v
								}
							default:
								copy(entries, xrow[iw*g.C+c0:][:cg])
							}
						}
					}
				}
			}
		}
	})
}

// validPatches is patches for one group and no padding, where every
// kernel row of every window is one run of KW·C values of an input row:
// the loops walk a kernel row across an output row, so the offsets are
// sums instead of products.
func validPatches(threads int, g *ConvGeom, x []float32, col []float32, adjoint bool) {
	k, run, step := g.KPerGroup, g.KW*g.C, g.Stride*g.C
	rowLen := g.W * g.C
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				rows := col[(n*g.OH+oh)*g.OW*k:][:g.OW*k]
				for kh := 0; kh < g.KH; kh++ {
					// src is the input row, dst the patch rows' kernel-row
					// entries (the other way round when adjoint).
					src := x[(n*g.H+oh*g.Stride+kh)*rowLen:][:rowLen]
					dst := rows[kh*run:]
					switch {
					case adjoint && run <= 16: // cheaper than a call
						for ow := 0; ow < g.OW; ow++ {
							xr, cr := src[ow*step:][:run], dst[ow*k:][:run] // x takes col back
							for i, v := range cr {
								xr[i] += v
							}
						}
					case adjoint:
						for ow := 0; ow < g.OW; ow++ {
							f32.AddRows(src[ow*step:][:run], dst[ow*k:][:run])
						}
					case run == 3: // a 3-wide kernel on one channel
						for ow := 0; ow < g.OW; ow++ {
							d, s := dst[ow*k:ow*k+3], src[ow*step:ow*step+3]
							d[0], d[1], d[2] = s[0], s[1], s[2]
						}
					case run <= 4:
						for ow := 0; ow < g.OW; ow++ {
							d, s := dst[ow*k:][:run], src[ow*step:][:run]
							for i := range d {
								d[i] = s[i]
							}
						}
					default:
						for ow := 0; ow < g.OW; ow++ {
							copy(dst[ow*k:][:run], src[ow*step:][:run])
						}
					}
				}
			}
		}
	})
}
