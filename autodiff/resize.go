package autodiff

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/tensor"
)

// nhwc returns the dimensions of an NHWC value, panicking with op's name if
// it has another rank.
func nhwc(op string, x *Var) (n, h, w, c int) {
	s := x.Value.Shape
	if len(s) != 4 {
		panic(fmt.Sprintf("autodiff: %s: input %v is not NHWC", op, x.Value))
	}
	return s[0], s[1], s[2], s[3]
}

// Pad surrounds the images of NHWC x with constant value: top and bottom
// rows, left and right columns, giving N×(top+H+bottom)×(left+W+right)×C.
// The amounts must not be negative.
func (t *Tape) Pad(x *Var, top, left, bottom, right int, value float32) *Var {
	n, h, w, c := nhwc("Pad", x)
	if top < 0 || left < 0 || bottom < 0 || right < 0 {
		panic(fmt.Sprintf("autodiff: Pad: input %v, negative padding %d %d %d %d", x.Value, top, left, bottom, right))
	}
	oh, ow := h+top+bottom, w+left+right
	out := t.allocNoZero(n, oh, ow, c)
	// row (b, r) of the output: the input row it holds, or none.
	rowOf := func(b, r int) (int, bool) {
		if r < top || r >= top+h {
			return 0, false
		}
		return b*h + r - top, true
	}
	t.forRows(n*oh, ow*c, func(lo, hi int) {
		for orow := lo; orow < hi; orow++ {
			o := out.Data[orow*ow*c:][:ow*c]
			irow, ok := rowOf(orow/oh, orow%oh)
			if !ok {
				fill(o, value)
				continue
			}
			fill(o[:left*c], value)
			copy(o[left*c:], x.Value.Data[irow*w*c:][:w*c])
			fill(o[(left+w)*c:], value)
		}
	})
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		t.forRows(n*h, ow*c, func(lo, hi int) {
			for irow := lo; irow < hi; irow++ {
				orow := irow/h*oh + irow%h + top
				d := v.Grad.Data[(orow*ow+left)*c:][:w*c]
				gi := g[irow*w*c:][:w*c]
				for i, dv := range d {
					gi[i] += dv
				}
			}
		})
	}, x)
	return v
}

// forRows runs fn over [0, rows) split over the tape's threads when the
// rows hold enough values (rowLen each) to be worth it.
func (t *Tape) forRows(rows, rowLen int, fn func(lo, hi int)) {
	th := t.Threads
	if rows*rowLen < minParallel {
		th = 1
	}
	tensor.For(th, rows, fn)
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// ResizeNearest upscales NHWC x by integer factors sh (rows) and sw
// (columns): every input pixel becomes an sh×sw block of copies, giving
// N×(H·sh)×(W·sw)×C. This is ONNX Resize in nearest mode with integer
// scales under both the asymmetric/floor and the half_pixel/
// round_prefer_floor conventions. The gradient of an input pixel is the
// sum over its block.
func (t *Tape) ResizeNearest(x *Var, sh, sw int) *Var {
	n, h, w, c := nhwc("ResizeNearest", x)
	if sh < 1 || sw < 1 {
		panic(fmt.Sprintf("autodiff: ResizeNearest: input %v, scales %d×%d", x.Value, sh, sw))
	}
	oh, ow := h*sh, w*sw
	out := t.allocNoZero(n, oh, ow, c)
	t.forRows(n*oh, ow*c, func(lo, hi int) {
		for orow := lo; orow < hi; orow++ {
			b, r := orow/oh, orow%oh
			src := x.Value.Data[(b*h+r/sh)*w*c:][:w*c]
			o := out.Data[orow*ow*c:][:ow*c]
			for iw := 0; iw < w; iw++ {
				px := src[iw*c:][:c]
				for j := 0; j < sw; j++ {
					copy(o[(iw*sw+j)*c:][:c], px)
				}
			}
		}
	})
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		t.forRows(n*h, ow*c, func(lo, hi int) {
			for irow := lo; irow < hi; irow++ {
				b, r := irow/h, irow%h
				gi := g[irow*w*c:][:w*c]
				for i := 0; i < sh; i++ {
					d := v.Grad.Data[(b*oh+r*sh+i)*ow*c:][:ow*c]
					for iw := 0; iw < w; iw++ {
						px := gi[iw*c:][:c]
						for j := 0; j < sw; j++ {
							dj := d[(iw*sw+j)*c:][:c]
							for k, dv := range dj {
								px[k] += dv
							}
						}
					}
				}
			}
		})
	}, x)
	return v
}

// DepthToSpace rearranges NHWC N×H×W×(C·r²) into N×(H·r)×(W·r)×C as ONNX
// DepthToSpace does: with dcr set in DCR order (input channel (i·r + j)·C + c
// goes to channel c at offset (i, j)), otherwise in CRD order (input
// channel c·r² + i·r + j), which is PixelShuffle.
func (t *Tape) DepthToSpace(x *Var, r int, dcr bool) *Var {
	if !dcr {
		return t.PixelShuffle(x, r)
	}
	s := x.Value.Shape
	if r < 1 || len(s) != 4 || s[3]%(r*r) != 0 {
		panic(fmt.Sprintf("autodiff: DepthToSpace: input %v is not NHWC with channels divisible by %d", x.Value, r*r))
	}
	n, h, w, c := s[0], s[1], s[2], s[3]/(r*r)
	out := t.allocNoZero(n, h*r, w*r, c)
	tensor.DepthToSpaceDCR(n, h, w, c, r, x.Value.Data, out.Data, false)
	var v *Var
	v = t.node(out, func() {
		tensor.DepthToSpaceDCR(n, h, w, c, r, x.grad().Data, v.Grad.Data, true)
	}, x)
	return v
}
