package autodiff

import (
	"fmt"
	"unsafe"

	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/tensor"
)

func poolGeom(op string, x *Var, k, stride, pad int, countPad bool) tensor.PoolGeom {
	s := x.Value.Shape
	if len(s) != 4 {
		panic(fmt.Sprintf("autodiff: %s: input %v is not NHWC", op, x.Value))
	}
	g := tensor.PoolGeom{N: s[0], H: s[1], W: s[2], C: s[3], K: k, Stride: stride, Pad: pad, CountPad: countPad}
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("autodiff: %s: input %v: %v", op, x.Value, err))
	}
	return g
}

// MaxPool takes the maximum over k×k windows moved by stride (0 means k).
func (t *Tape) MaxPool(x *Var, k, stride int) *Var {
	return t.maxPool("MaxPool", x, k, stride, 0)
}

// MaxPoolPad is MaxPool over the image padded by pad pixels on every side
// (0 ≤ pad < k), the padding counting as −∞: ONNX MaxPool with symmetric
// pads.
func (t *Tape) MaxPoolPad(x *Var, k, stride, pad int) *Var {
	return t.maxPool("MaxPoolPad", x, k, stride, pad)
}

func (t *Tape) maxPool(op string, x *Var, k, stride, pad int) *Var {
	g := poolGeom(op, x, k, stride, pad, false)
	out := t.allocNoZero(g.N, g.OH, g.OW, g.C)
	// The argmax positions (a byte each) live in a pooled float32 buffer.
	ab := t.buf((out.Len() + 3) / 4)
	arg := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(ab))), 4*len(ab))
	tensor.MaxPool(t.Threads, &g, x.Value.Data, out.Data, arg)
	var v *Var
	v = t.node(out, func() { t.maxPoolBackward(&g, v.Grad.Data, arg, x) }, x)
	return v
}

// maxPoolBackward routes dy to x's gradient at the positions arg records:
// written if no other operation has written it yet, else added to.
func (t *Tape) maxPoolBackward(g *tensor.PoolGeom, dy []float32, arg []uint8, x *Var) {
	gx, fresh := x.gradFresh()
	switch {
	case fresh:
		tensor.MaxPoolGrad(t.Threads, g, dy, arg, gx.Data)
	case gx != nil:
		tensor.MaxPoolBackward(t.Threads, g, dy, arg, gx.Data)
	}
}

// AvgPool averages over k×k windows moved by stride (0 means k).
func (t *Tape) AvgPool(x *Var, k, stride int) *Var {
	return t.avgPool("AvgPool", x, k, stride, 0, true)
}

// AvgPoolPad is AvgPool over the image padded with zeros by pad pixels on
// every side (0 ≤ pad < k): ONNX AveragePool with symmetric pads. With
// countIncludePad every window is divided by k², padding included;
// otherwise by the number of its pixels inside the image.
func (t *Tape) AvgPoolPad(x *Var, k, stride, pad int, countIncludePad bool) *Var {
	return t.avgPool("AvgPoolPad", x, k, stride, pad, countIncludePad)
}

func (t *Tape) avgPool(op string, x *Var, k, stride, pad int, countPad bool) *Var {
	g := poolGeom(op, x, k, stride, pad, countPad)
	out := t.allocNoZero(g.N, g.OH, g.OW, g.C)
	tensor.AvgPool(t.Threads, &g, x.Value.Data, out.Data)
	var v *Var
	v = t.node(out, func() {
		tensor.AvgPoolBackward(t.Threads, &g, v.Grad.Data, x.grad().Data)
	}, x)
	return v
}

// GlobalAvgPool averages each channel over the whole image: N×H×W×C → N×C.
func (t *Tape) GlobalAvgPool(x *Var) *Var {
	s := x.Value.Shape
	if len(s) != 4 {
		panic(fmt.Sprintf("autodiff: GlobalAvgPool: input %v is not NHWC", x.Value))
	}
	n, hw, c := s[0], s[1]*s[2], s[3]
	out := t.alloc(n, c)
	inv := 1 / float32(hw)
	for b := 0; b < n; b++ {
		o := out.Data[b*c : b*c+c]
		for p := 0; p < hw; p++ {
			xi := x.Value.Data[(b*hw+p)*c:][:c]
			for i, v := range xi {
				o[i] += v
			}
		}
		for i := range o {
			o[i] *= inv
		}
	}
	var v *Var
	v = t.node(out, func() {
		gx := x.grad().Data
		for b := 0; b < n; b++ {
			d := v.Grad.Data[b*c : b*c+c]
			for p := 0; p < hw; p++ {
				gi := gx[(b*hw+p)*c:][:c]
				for i, dv := range d {
					gi[i] += dv * inv
				}
			}
		}
	}, x)
	return v
}

// MaxPoolBias returns MaxPool(x + b, k, stride), followed by a ReLU when
// relu is set, for x of shape N×H×W×C and a per-channel bias b (nil for
// none). It pools first and adds the bias (and takes the ReLU) on the
// pooled values only: adding a constant and taking a ReLU are monotone
// in float32 arithmetic, so the values equal the unfused ops' bit for bit
// with a quarter of the work for 2×2 pools. Gradients are the unfused
// ops' up to ties within a window and the order of the bias gradient's
// sum.
func (t *Tape) MaxPoolBias(x, b *Var, relu bool, k, stride int) *Var {
	g := poolGeom("MaxPoolBias", x, k, stride, 0, false)
	if b != nil && b.Value.Len() != g.C {
		panic(fmt.Sprintf("autodiff: MaxPoolBias: input %v, bias %v", x.Value, b.Value))
	}
	out := t.allocNoZero(g.N, g.OH, g.OW, g.C)
	ab := t.buf((out.Len() + 3) / 4)
	arg := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(ab))), 4*len(ab))
	tensor.MaxPool(t.Threads, &g, x.Value.Data, out.Data, arg)
	if b != nil {
		t.addRowVector(out.Data, b.Value.Data)
	}
	if relu {
		t.forEach(out.Len(), func(lo, hi int) { f32.ReLU(out.Data[lo:hi], out.Data[lo:hi]) })
	}
	var v *Var
	v = t.node(out, func() {
		dz := v.Grad.Data
		if relu {
			dz = t.buf(len(dz))
			t.forEach(len(dz), func(lo, hi int) {
				f32.ReLUGradTo(dz[lo:hi], v.Grad.Data[lo:hi], out.Data[lo:hi])
			})
		}
		if b != nil {
			if gb := b.grad(); gb != nil {
				t.sumRows(gb.Data, dz)
			}
		}
		t.maxPoolBackward(&g, dz, arg, x)
	}, x, b)
	return v
}
