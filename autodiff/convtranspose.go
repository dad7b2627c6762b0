package autodiff

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// ConvTransposeOptions are a transposed convolution's stride, padding
// (removed symmetrically from the full output), output padding (added to
// the bottom and right edges, less than the stride) and groups. Zero values
// mean stride 1, no padding and one group.
type ConvTransposeOptions struct {
	Stride, Pad, OutputPad, Groups int
}

// ConvTranspose2d is the transposed convolution of NHWC x (N×H×W×Cin) with
// w (Cin×KH×KW×Cout/groups, input channels first: the NHWC analogue of
// PyTorch's and ONNX's [Cin, Cout/groups, KH, KW]) plus b (length Cout, may
// be nil). The output is N×OH×OW×Cout with OH = (H−1)·Stride − 2·Pad + KH +
// OutputPad, likewise OW; every input pixel scatters its weighted kernel:
//
//	y[n, ih·S−P+kh, iw·S−P+kw, g·Cout/groups+co] += x[n, ih, iw, ci]·w[ci, kh, kw, co]
//
// for ci in group g, as PyTorch's ConvTranspose2d and ONNX ConvTranspose
// with symmetric pads compute it. It is the input gradient of the Conv2d
// with weight w that maps the output back to x: each group is one matrix
// product into patch columns and a col2im scatter.
func (t *Tape) ConvTranspose2d(x, w, b *Var, o ConvTransposeOptions) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 4 || len(ws) != 4 {
		panic(fmt.Sprintf("autodiff: ConvTranspose2d: input %v, weight %v: want NHWC and [Cin,KH,KW,Cout/groups]", x.Value, w.Value))
	}
	stride, groups := max(o.Stride, 1), max(o.Groups, 1)
	bad := func(why string) {
		bs := "none"
		if b != nil {
			bs = b.Value.String()
		}
		panic(fmt.Sprintf("autodiff: ConvTranspose2d: input %v, weight %v, bias %s, options %+v: %s", x.Value, w.Value, bs, o, why))
	}
	if o.Stride < 0 || o.Groups < 0 || o.Pad < 0 || o.OutputPad < 0 || o.OutputPad >= stride {
		bad("want a positive stride and groups, and 0 ≤ output padding < stride")
	}
	n, h, wd, cin, kh, kw := xs[0], xs[1], xs[2], xs[3], ws[1], ws[2]
	cout := ws[3] * groups
	if ws[0] != cin || cin%groups != 0 {
		bad("weight's first dimension must be the input channels, divisible by groups")
	}
	oh := (h-1)*stride - 2*o.Pad + kh + o.OutputPad
	ow := (wd-1)*stride - 2*o.Pad + kw + o.OutputPad
	if oh < 1 || ow < 1 {
		bad(fmt.Sprintf("empty %d×%d output", oh, ow))
	}
	if b != nil && b.Value.Len() != cout {
		bad(fmt.Sprintf("bias length, want %d", cout))
	}
	// g is the forward convolution from the output image back to x's
	// size: weight [Cin, KH, KW, Cout/groups] is exactly its
	// [Cout', KH, KW, Cin'/groups].
	g := tensor.ConvGeom{N: n, H: oh, W: ow, C: cout, KH: kh, KW: kw,
		Stride: stride, Pad: o.Pad, Groups: groups, Cout: cin}
	if err := g.Validate(); err != nil || g.OH != h || g.OW != wd {
		bad(fmt.Sprintf("no convolution maps the output back (%v)", err))
	}
	rows, k, cig := g.Rows(), g.KPerGroup, g.CoutPerGroup // rows = N·H·W
	wv := w.Value.Data
	// A 1×1 kernel with stride 1, no padding and one group maps pixels to
	// pixels: the product lands in the output directly.
	direct := kh == 1 && kw == 1 && stride == 1 && o.Pad == 0 && groups == 1
	var out *tensor.Tensor
	if direct {
		out = t.allocNoZero(n, oh, ow, cout)
		gemm.SgemmParallel(t.Threads, false, false, rows, k, cin, x.Value.Data, cin, wv, k, 0, out.Data, k)
	} else {
		out = t.alloc(n, oh, ow, cout) // the scatter accumulates
		col := t.buf(rows * k)
		for grp := 0; grp < groups; grp++ {
			gemm.SgemmParallel(t.Threads, false, false, rows, k, cig, x.Value.Data[grp*cig:], cin,
				wv[grp*cig*k:], k, 0, col, k)
			tensor.Col2im(t.Threads, &g, col, grp, out.Data)
		}
	}
	if b != nil {
		t.addRowVector(out.Data, b.Value.Data)
	}
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		if b != nil {
			if gb := b.grad(); gb != nil {
				t.sumRows(gb.Data, dy)
			}
		}
		gx, gw := x.grad(), w.grad()
		if gx == nil && gw == nil {
			return
		}
		// The patches of dy: the adjoint of the forward's scatter.
		col := dy
		if !direct {
			col = t.buf(rows * k)
		}
		for grp := 0; grp < groups; grp++ {
			if !direct {
				tensor.Im2col(t.Threads, &g, dy, grp, col)
			}
			if gx != nil { // dx = patches · wᵀ, the forward convolution of dy
				gemm.SgemmParallel(t.Threads, false, true, rows, cig, k, col, k,
					wv[grp*cig*k:], k, 1, gx.Data[grp*cig:], cin)
			}
			if gw != nil { // dw = xᵀ · patches
				gemm.SgemmParallel(t.Threads, true, false, cig, k, rows, x.Value.Data[grp*cig:], cin,
					col, k, 1, gw.Data[grp*cig*k:], k)
			}
		}
	}, x, w, b)
	return v
}
