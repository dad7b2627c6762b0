package qonnx

import (
	"fmt"
	"math"
	"strings"
)

// opFunc evaluates one node on its input values (nil for omitted optional
// inputs). Errors need not name the node: the caller adds it.
type opFunc func(n *Node, in []*Tensor, e env) ([]*Tensor, error)

// env is what an op needs to know beyond its node and inputs.
type env struct {
	opset int64 // version of the default ONNX domain
	limit int   // largest number of elements an output may have
}

// size returns the number of elements of shape, failing above e.limit.
func (e env) size(shape []int) (int, error) {
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if e.limit > 0 && n > e.limit {
		return 0, fmt.Errorf("output shape %v: %w (more than the limit of %d elements)", shape, errTooLarge, e.limit)
	}
	return n, nil
}

var ops map[string]opFunc

func init() {
	ops = map[string]opFunc{
		"Add":                opBinary(func(a, b float32) float32 { return a + b }, func(a, b int64) int64 { return a + b }),
		"Sub":                opBinary(func(a, b float32) float32 { return a - b }, func(a, b int64) int64 { return a - b }),
		"Mul":                opBinary(func(a, b float32) float32 { return a * b }, func(a, b int64) int64 { return a * b }),
		"Div":                opBinary(func(a, b float32) float32 { return a / b }, intDiv),
		"Relu":               opUnary(func(x float32) float32 { return max(x, 0) }),
		"Sigmoid":            opUnary(func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }),
		"Identity":           func(_ *Node, in []*Tensor, e env) ([]*Tensor, error) { return in[:1], nil },
		"Clip":               opClip,
		"Conv":               opConv,
		"MatMul":             opMatMul,
		"Gemm":               opGemm,
		"MaxPool":            opPool(true),
		"AveragePool":        opPool(false),
		"GlobalAveragePool":  opGlobalAveragePool,
		"BatchNormalization": opBatchNorm,
		"Reshape":            opReshape,
		"Flatten":            opFlatten,
		"Transpose":          opTranspose,
		"Squeeze":            opSqueeze(false),
		"Unsqueeze":          opSqueeze(true),
		"Pad":                opPad,
		"Concat":             opConcat,
		"DepthToSpace":       opDepthToSpace,
		"Resize":             opResize,
		"Upsample":           opResize,
		"Constant":           opConstant,
		"Shape":              opShape,
		"Quant":              opQuant,
		"IntQuant":           opQuant,
	}
}

func need(in []*Tensor, k int) error {
	if len(in) < k {
		return fmt.Errorf("has %d inputs, needs %d", len(in), k)
	}
	for i := 0; i < k; i++ {
		if in[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

func intDiv(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func opUnary(f func(float32) float32) opFunc {
	return func(_ *Node, in []*Tensor, e env) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0].Floats()
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = f(v)
		}
		return []*Tensor{NewFloat(y, in[0].Shape...)}, nil
	}
}

func opBinary(f func(a, b float32) float32, fi func(a, b int64) int64) opFunc {
	return func(_ *Node, in []*Tensor, e env) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		shape, err := broadcastShape(a.Shape, b.Shape)
		if err != nil {
			return nil, err
		}
		sa, sb := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
		n, err := e.size(shape)
		if err != nil {
			return nil, err
		}
		if a.DType == Int && b.DType == Int {
			out := make([]int64, n)
			forEachIndex(shape, sa, sb, func(i, ia, ib int) { out[i] = fi(a.Int[ia], b.Int[ib]) })
			return []*Tensor{NewInt(out, shape...)}, nil
		}
		af, bf := a.Floats(), b.Floats()
		out := make([]float32, n)
		forEachIndex(shape, sa, sb, func(i, ia, ib int) { out[i] = f(af[ia], bf[ib]) })
		return []*Tensor{NewFloat(out, shape...)}, nil
	}
}

func opClip(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if e.opset < 11 {
		var err error
		if lo, err = n.AttrFloat("min", lo); err != nil {
			return nil, err
		}
		if hi, err = n.AttrFloat("max", hi); err != nil {
			return nil, err
		}
	} else {
		for i, p := range []*float32{&lo, &hi} {
			if len(in) > i+1 && in[i+1] != nil {
				v, err := in[i+1].Scalar()
				if err != nil {
					return nil, fmt.Errorf("input %d: %w", i+1, err)
				}
				*p = float32(v)
			}
		}
	}
	return opUnary(func(x float32) float32 { return min(max(x, lo), hi) })(n, in, e)
}

func opQuant(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 4); err != nil {
		return nil, err
	}
	p, err := quantParams(n, in[3])
	if err != nil {
		return nil, err
	}
	y, err := quantize(in[0], in[1], in[2], p)
	if err != nil {
		return nil, err
	}
	return []*Tensor{y}, nil
}

// conv2d describes a 2-D convolution's geometry (NCHW input, OIHW weights).
type conv2d struct {
	n, c, h, w     int // input
	m, cg, kh, kw  int // weights: out channels, in channels per group, kernel
	group          int
	sh, sw, dh, dw int
	pt, pl, pb, pr int
	oh, ow         int
}

func convGeometry(n *Node, x, w *Tensor) (conv2d, error) {
	var g conv2d
	if len(x.Shape) != 4 || len(w.Shape) != 4 {
		return g, fmt.Errorf("only 2-D convolutions (4-D input and weight) are supported, have input %v weight %v", x.Shape, w.Shape)
	}
	g.n, g.c, g.h, g.w = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	g.m, g.cg, g.kh, g.kw = w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	group, err := n.AttrInt("group", 1)
	if err != nil {
		return g, err
	}
	if group < 1 || group > int64(g.c) || g.c%int(group) != 0 || g.m%int(group) != 0 || g.c/int(group) != g.cg {
		return g, fmt.Errorf("group %d does not fit input channels %d, weight %v", group, g.c, w.Shape)
	}
	g.group = int(group)
	ints := func(name string, def []int64, k int) ([]int, error) {
		v, err := n.AttrInts(name, def)
		if err != nil {
			return nil, err
		}
		if len(v) != k {
			return nil, n.errAttr(name, "has %d values, want %d", len(v), k)
		}
		out := make([]int, k)
		for i, e := range v {
			if e < 0 || e > 1<<20 {
				return nil, n.errAttr(name, "value %d out of range", e)
			}
			out[i] = int(e)
		}
		return out, nil
	}
	st, err := ints("strides", []int64{1, 1}, 2)
	if err != nil {
		return g, err
	}
	dl, err := ints("dilations", []int64{1, 1}, 2)
	if err != nil {
		return g, err
	}
	if ks, err := n.AttrInts("kernel_shape", nil); err != nil {
		return g, err
	} else if ks != nil && (len(ks) != 2 || ks[0] != int64(g.kh) || ks[1] != int64(g.kw)) {
		return g, n.errAttr("kernel_shape", "is %v, weight is %v", ks, w.Shape)
	}
	g.sh, g.sw, g.dh, g.dw = st[0], st[1], dl[0], dl[1]
	if g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 {
		return g, fmt.Errorf("strides %v and dilations %v must be positive", st, dl)
	}
	pads, err := autoPads(n, []int{g.h, g.w}, []int{g.kh, g.kw}, st, dl)
	if err != nil {
		return g, err
	}
	g.pt, g.pl, g.pb, g.pr = pads[0], pads[1], pads[2], pads[3]
	g.oh = (g.h+g.pt+g.pb-g.dh*(g.kh-1)-1)/g.sh + 1
	g.ow = (g.w+g.pl+g.pr-g.dw*(g.kw-1)-1)/g.sw + 1
	if g.oh < 1 || g.ow < 1 {
		return g, fmt.Errorf("output would be empty (input %v, kernel %dx%d)", x.Shape, g.kh, g.kw)
	}
	if _, err := numElements([]int{g.n, g.m, g.oh, g.ow}); err != nil {
		return g, err
	}
	return g, nil
}

// autoPads returns [top, left, bottom, right] (begin pads then end pads)
// from the pads or auto_pad attribute of a 2-D conv or pool node.
func autoPads(n *Node, in, k, st, dl []int) ([]int, error) {
	ap, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	switch ap {
	case "NOTSET", "":
		p, err := n.AttrInts("pads", []int64{0, 0, 0, 0})
		if err != nil {
			return nil, err
		}
		if len(p) != 4 {
			return nil, n.errAttr("pads", "has %d values, want 4", len(p))
		}
		out := make([]int, 4)
		for i, v := range p {
			if v < 0 || v > 1<<20 {
				return nil, n.errAttr("pads", "value %d out of range", v)
			}
			out[i] = int(v)
		}
		return out, nil
	case "VALID":
		return []int{0, 0, 0, 0}, nil
	case "SAME_UPPER", "SAME_LOWER":
		out := make([]int, 4)
		for i := 0; i < 2; i++ {
			o := (in[i] + st[i] - 1) / st[i]
			total := max((o-1)*st[i]+dl[i]*(k[i]-1)+1-in[i], 0)
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				out[i], out[i+2] = small, big
			} else {
				out[i], out[i+2] = big, small
			}
		}
		return out, nil
	}
	return nil, n.errAttr("auto_pad", "unknown value %q", ap)
}

// span returns the range [lo, hi) of output positions o for which the input
// position o*s - p + kk*d lies in [0, size).
func span(size, outSize, s, p, kk, d int) (int, int) {
	off := kk*d - p
	lo := 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi := outSize
	if lim := size - off; lim <= 0 {
		hi = 0
	} else if h := (lim + s - 1) / s; h < hi {
		hi = h
	}
	return lo, max(lo, hi)
}

func opConv(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	g, err := convGeometry(n, in[0], in[1])
	if err != nil {
		return nil, err
	}
	if _, err := e.size([]int{g.n, g.m, g.oh, g.ow}); err != nil {
		return nil, err
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		if in[2].Len() != g.m {
			return nil, fmt.Errorf("bias has %d values for %d output channels", in[2].Len(), g.m)
		}
		bias = in[2].Floats()
	}
	x, w := in[0].Floats(), in[1].Floats()
	out := make([]float32, g.n*g.m*g.oh*g.ow)
	mg := g.m / g.group
	plane := g.oh * g.ow
	for b := 0; b < g.n; b++ {
		for oc := 0; oc < g.m; oc++ {
			o := out[(b*g.m+oc)*plane : (b*g.m+oc+1)*plane]
			if bias != nil {
				for i := range o {
					o[i] = bias[oc]
				}
			}
			grp := oc / mg
			for ic := 0; ic < g.cg; ic++ {
				xc := x[(b*g.c+grp*g.cg+ic)*g.h*g.w:]
				for ky := 0; ky < g.kh; ky++ {
					y0, y1 := span(g.h, g.oh, g.sh, g.pt, ky, g.dh)
					for kx := 0; kx < g.kw; kx++ {
						wv := w[((oc*g.cg+ic)*g.kh+ky)*g.kw+kx]
						if wv == 0 {
							continue
						}
						x0, x1 := span(g.w, g.ow, g.sw, g.pl, kx, g.dw)
						for oy := y0; oy < y1; oy++ {
							iy := oy*g.sh - g.pt + ky*g.dh
							row := xc[iy*g.w:]
							orow := o[oy*g.ow:]
							ix := x0*g.sw - g.pl + kx*g.dw
							for ox := x0; ox < x1; ox++ {
								orow[ox] += wv * row[ix]
								ix += g.sw
							}
						}
					}
				}
			}
		}
	}
	return []*Tensor{NewFloat(out, g.n, g.m, g.oh, g.ow)}, nil
}

// matmul2 computes the (m×k)·(k×n) product of row-major a and b into c.
func matmul2(a, b, c []float32, m, k, n int) {
	for i := 0; i < m; i++ {
		ci := c[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			if av == 0 {
				continue
			}
			bp := b[p*n : (p+1)*n]
			for j := range ci {
				ci[j] += av * bp[j]
			}
		}
	}
}

func opMatMul(_ *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if len(a.Shape) < 1 || len(b.Shape) < 1 {
		return nil, fmt.Errorf("scalar operand")
	}
	as, bs := append([]int(nil), a.Shape...), append([]int(nil), b.Shape...)
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, k2, nn := as[len(as)-2], as[len(as)-1], bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, fmt.Errorf("inner dimensions differ: %v × %v", a.Shape, b.Shape)
	}
	batch, err := broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	outShape := append(append([]int(nil), batch...), m, nn)
	total, err := e.size(outShape)
	if err != nil {
		return nil, err
	}
	out := make([]float32, total)
	af, bf := a.Floats(), b.Floats()
	sa := broadcastStrides(as[:len(as)-2], batch)
	sb := broadcastStrides(bs[:len(bs)-2], batch)
	forEachIndex(batch, sa, sb, func(i, ia, ib int) {
		matmul2(af[ia*m*k:(ia+1)*m*k], bf[ib*k*nn:(ib+1)*k*nn], out[i*m*nn:(i+1)*m*nn], m, k, nn)
	})
	// Drop the dimensions added for 1-D operands.
	final := append([]int(nil), batch...)
	if len(a.Shape) > 1 {
		final = append(final, m)
	}
	if len(b.Shape) > 1 {
		final = append(final, nn)
	}
	return []*Tensor{NewFloat(out, final...)}, nil
}

func transpose2(x []float32, r, c int) []float32 {
	y := make([]float32, len(x))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			y[j*r+i] = x[i*c+j]
		}
	}
	return y
}

func opGemm(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	alpha, err := n.AttrFloat("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := n.AttrFloat("beta", 1)
	if err != nil {
		return nil, err
	}
	ta, err := n.AttrInt("transA", 0)
	if err != nil {
		return nil, err
	}
	tb, err := n.AttrInt("transB", 0)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, fmt.Errorf("operands must be 2-D, have %v and %v", a.Shape, b.Shape)
	}
	af, bf := a.Floats(), b.Floats()
	m, k := a.Shape[0], a.Shape[1]
	if ta != 0 {
		af = transpose2(af, m, k)
		m, k = k, m
	}
	k2, nn := b.Shape[0], b.Shape[1]
	if tb != 0 {
		bf = transpose2(bf, k2, nn)
		k2, nn = nn, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("inner dimensions differ: %v × %v (transA=%d transB=%d)", a.Shape, b.Shape, ta, tb)
	}
	if _, err := e.size([]int{m, nn}); err != nil {
		return nil, err
	}
	out := make([]float32, m*nn)
	matmul2(af, bf, out, m, k, nn)
	for i := range out {
		out[i] *= alpha
	}
	if len(in) > 2 && in[2] != nil {
		c, err := broadcastTo(in[2], []int{m, nn})
		if err != nil {
			return nil, fmt.Errorf("C: %w", err)
		}
		for i := range out {
			out[i] += beta * c[i]
		}
	}
	return []*Tensor{NewFloat(out, m, nn)}, nil
}

func opPool(isMax bool) opFunc {
	return func(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("only 2-D pooling (4-D input) is supported, have %v", x.Shape)
		}
		ks, err := n.AttrInts("kernel_shape", nil)
		if err != nil {
			return nil, err
		}
		if len(ks) != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > 1<<16 || ks[1] > 1<<16 {
			return nil, n.errAttr("kernel_shape", "is %v, want two positive values", ks)
		}
		st, err := n.AttrInts("strides", []int64{1, 1})
		if err != nil {
			return nil, err
		}
		if len(st) != 2 || st[0] < 1 || st[1] < 1 || st[0] > 1<<16 || st[1] > 1<<16 {
			return nil, n.errAttr("strides", "is %v, want two positive values", st)
		}
		ceil, err := n.AttrInt("ceil_mode", 0)
		if err != nil {
			return nil, err
		}
		incl, err := n.AttrInt("count_include_pad", 0)
		if err != nil {
			return nil, err
		}
		N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		kh, kw, sh, sw := int(ks[0]), int(ks[1]), int(st[0]), int(st[1])
		p, err := autoPads(n, []int{H, W}, []int{kh, kw}, []int{sh, sw}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		outDim := func(size, pb, pe, k, s int) int {
			num := size + pb + pe - k
			if num < 0 {
				return 0
			}
			if ceil != 0 {
				o := (num+s-1)/s + 1
				if (o-1)*s >= size+pb { // the last window must start inside the input or the begin pad
					o--
				}
				return o
			}
			return num/s + 1
		}
		oh, ow := outDim(H, p[0], p[2], kh, sh), outDim(W, p[1], p[3], kw, sw)
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("output would be empty (input %v, kernel %v)", x.Shape, ks)
		}
		if _, err := e.size([]int{N, C, oh, ow}); err != nil {
			return nil, err
		}
		xf := x.Floats()
		out := make([]float32, N*C*oh*ow)
		for nc := 0; nc < N*C; nc++ {
			xc := xf[nc*H*W : (nc+1)*H*W]
			oc := out[nc*oh*ow : (nc+1)*oh*ow]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					y0, x0 := oy*sh-p[0], ox*sw-p[1]
					// The window clipped to the input, and (for
					// count_include_pad) to the input plus its pads.
					ya, yb := max(y0, 0), min(y0+kh, H)
					xa, xb := max(x0, 0), min(x0+kw, W)
					acc := float32(math.Inf(-1))
					if !isMax {
						acc = 0
					}
					for ky := ya; ky < yb; ky++ {
						for _, v := range xc[ky*W+xa : ky*W+max(xa, xb)] {
							if isMax {
								acc = max(acc, v)
							} else {
								acc += v
							}
						}
					}
					cnt := max(yb-ya, 0) * max(xb-xa, 0)
					if incl != 0 {
						cnt = max(min(y0+kh, H+p[2])-y0, 0) * max(min(x0+kw, W+p[3])-x0, 0)
					}
					if !isMax && cnt > 0 {
						acc /= float32(cnt)
					}
					oc[oy*ow+ox] = acc
				}
			}
		}
		return []*Tensor{NewFloat(out, N, C, oh, ow)}, nil
	}
}

func opGlobalAveragePool(_ *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input %v has no spatial dimensions", x.Shape)
	}
	nc := x.Shape[0] * x.Shape[1]
	sp := x.Len() / max(nc, 1)
	xf := x.Floats()
	out := make([]float32, nc)
	for i := range out {
		var s float64
		for _, v := range xf[i*sp : (i+1)*sp] {
			s += float64(v)
		}
		if sp > 0 {
			out[i] = float32(s / float64(sp))
		}
	}
	shape := []int{x.Shape[0], x.Shape[1]}
	for range x.Shape[2:] {
		shape = append(shape, 1)
	}
	return []*Tensor{NewFloat(out, shape...)}, nil
}

func opBatchNorm(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 5); err != nil {
		return nil, err
	}
	eps, err := n.AttrFloat("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("input %v has no channel dimension", x.Shape)
	}
	c := x.Shape[1]
	for i := 1; i < 5; i++ {
		if in[i].Len() != c {
			return nil, fmt.Errorf("input %d has %d values for %d channels", i, in[i].Len(), c)
		}
	}
	scale, bias, mean, vr := in[1].Floats(), in[2].Floats(), in[3].Floats(), in[4].Floats()
	sp := 1
	for _, d := range x.Shape[2:] {
		sp *= d
	}
	xf := x.Floats()
	out := make([]float32, len(xf))
	for i := range xf {
		ch := (i / sp) % c
		inv := scale[ch] / float32(math.Sqrt(float64(vr[ch]+eps)))
		out[i] = (xf[i]-mean[ch])*inv + bias[ch]
	}
	return []*Tensor{NewFloat(out, x.Shape...)}, nil
}

func reshaped(x *Tensor, shape []int) *Tensor {
	t := *x
	t.Shape = shape
	return &t
}

func opReshape(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	allowZero, err := n.AttrInt("allowzero", 0)
	if err != nil {
		return nil, err
	}
	spec := in[1].Ints()
	shape := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case d == 0 && allowZero == 0:
			if i >= len(in[0].Shape) {
				return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", spec, i, len(in[0].Shape))
			}
			shape[i] = in[0].Shape[i]
		case d < 0 || d > MaxElements:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, d)
		default:
			shape[i] = int(d)
		}
		if shape[i] != 0 && known > MaxElements/shape[i] {
			return nil, fmt.Errorf("shape %v: %w", spec, errTooLarge)
		}
		known *= shape[i]
	}
	if infer >= 0 {
		if known == 0 || in[0].Len()%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in[0].Shape, spec)
		}
		shape[infer] = in[0].Len() / known
	}
	if n, err := e.size(shape); err != nil || n != in[0].Len() {
		return nil, fmt.Errorf("cannot reshape %v to %v", in[0].Shape, spec)
	}
	return []*Tensor{reshaped(in[0], shape)}, nil
}

func opFlatten(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	axis, err := n.AttrInt("axis", 1)
	if err != nil {
		return nil, err
	}
	r := int64(len(in[0].Shape))
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return nil, n.errAttr("axis", "%d out of range for rank %d", axis, r)
	}
	outer := 1
	for _, d := range in[0].Shape[:axis] {
		outer *= d
	}
	inner := 0
	if outer > 0 {
		inner = in[0].Len() / outer
	}
	return []*Tensor{reshaped(in[0], []int{outer, inner})}, nil
}

// permute returns x with its axes reordered by perm.
func permute(x *Tensor, perm []int) (*Tensor, error) {
	r := len(x.Shape)
	if len(perm) != r {
		return nil, fmt.Errorf("permutation %v for rank %d", perm, r)
	}
	seen := make([]bool, r)
	outShape := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("invalid permutation %v", perm)
		}
		seen[p] = true
		outShape[i] = x.Shape[p]
	}
	inStrides := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		inStrides[i] = s
		s *= x.Shape[i]
	}
	st := make([]int, r)
	for i, p := range perm {
		st[i] = inStrides[p]
	}
	if x.DType == Int {
		out := make([]int64, len(x.Int))
		forEachIndex(outShape, st, st, func(i, ia, _ int) { out[i] = x.Int[ia] })
		return NewInt(out, outShape...), nil
	}
	out := make([]float32, len(x.Float))
	forEachIndex(outShape, st, st, func(i, ia, _ int) { out[i] = x.Float[ia] })
	return NewFloat(out, outShape...), nil
}

func opTranspose(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	r := len(in[0].Shape)
	def := make([]int64, r)
	for i := range def {
		def[i] = int64(r - 1 - i)
	}
	p, err := n.AttrInts("perm", def)
	if err != nil {
		return nil, err
	}
	perm := make([]int, len(p))
	for i, v := range p {
		if v < 0 || v >= int64(r) {
			return nil, n.errAttr("perm", "%v is not a permutation of rank %d", p, r)
		}
		perm[i] = int(v)
	}
	t, err := permute(in[0], perm)
	if err != nil {
		return nil, err
	}
	return []*Tensor{t}, nil
}

func opSqueeze(unsqueeze bool) opFunc {
	return func(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		axes, err := n.AttrInts("axes", nil)
		if err != nil {
			return nil, err
		}
		if len(in) > 1 && in[1] != nil {
			axes = in[1].Ints()
		}
		x := in[0]
		r := len(x.Shape)
		if unsqueeze {
			r += len(axes)
		}
		norm := make(map[int]bool)
		for _, a := range axes {
			if a < 0 {
				a += int64(r)
			}
			if a < 0 || a >= int64(r) {
				return nil, fmt.Errorf("axis %d out of range", a)
			}
			norm[int(a)] = true
		}
		var shape []int
		if unsqueeze {
			j := 0
			for i := 0; i < r; i++ {
				if norm[i] {
					shape = append(shape, 1)
				} else {
					if j >= len(x.Shape) {
						return nil, fmt.Errorf("duplicate axes %v", axes)
					}
					shape = append(shape, x.Shape[j])
					j++
				}
			}
		} else {
			for i, d := range x.Shape {
				if (len(axes) == 0 && d == 1) || norm[i] {
					if d != 1 {
						return nil, fmt.Errorf("cannot squeeze axis %d of size %d", i, d)
					}
					continue
				}
				shape = append(shape, d)
			}
		}
		return []*Tensor{reshaped(x, shape)}, nil
	}
}

func opPad(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "constant")
	if err != nil {
		return nil, err
	}
	var pads []int64
	var value float32
	if e.opset < 11 {
		if pads, err = n.AttrInts("pads", nil); err != nil {
			return nil, err
		}
		if value, err = n.AttrFloat("value", 0); err != nil {
			return nil, err
		}
	} else {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		pads = in[1].Ints()
		if len(in) > 2 && in[2] != nil {
			v, err := in[2].Scalar()
			if err != nil {
				return nil, fmt.Errorf("constant_value: %w", err)
			}
			value = float32(v)
		}
	}
	x := in[0]
	r := len(x.Shape)
	if len(pads) != 2*r {
		return nil, fmt.Errorf("pads %v for rank %d", pads, r)
	}
	out := make([]int, r)
	for i := range out {
		if pads[i] < 0 || pads[i+r] < 0 || pads[i] > 1<<20 || pads[i+r] > 1<<20 {
			return nil, fmt.Errorf("pads %v: negative or huge pads are not supported", pads)
		}
		out[i] = x.Shape[i] + int(pads[i]+pads[i+r])
	}
	total, err := e.size(out)
	if err != nil {
		return nil, err
	}
	if x.Len() == 0 && total > 0 && mode != "constant" {
		return nil, fmt.Errorf("cannot %s-pad an empty tensor", mode)
	}
	xf := x.Floats()
	y := make([]float32, total)
	idx := make([]int, r)
	for i := 0; i < total; i++ {
		src, inside := 0, true
		for d := 0; d < r; d++ {
			j := idx[d] - int(pads[d])
			sz := x.Shape[d]
			if j < 0 || j >= sz {
				switch mode {
				case "edge":
					j = min(max(j, 0), sz-1)
				case "reflect":
					if sz == 1 {
						j = 0
					} else {
						period := 2 * (sz - 1)
						j = ((j % period) + period) % period
						if j >= sz {
							j = period - j
						}
					}
				case "constant":
					inside = false
				default:
					return nil, n.errAttr("mode", "unknown value %q", mode)
				}
			}
			src = src*sz + j
		}
		if inside {
			y[i] = xf[src]
		} else {
			y[i] = value
		}
		nextIndex(idx, out)
	}
	return []*Tensor{NewFloat(y, out...)}, nil
}

func opConcat(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("no inputs")
	}
	axis, err := n.AttrInt("axis", 0)
	if err != nil {
		return nil, err
	}
	r := len(in[0].Shape)
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis >= int64(r) {
		return nil, n.errAttr("axis", "%d out of range for rank %d", axis, r)
	}
	ax := int(axis)
	shape := append([]int(nil), in[0].Shape...)
	shape[ax] = 0
	allInt := true
	for i, t := range in {
		if t == nil || len(t.Shape) != r {
			return nil, fmt.Errorf("input %d: missing or of another rank", i)
		}
		for d := range shape {
			if d != ax && t.Shape[d] != shape[d] {
				return nil, fmt.Errorf("input %d shape %v does not match %v", i, t.Shape, in[0].Shape)
			}
		}
		shape[ax] += t.Shape[ax]
		allInt = allInt && t.DType == Int
	}
	total, err := e.size(shape)
	if err != nil {
		return nil, err
	}
	outer := 1
	for _, d := range shape[:ax] {
		outer *= d
	}
	inner := 1
	for _, d := range shape[ax+1:] {
		inner *= d
	}
	if allInt {
		out := make([]int64, 0, total)
		for o := 0; o < outer; o++ {
			for _, t := range in {
				c := t.Shape[ax] * inner
				out = append(out, t.Int[o*c:(o+1)*c]...)
			}
		}
		return []*Tensor{NewInt(out, shape...)}, nil
	}
	out := make([]float32, 0, total)
	for o := 0; o < outer; o++ {
		for _, t := range in {
			c := t.Shape[ax] * inner
			out = append(out, t.Floats()[o*c:(o+1)*c]...)
		}
	}
	return []*Tensor{NewFloat(out, shape...)}, nil
}

func opDepthToSpace(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	bs, err := n.AttrInt("blocksize", 0)
	if err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "DCR")
	if err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("input %v is not 4-D", x.Shape)
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if bs < 1 || bs > 1<<10 || int64(C)%(bs*bs) != 0 {
		return nil, n.errAttr("blocksize", "%d does not divide %d channels into blocks", bs, C)
	}
	b := int(bs)
	co := C / (b * b)
	var shape, perm []int
	switch strings.ToUpper(mode) {
	case "DCR":
		shape, perm = []int{N, b, b, co, H, W}, []int{0, 3, 4, 1, 5, 2}
	case "CRD":
		shape, perm = []int{N, co, b, b, H, W}, []int{0, 1, 4, 2, 5, 3}
	default:
		return nil, n.errAttr("mode", "unknown value %q", mode)
	}
	t, err := permute(reshaped(x, shape), perm)
	if err != nil {
		return nil, err
	}
	return []*Tensor{reshaped(t, []int{N, co, H * b, W * b})}, nil
}

func opResize(n *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "nearest")
	if err != nil {
		return nil, err
	}
	if mode != "nearest" {
		return nil, n.errAttr("mode", "%q is not supported (only nearest)", mode)
	}
	ctm, err := n.AttrString("coordinate_transformation_mode", "half_pixel")
	if err != nil {
		return nil, err
	}
	nm, err := n.AttrString("nearest_mode", "round_prefer_floor")
	if err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	var scalesT, sizesT *Tensor
	if n.OpType == "Upsample" || e.opset < 11 {
		// Upsample and Resize-10: (X, scales), asymmetric, floor.
		ctm, nm = "asymmetric", "floor"
		if err := need(in, 2); err != nil {
			return nil, err
		}
		scalesT = in[1]
	} else {
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			scalesT = in[2]
		}
		if len(in) > 3 && in[3] != nil && in[3].Len() > 0 {
			sizesT = in[3]
		}
	}
	scales := make([]float64, r)
	out := make([]int, r)
	switch {
	case sizesT != nil:
		sz := sizesT.Ints()
		if len(sz) != r {
			return nil, fmt.Errorf("sizes %v for rank %d", sz, r)
		}
		for i, s := range sz {
			if s < 0 || s > MaxElements {
				return nil, fmt.Errorf("sizes %v out of range", sz)
			}
			out[i] = int(s)
			if x.Shape[i] > 0 {
				scales[i] = float64(s) / float64(x.Shape[i])
			}
		}
	case scalesT != nil:
		sc := scalesT.Floats()
		if len(sc) != r {
			return nil, fmt.Errorf("scales %v for rank %d", sc, r)
		}
		for i, s := range sc {
			if !(s > 0) || s > 1<<16 {
				return nil, fmt.Errorf("scales %v out of range", sc)
			}
			scales[i] = float64(s)
			out[i] = int(math.Floor(float64(x.Shape[i]) * float64(s)))
		}
	default:
		return nil, fmt.Errorf("neither scales nor sizes given")
	}
	total, err := e.size(out)
	if err != nil {
		return nil, err
	}
	// Source index along each axis.
	src := make([][]int, r)
	for d := 0; d < r; d++ {
		src[d] = make([]int, out[d])
		for o := range src[d] {
			var c float64
			s := scales[d]
			switch ctm {
			case "asymmetric":
				c = float64(o) / s
			case "half_pixel":
				c = (float64(o)+0.5)/s - 0.5
			case "pytorch_half_pixel":
				if out[d] > 1 {
					c = (float64(o)+0.5)/s - 0.5
				}
			case "align_corners":
				if out[d] > 1 {
					c = float64(o) * float64(x.Shape[d]-1) / float64(out[d]-1)
				}
			case "tf_half_pixel_for_nearest":
				c = (float64(o) + 0.5) / s
			default:
				return nil, n.errAttr("coordinate_transformation_mode", "%q is not supported", ctm)
			}
			var i float64
			switch nm {
			case "floor":
				i = math.Floor(c)
			case "ceil":
				i = math.Ceil(c)
			case "round_prefer_floor":
				if c-math.Floor(c) == 0.5 {
					i = math.Floor(c)
				} else {
					i = math.Round(c)
				}
			case "round_prefer_ceil":
				i = math.Round(c)
			default:
				return nil, n.errAttr("nearest_mode", "%q is not supported", nm)
			}
			src[d][o] = min(max(int(i), 0), x.Shape[d]-1)
		}
	}
	inStrides := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		inStrides[i] = s
		s *= x.Shape[i]
	}
	xf := x.Floats()
	y := make([]float32, total)
	idx := make([]int, r)
	for i := 0; i < total; i++ {
		off := 0
		for d := 0; d < r; d++ {
			off += src[d][idx[d]] * inStrides[d]
		}
		y[i] = xf[off]
		nextIndex(idx, out)
	}
	return []*Tensor{NewFloat(y, out...)}, nil
}

func opConstant(n *Node, _ []*Tensor, e env) ([]*Tensor, error) {
	if t, err := n.AttrTensor("value"); err != nil || t != nil {
		return []*Tensor{t}, err
	}
	if a, ok := n.Attrs["value_float"]; ok && a.Type == AttrFloat {
		return []*Tensor{NewFloat([]float32{a.Float})}, nil
	}
	if a, ok := n.Attrs["value_floats"]; ok && a.Type == AttrFloats {
		return []*Tensor{NewFloat(append([]float32(nil), a.Floats...), len(a.Floats))}, nil
	}
	if a, ok := n.Attrs["value_int"]; ok && a.Type == AttrInt {
		return []*Tensor{NewInt([]int64{a.Int})}, nil
	}
	if a, ok := n.Attrs["value_ints"]; ok && a.Type == AttrInts {
		return []*Tensor{NewInt(append([]int64(nil), a.Ints...), len(a.Ints))}, nil
	}
	return nil, fmt.Errorf("no supported value attribute")
}

func opShape(_ *Node, in []*Tensor, e env) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	s := make([]int64, len(in[0].Shape))
	for i, d := range in[0].Shape {
		s[i] = int64(d)
	}
	return []*Tensor{NewInt(s, len(s))}, nil
}
