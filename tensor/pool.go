package tensor

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/internal/f32"
)

// PoolGeom describes a pooling window over NHWC images: N×H×W×C inputs, a
// K×K window moved by Stride, Pad pixels of padding on every side;
// outputs are N×OH×OW×C (the floor of the window count, ONNX's and
// PyTorch's ceil_mode off).
type PoolGeom struct {
	N, H, W, C int
	K, Stride  int
	// Pad is the symmetric padding, less than K so that every window
	// covers at least one pixel of the image. MaxPool treats the padding
	// as −∞, AvgPool as zeros.
	Pad int
	// CountPad makes AvgPool divide every window's sum by K·K, padding
	// included (ONNX's count_include_pad = 1); otherwise a window is
	// divided by the number of its taps inside the image.
	CountPad bool
	OH, OW   int // set by Validate
}

// PoolStride is the pool-stride rule: a pooling window of k taps moves by
// stride, or by k when stride is 0 (the pools' default).
func PoolStride(k, stride int) int {
	if stride == 0 {
		return k
	}
	return stride
}

// PoolOut returns the number of positions of a pooling window of k taps
// moved by stride (PoolStride) over n values padded by pad on both sides:
// (n + 2·pad − k)/stride + 1, the floor (ONNX's and PyTorch's ceil_mode
// off). The caller checks that the window fits (n + 2·pad ≥ k, stride ≥ 1).
func PoolOut(n, k, stride, pad int) int {
	return (n+2*pad-k)/PoolStride(k, stride) + 1
}

// Validate fills in the output size and reports a window that does not fit.
func (g *PoolGeom) Validate() error {
	g.Stride = PoolStride(g.K, g.Stride)
	if g.K < 1 || g.Stride < 1 || g.Pad < 0 || g.Pad >= g.K || g.H+2*g.Pad < g.K || g.W+2*g.Pad < g.K || g.H < 1 || g.W < 1 || g.C < 1 || g.N < 0 {
		return fmt.Errorf("pool: %dx%d window (stride %d, padding %d) does not fit a %dx%d input", g.K, g.K, g.Stride, g.Pad, g.H, g.W)
	}
	g.OH = PoolOut(g.H, g.K, g.Stride, g.Pad)
	g.OW = PoolOut(g.W, g.K, g.Stride, g.Pad)
	return nil
}

// Window returns the taps of the window of output pixel (oh, ow) that fall
// inside the image: kh in [kh0, kh1), kw in [kw0, kw1).
func (g *PoolGeom) Window(oh, ow int) (kh0, kh1, kw0, kw1 int) {
	ih0, iw0 := oh*g.Stride-g.Pad, ow*g.Stride-g.Pad
	return max(0, -ih0), min(g.K, g.H-ih0), max(0, -iw0), min(g.K, g.W-iw0)
}

// MaxPool writes the window maxima of x into y and, for the backward pass,
// the position of each maximum within its window (kh·K + kw, first maximum
// wins) into arg. A byte per output instead of a flat index keeps the
// pass's memory traffic down; windows are at most 15×15. Padding never
// wins: the maximum is taken over the window's taps inside the image.
func MaxPool(threads int, g *PoolGeom, x, y []float32, arg []uint8) {
	if len(x) < g.N*g.H*g.W*g.C || len(y) < g.N*g.OH*g.OW*g.C || len(arg) < len(y) || g.K > 15 {
		panic(fmt.Sprintf("tensor: MaxPool: sizes x %d y %d arg %d for %+v", len(x), len(y), len(arg), *g))
	}
	C := g.C
	if g.pool2() {
		// Every window is a full 2×2 one: a row kernel per output row.
		row := g.OW * C
		For(threads, g.N, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				for oh := 0; oh < g.OH; oh++ {
					o, i := (n*g.OH+oh)*row, (n*g.H+2*oh)*g.W*C
					f32.MaxPool2(C, y[o:o+row], arg[o:o+row], x[i:i+2*row], x[i+g.W*C:i+g.W*C+2*row])
				}
			}
		})
		return
	}
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				ih0 := oh*g.Stride - g.Pad
				for ow := 0; ow < g.OW; ow++ {
					iw0 := ow*g.Stride - g.Pad
					o := ((n*g.OH+oh)*g.OW + ow) * C
					yo, ao := y[o:o+C], arg[o:o+C]
					kh0, kh1, kw0, kw1 := g.Window(oh, ow)
					if g.K == 2 && kh0 == 0 && kw0 == 0 && kh1 == 2 && kw1 == 2 {
						// A full 2×2 window: its two rows of two pixels
						// are contiguous.
						first := ((n*g.H+ih0)*g.W + iw0) * C
						f32.MaxPool2(C, yo, ao, x[first:first+2*C], x[first+g.W*C:first+g.W*C+2*C])
						continue
					}
					first := ((n*g.H+ih0+kh0)*g.W + iw0 + kw0) * C
					copy(yo, x[first:first+C])
					if p0 := uint8(kh0*g.K + kw0); p0 == 0 {
						clear(ao)
					} else {
						for c := range ao {
							ao[c] = p0
						}
					}
					for kh := kh0; kh < kh1; kh++ {
						for kw := kw0; kw < kw1; kw++ {
							if kh == kh0 && kw == kw0 {
								continue
							}
							i := ((n*g.H+ih0+kh)*g.W + iw0 + kw) * C
							maxInto(yo, ao, x[i:i+C], uint8(kh*g.K+kw))
						}
					}
				}
			}
		}
	})
}

// maxInto raises yo to xi where xi is greater, recording pos in ao there.
// It is kept out of line: inlined into MaxPool's closure, the loop ran
// with its counter and pointers spilled to the stack.
//
//go:noinline
func maxInto(yo []float32, ao []uint8, xi []float32, pos uint8) {
	yo, ao = yo[:len(xi)], ao[:len(xi)]
	for c, v := range xi {
		if v > yo[c] {
			yo[c] = v
			ao[c] = pos
		}
	}
}

// pool2 reports whether the windows are 2×2, stride 2, without padding:
// they tile the image (an odd last row or column aside) and MaxPool and
// MaxPoolBackward run a row kernel per output row.
func (g *PoolGeom) pool2() bool {
	return g.K == 2 && g.Stride == 2 && g.Pad == 0
}

// MaxPoolGrad writes the gradient of MaxPool into dx, every element of
// it: dy at the positions recorded by MaxPool, zero elsewhere. dx's
// previous contents do not matter. For 2×2 windows moved by 2 a row
// kernel writes every tap of a row of windows at once, with no clearing
// pass.
func MaxPoolGrad(threads int, g *PoolGeom, dy []float32, arg []uint8, dx []float32) {
	if !g.pool2() {
		clear(dx[:g.N*g.H*g.W*g.C])
		MaxPoolBackward(threads, g, dy, arg, dx)
		return
	}
	pool2Backward(threads, g, dy, arg, dx, true)
}

// pool2Backward is MaxPoolBackward for pool2 windows, a row kernel per
// output row; with set it writes dx instead (the windows' taps by the
// kernel, an odd last column and row cleared).
func pool2Backward(threads int, g *PoolGeom, dy []float32, arg []uint8, dx []float32, set bool) {
	C, row, in := g.C, g.OW*g.C, g.W*g.C
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				o, i := (n*g.OH+oh)*row, (n*g.H+2*oh)*in
				if !set {
					f32.MaxPool2Grad(C, dx[i:i+2*row], dx[i+in:i+in+2*row], dy[o:o+row], arg[o:o+row])
					continue
				}
				f32.MaxPool2GradTo(C, dx[i:i+2*row], dx[i+in:i+in+2*row], dy[o:o+row], arg[o:o+row])
				if 2*row < in {
					clear(dx[i+2*row : i+in])
					clear(dx[i+in+2*row : i+2*in])
				}
			}
			if set {
				clear(dx[(n*g.H+2*g.OH)*in : (n+1)*g.H*in])
			}
		}
	})
}

// MaxPoolBackward adds dy to dx at the positions recorded by MaxPool.
// Windows may overlap, so work is split by image.
func MaxPoolBackward(threads int, g *PoolGeom, dy []float32, arg []uint8, dx []float32) {
	C := g.C
	if g.pool2() {
		pool2Backward(threads, g, dy, arg, dx, false)
		return
	}
	// off[p] is the offset from a window's first element to position p.
	off := make([]int, g.K*g.K)
	for kh := 0; kh < g.K; kh++ {
		for kw := 0; kw < g.K; kw++ {
			off[kh*g.K+kw] = (kh*g.W + kw) * C
		}
	}
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					o := ((n*g.OH+oh)*g.OW + ow) * C
					d, a := dy[o:o+C], arg[o:o+C]
					a = a[:len(d)]
					// base may lie before the image when the window starts
					// in the padding; base+off[a[c]] never does.
					base := ((n*g.H+oh*g.Stride-g.Pad)*g.W + ow*g.Stride - g.Pad) * C
					for c, v := range d {
						dx[base+off[a[c]]+c] += v
					}
				}
			}
		}
	})
}

// AvgPool writes window means of x into y (see PoolGeom.CountPad for the
// divisor of windows that cover padding).
func AvgPool(threads int, g *PoolGeom, x, y []float32) {
	if len(x) < g.N*g.H*g.W*g.C || len(y) < g.N*g.OH*g.OW*g.C {
		panic(fmt.Sprintf("tensor: AvgPool: sizes x %d y %d for %+v", len(x), len(y), *g))
	}
	C := g.C
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				ih0 := oh*g.Stride - g.Pad
				for ow := 0; ow < g.OW; ow++ {
					iw0 := ow*g.Stride - g.Pad
					kh0, kh1, kw0, kw1 := g.Window(oh, ow)
					yo := y[((n*g.OH+oh)*g.OW+ow)*C:][:C]
					clear(yo)
					for kh := kh0; kh < kh1; kh++ {
						for kw := kw0; kw < kw1; kw++ {
							xi := x[((n*g.H+ih0+kh)*g.W+iw0+kw)*C:][:C]
							for c, v := range xi {
								yo[c] += v
							}
						}
					}
					inv := g.avgScale(kh0, kh1, kw0, kw1)
					for c := range yo {
						yo[c] *= inv
					}
				}
			}
		}
	})
}

// avgScale is the reciprocal of the divisor of a window whose taps inside
// the image are [kh0, kh1)×[kw0, kw1).
func (g *PoolGeom) avgScale(kh0, kh1, kw0, kw1 int) float32 {
	if g.CountPad {
		return 1 / float32(g.K*g.K)
	}
	return 1 / float32((kh1-kh0)*(kw1-kw0))
}

// AvgPoolBackward adds the share of dy each input contributed into dx.
func AvgPoolBackward(threads int, g *PoolGeom, dy, dx []float32) {
	C := g.C
	For(threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				ih0 := oh*g.Stride - g.Pad
				for ow := 0; ow < g.OW; ow++ {
					iw0 := ow*g.Stride - g.Pad
					kh0, kh1, kw0, kw1 := g.Window(oh, ow)
					inv := g.avgScale(kh0, kh1, kw0, kw1)
					dyo := dy[((n*g.OH+oh)*g.OW+ow)*C:][:C]
					for kh := kh0; kh < kh1; kh++ {
						for kw := kw0; kw < kw1; kw++ {
							dxi := dx[((n*g.H+ih0+kh)*g.W+iw0+kw)*C:][:C]
							for c, v := range dyo {
								dxi[c] += v * inv
							}
						}
					}
				}
			}
		}
	})
}

// PixelShuffle rearranges N×H×W×(C·r·r) into N×(H·r)×(W·r)×C (depth to
// space). Input channel c·r·r + i·r + j goes to output pixel (h·r+i, w·r+j),
// channel c: PyTorch's PixelShuffle and ONNX DepthToSpace in CRD mode.
// With inverse set it performs the opposite gather (the adjoint), adding
// into x from y. The integer engine shuffles its byte activations with it.
func PixelShuffle[T uint8 | int32 | float32](n, h, w, c, r int, x, y []T, inverse bool) {
	cin := c * r * r
	for b := 0; b < n; b++ {
		for hh := 0; hh < h; hh++ {
			for ww := 0; ww < w; ww++ {
				xi := x[((b*h+hh)*w+ww)*cin:][:cin]
				for cc := 0; cc < c; cc++ {
					for i := 0; i < r; i++ {
						for j := 0; j < r; j++ {
							o := ((b*h*r+hh*r+i)*w*r+ww*r+j)*c + cc
							if inverse {
								xi[cc*r*r+i*r+j] += y[o]
							} else {
								y[o] = xi[cc*r*r+i*r+j]
							}
						}
					}
				}
			}
		}
	}
}
