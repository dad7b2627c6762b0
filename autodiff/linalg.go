package autodiff

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Linear returns x·wᵀ + b for x of shape N×in, w of shape out×in and b of
// length out (b may be nil).
func (t *Tape) Linear(x, w, b *Var) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] || (b != nil && b.Value.Len() != ws[0]) {
		bs := "none"
		if b != nil {
			bs = b.Value.String()
		}
		panic(fmt.Sprintf("autodiff: Linear: input %v, weight %v, bias %s", x.Value, w.Value, bs))
	}
	n, in, outF := xs[0], xs[1], ws[0]
	out := t.allocNoZero(n, outF)
	t.mulWeights(n, outF, in, x.Value.Data, in, w, 0, out.Data, outF)
	if b != nil {
		t.addRowVector(out.Data, b.Value.Data)
	}
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		if g, fresh := x.gradFresh(); g != nil {
			gemm.SgemmParallel(t.Threads, false, false, n, in, outF, dy, outF, w.Value.Data, in, beta(fresh), g.Data, in)
		}
		if g := w.grad(); g != nil {
			gemm.SgemmParallel(t.Threads, true, false, outF, in, n, dy, outF, x.Value.Data, in, 1, g.Data, in)
		}
		if b != nil {
			if g := b.grad(); g != nil {
				t.sumRows(g.Data, dy)
			}
		}
	}, x, w, b)
	return v
}

// beta is the GEMM's beta for a gradient: 0 overwrites a fresh one, 1
// adds to one that other operations have written.
func beta(fresh bool) float32 {
	if fresh {
		return 0
	}
	return 1
}

// addRowVector adds vec to every row of m (rows of len(vec)), split over
// the tape's threads for large matrices.
func (t *Tape) addRowVector(m, vec []float32) {
	c := len(vec)
	rows := len(m) / c
	th := t.Threads
	if rows*c < minParallel {
		th = 1
	}
	tensor.For(th, rows, func(lo, hi int) {
		f32.AddRows(m[lo*c:hi*c], vec)
	})
}

// sumRows adds the column sums of m (rows of len(dst)) into dst, with
// per-thread partial sums for large matrices.
func (t *Tape) sumRows(dst, m []float32) {
	c := len(dst)
	rows := len(m) / c
	th := t.Threads
	if rows*c < minParallel {
		th = 1
	}
	th = max(1, min(th, rows))
	parts := make([][]float32, th)
	chunk := (rows + th - 1) / th
	tensor.For(th, th, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			acc := make([]float32, c)
			f32.SumRows(acc, m[min(p*chunk, rows)*c:min((p+1)*chunk, rows)*c])
			parts[p] = acc
		}
	})
	for _, acc := range parts {
		for i, v := range acc {
			dst[i] += v
		}
	}
}

// ConvOptions are a convolution's stride, padding and groups.
type ConvOptions struct {
	Stride, Pad, Groups int
	// PoolK and PoolStride, when PoolK > 0, declare that only a PoolK×PoolK
	// max pool moved by PoolStride (0 means PoolK) reads the output: the
	// last rows and columns that no window reads are not computed, and the
	// output is cropped to the first (OH−PoolK)/PoolStride·PoolStride+PoolK
	// rows and likewise columns.
	PoolK, PoolStride int
}

// Conv2d convolves NHWC x (N×H×W×C) with w (Cout×KH×KW×C/groups) and adds
// b (length Cout, may be nil), returning N×OH×OW×Cout. It lowers each group
// to matrix products with the patch matrix, except depthwise convolutions,
// which run directly. An unpadded convolution reads its patches in place
// (gemm.SgemmGather forward, gemm.SgemmGatherRight for the weights'
// gradient); a padded one copies them (tensor.Im2col).
func (t *Tape) Conv2d(x, w, b *Var, o ConvOptions) *Var {
	xs, ws := x.Value.Shape, w.Value.Shape
	if len(xs) != 4 || len(ws) != 4 {
		panic(fmt.Sprintf("autodiff: Conv2d: input %v, weight %v: want NHWC and [Cout,KH,KW,Cin/groups]", x.Value, w.Value))
	}
	g := tensor.ConvGeom{N: xs[0], H: xs[1], W: xs[2], C: xs[3], KH: ws[1], KW: ws[2],
		Stride: o.Stride, Pad: o.Pad, Groups: o.Groups, Cout: ws[0]}
	if err := g.Validate(); err != nil || ws[3] != g.CinPerGroup || (b != nil && b.Value.Len() != g.Cout) {
		panic(fmt.Sprintf("autodiff: Conv2d: input %v, weight %v, options %+v: %v", x.Value, w.Value, o, err))
	}
	if o.PoolK > 0 {
		ps := tensor.PoolStride(o.PoolK, o.PoolStride)
		if g.OH >= o.PoolK && g.OW >= o.PoolK {
			g.OH = (g.OH-o.PoolK)/ps*ps + o.PoolK
			g.OW = (g.OW-o.PoolK)/ps*ps + o.PoolK
		}
	}
	if g.CinPerGroup == 1 && g.CoutPerGroup == 1 {
		return t.depthwise(&g, x, w, b)
	}
	rows, k, cout, cog := g.Rows(), g.KPerGroup, g.Cout, g.CoutPerGroup
	out := t.allocNoZero(g.N, g.OH, g.OW, cout)
	// A 1×1 convolution with stride 1 and one group needs no im2col:
	// the input already is the patch matrix.
	direct := g.KH == 1 && g.KW == 1 && g.Stride == 1 && g.Pad == 0 && g.Groups == 1
	var po convPatches
	if !direct && g.Pad == 0 {
		po = t.patchOffsets(&g)
	}
	// patches returns group grp's patch matrix read in place.
	patches := func(grp int) gemm.Gather {
		return gemm.Gather{Data: x.Value.Data[grp*g.CinPerGroup:], Rows: po.rows, Cols: po.cols}
	}
	// cols holds each group's patch matrix when it is stored.
	cols := make([][]float32, g.Groups)
	for grp := range cols {
		switch {
		case direct:
			cols[grp] = x.Value.Data
			t.mulWeights(rows, cog, k, cols[grp], k, w, 0, out.Data, cout)
		case po.ok:
			t.mulGathered(patches(grp), cog, w, grp*cog*k, out.Data[grp*cog:], cout)
		default:
			cols[grp] = t.buf(rows * k)
			tensor.Im2col(t.Threads, &g, x.Value.Data, grp, cols[grp])
			t.mulWeights(rows, cog, k, cols[grp], k, w, grp*cog*k, out.Data[grp*cog:], cout)
		}
	}
	if b != nil {
		t.addRowVector(out.Data, b.Value.Data)
	}
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		if gw := w.grad(); gw != nil {
			for grp := range cols {
				if po.ok {
					gemm.SgemmGatherRight(t.Threads, true, cog, dy[grp*cog:], cout, patches(grp), 1, gw.Data[grp*cog*k:], k)
					continue
				}
				gemm.SgemmParallel(t.Threads, true, false, cog, k, rows, dy[grp*cog:], cout,
					cols[grp], k, 1, gw.Data[grp*cog*k:], k)
			}
		}
		if b != nil {
			if gb := b.grad(); gb != nil {
				t.sumRows(gb.Data, dy)
			}
		}
		if direct {
			if gx, fresh := x.gradFresh(); gx != nil {
				gemm.SgemmParallel(t.Threads, false, false, rows, k, cog, dy, cout, w.Value.Data, k, beta(fresh), gx.Data, k)
			}
			return
		}
		gx, fresh := x.gradFresh()
		if gx == nil {
			return
		}
		if fresh && g.Groups > 1 { // each group adds its own channels
			clear(gx.Data)
			fresh = false
		}
		dcol := t.buf(rows * k)
		for grp := range cols {
			gemm.SgemmParallel(t.Threads, false, false, rows, k, cog, dy[grp*cog:], cout,
				w.Value.Data[grp*cog*k:], k, 0, dcol, k)
			if fresh {
				tensor.Col2imSet(t.Threads, &g, dcol, gx.Data)
			} else {
				tensor.Col2im(t.Threads, &g, dcol, grp, gx.Data)
			}
		}
	}, x, w, b)
	return v
}
