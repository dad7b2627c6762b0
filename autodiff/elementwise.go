package autodiff

import (
	"fmt"
	"slices"

	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/tensor"
)

// parallel threshold: below this many elements a loop runs on one goroutine.
const minParallel = 1 << 15

func (t *Tape) forEach(n int, fn func(lo, hi int)) {
	th := t.Threads
	if n < minParallel {
		th = 1
	}
	tensor.For(th, n, fn)
}

// addInto adds src into dst (same length).
func (t *Tape) addInto(dst, src []float32) {
	t.forEach(len(dst), func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// Add returns a + b, elementwise; the shapes must match (residual add).
func (t *Tape) Add(a, b *Var) *Var {
	if !slices.Equal(a.Value.Shape, b.Value.Shape) {
		panic(fmt.Sprintf("autodiff: Add: shapes %v and %v", a.Value, b.Value))
	}
	out := t.allocNoZero(a.Value.Shape...)
	t.forEach(out.Len(), func(lo, hi int) {
		o, x, y := out.Data[lo:hi], a.Value.Data[lo:hi], b.Value.Data[lo:hi]
		for i := range o {
			o[i] = x[i] + y[i]
		}
	})
	var v *Var
	v = t.node(out, func() {
		if g := a.grad(); g != nil {
			t.addInto(g.Data, v.Grad.Data)
		}
		if g := b.grad(); g != nil {
			t.addInto(g.Data, v.Grad.Data)
		}
	}, a, b)
	return v
}

// ReLU returns max(x, 0) elementwise.
func (t *Tape) ReLU(x *Var) *Var {
	out := t.allocNoZero(x.Value.Shape...)
	t.forEach(out.Len(), func(lo, hi int) {
		f32.ReLU(out.Data[lo:hi], x.Value.Data[lo:hi])
	})
	var v *Var
	v = t.node(out, func() {
		gx, fresh := x.gradFresh()
		g := gx.Data
		t.forEach(len(g), func(lo, hi int) {
			if fresh {
				f32.ReLUGradTo(g[lo:hi], v.Grad.Data[lo:hi], out.Data[lo:hi])
			} else {
				f32.ReLUGrad(g[lo:hi], v.Grad.Data[lo:hi], out.Data[lo:hi])
			}
		})
	}, x)
	return v
}

// Reshape returns x with a new shape (one dimension may be -1). The value
// shares x's data.
func (t *Tape) Reshape(x *Var, shape ...int) *Var {
	out := x.Value.Reshape(shape...)
	var v *Var
	v = t.node(out, func() {
		t.addInto(x.grad().Data, v.Grad.Data)
	}, x)
	return v
}

// Flatten reshapes N×… into N×(product of the rest).
func (t *Tape) Flatten(x *Var) *Var {
	return t.Reshape(x, x.Value.Shape[0], -1)
}

// PixelShuffle rearranges NHWC N×H×W×(C·r²) into N×(H·r)×(W·r)×C (depth to
// space, PyTorch's channel order).
func (t *Tape) PixelShuffle(x *Var, r int) *Var {
	s := x.Value.Shape
	if len(s) != 4 || s[3]%(r*r) != 0 {
		panic(fmt.Sprintf("autodiff: PixelShuffle: input %v is not NHWC with channels divisible by %d", x.Value, r*r))
	}
	n, h, w, c := s[0], s[1], s[2], s[3]/(r*r)
	out := t.allocNoZero(n, h*r, w*r, c)
	tensor.PixelShuffle(n, h, w, c, r, x.Value.Data, out.Data, false)
	var v *Var
	v = t.node(out, func() {
		tensor.PixelShuffle(n, h, w, c, r, x.grad().Data, v.Grad.Data, true)
	}, x)
	return v
}

// Concat joins tensors along their last dimension (channels, for NHWC);
// all other dimensions must match.
func (t *Tape) Concat(xs ...*Var) *Var {
	if len(xs) == 0 {
		panic("autodiff: Concat of nothing")
	}
	s0 := xs[0].Value.Shape
	rows := tensor.Numel(s0[:len(s0)-1])
	total := 0
	for _, x := range xs {
		s := x.Value.Shape
		if len(s) != len(s0) || tensor.Numel(s[:len(s)-1]) != rows || !slices.Equal(s[:len(s)-1], s0[:len(s0)-1]) {
			panic(fmt.Sprintf("autodiff: Concat: shapes %v and %v", xs[0].Value, x.Value))
		}
		total += s[len(s)-1]
	}
	shape := append(append([]int(nil), s0[:len(s0)-1]...), total)
	out := t.allocNoZero(shape...)
	off := 0
	for _, x := range xs {
		c := x.Value.Shape[len(x.Value.Shape)-1]
		for r := 0; r < rows; r++ {
			copy(out.Data[r*total+off:][:c], x.Value.Data[r*c:][:c])
		}
		off += c
	}
	var v *Var
	v = t.node(out, func() {
		off := 0
		for _, x := range xs {
			c := x.Value.Shape[len(x.Value.Shape)-1]
			if g := x.grad(); g != nil {
				for r := 0; r < rows; r++ {
					dst, src := g.Data[r*c:][:c], v.Grad.Data[r*total+off:][:c]
					for i := range dst {
						dst[i] += src[i]
					}
				}
			}
			off += c
		}
	}, xs...)
	return v
}

// Scale returns x·k for a constant k.
func (t *Tape) Scale(x *Var, k float32) *Var {
	out := t.allocNoZero(x.Value.Shape...)
	for i, v := range x.Value.Data {
		out.Data[i] = v * k
	}
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		for i, d := range v.Grad.Data {
			g[i] += d * k
		}
	}, x)
	return v
}
