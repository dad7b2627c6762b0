package onnx

// The operators: one method of the importer each (or a few that share
// their inputs), in the order of the package doc's list.

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/tensor"
)

func constantValue(n *qonnx.Node) (*qonnx.Tensor, error) {
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.Tensor == nil {
				return nil, errAttr(n, name, "is not a tensor")
			}
			return a.Tensor, nil
		case "value_float":
			return qonnx.NewFloat([]float32{a.Float}), nil
		case "value_floats":
			return qonnx.NewFloat(slices.Clone(a.Floats), len(a.Floats)), nil
		case "value_int":
			return qonnx.NewInt([]int64{a.Int}), nil
		case "value_ints":
			return qonnx.NewInt(slices.Clone(a.Ints), len(a.Ints)), nil
		default:
			return nil, errAttr(n, name, "is not supported")
		}
	}
	return nil, errNode(n, "has no value")
}

// image returns n's first input, which must be an image.
func (im *importer) image(n *qonnx.Node) (*value, error) {
	x, err := im.in(n, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 3 {
		return nil, errNode(n, "input %q has shape %v (features); want an image [batch, C, H, W]", n.Input(0), x.shape)
	}
	return x, nil
}

// elementwise adds a one-input elementwise node; the feature order of a
// flattened input carries over.
func (im *importer) elementwise(n *qonnx.Node, gn graph.Node) error {
	x, err := im.in(n, 0)
	if err != nil {
		return err
	}
	v, err := im.add(n, gn, x)
	if err != nil {
		return err
	}
	v.perm, v.rank = x.perm, x.rank
	return nil
}

func (im *importer) clip(n *qonnx.Node) error {
	gn := graph.Node{Op: graph.Clip}
	if im.opset < 11 {
		lo, err := n.AttrFloat("min", float32(math.Inf(-1)))
		if err != nil {
			return err
		}
		hi, err := n.AttrFloat("max", float32(math.Inf(1)))
		if err != nil {
			return err
		}
		gn.Min, gn.Max = finite(lo), finite(hi)
	} else {
		for i, dst := range []**float32{&gn.Min, &gn.Max} {
			t, err := im.konst(n, i+1, []string{"min", "max"}[i])
			if err != nil {
				return err
			}
			if t == nil {
				continue
			}
			s, err := t.Scalar()
			if err != nil {
				return errNode(n, "%s: %v", []string{"min", "max"}[i], err)
			}
			*dst = finite(float32(s))
		}
	}
	if gn.Min != nil && *gn.Min == 0 && gn.Max == nil {
		gn = graph.Node{Op: graph.ReLU}
	}
	return im.elementwise(n, gn)
}

func finite(v float32) *float32 {
	if math.IsInf(float64(v), 0) {
		return nil
	}
	return &v
}

// window reads the square kernel, equal strides, symmetric or asymmetric
// pads and unit dilations of a convolution or pool on an h×w image.
type window struct {
	k, stride int
	pads      [4]int // top, left, bottom, right
}

func readWindow(n *qonnx.Node, kernel []int, h, w int) (window, error) {
	var win window
	ks, err := n.AttrInts("kernel_shape", nil)
	if err != nil {
		return win, err
	}
	if ks == nil {
		ks = []int64{int64(kernel[0]), int64(kernel[1])}
	}
	if len(ks) != 2 || ks[0] != ks[1] || ks[0] < 1 {
		return win, errAttr(n, "kernel_shape", "%v: a2q supports square 2-D kernels", ks)
	}
	if kernel != nil && (int64(kernel[0]) != ks[0] || int64(kernel[1]) != ks[1]) {
		return win, errAttr(n, "kernel_shape", "%v does not match the weights' %v", ks, kernel)
	}
	win.k = int(ks[0])
	st, err := n.AttrInts("strides", []int64{1, 1})
	if err != nil {
		return win, err
	}
	if len(st) != 2 || st[0] != st[1] || st[0] < 1 {
		return win, errAttr(n, "strides", "%v: a2q supports equal strides", st)
	}
	win.stride = int(st[0])
	dl, err := n.AttrInts("dilations", []int64{1, 1})
	if err != nil {
		return win, err
	}
	for _, d := range dl {
		if d != 1 {
			return win, errAttr(n, "dilations", "%v: a2q supports dilation 1", dl)
		}
	}
	auto, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return win, err
	}
	switch auto {
	case "NOTSET", "":
		p, err := n.AttrInts("pads", []int64{0, 0, 0, 0})
		if err != nil {
			return win, err
		}
		if len(p) != 4 {
			return win, errAttr(n, "pads", "%v: want 4 values", p)
		}
		for i, v := range p {
			if v < 0 || v > graph.MaxKernel {
				return win, errAttr(n, "pads", "%v: negative or absurd", p)
			}
			// ONNX: (top, left, bottom, right) = (p[0], p[1], p[2], p[3]).
			win.pads[i] = int(v)
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i, size := range []int{h, w} {
			out := (size + win.stride - 1) / win.stride
			total := max(0, (out-1)*win.stride+win.k-size)
			lo := total / 2
			if auto == "SAME_LOWER" {
				lo = total - total/2
			}
			win.pads[i], win.pads[i+2] = lo, total-lo
		}
	default:
		return win, errAttr(n, "auto_pad", "%q is not supported", auto)
	}
	return win, nil
}

// symmetric reports whether the pads are equal on all sides.
func (w window) symmetric() bool {
	return w.pads[0] == w.pads[1] && w.pads[1] == w.pads[2] && w.pads[2] == w.pads[3]
}

// padFirst inserts an explicit Pad node for asymmetric pads and returns
// the padded input.
func (im *importer) padFirst(n *qonnx.Node, x *value, win *window, fill float32) (*value, error) {
	if win.symmetric() {
		return x, nil
	}
	gn := graph.Node{Name: im.unique(sanitize(n.Name, "pad") + ".pad"), Op: graph.Pad, Pads: slices.Clone(win.pads[:]), Value: fill}
	v, err := im.appendNode(n, gn, x)
	if err != nil {
		return nil, err
	}
	win.pads = [4]int{}
	return v, nil
}

// convInputs reads what Conv and ConvTranspose share: the image, 4-D
// weights (layout named by want), the optional bias and the group count.
func (im *importer) convInputs(n *qonnx.Node, want string) (x *value, w, b *qonnx.Tensor, groups int64, err error) {
	if x, err = im.image(n); err != nil {
		return
	}
	if w, err = im.konst(n, 1, "the weight"); err != nil {
		return
	}
	if w == nil || len(w.Shape) != 4 {
		err = errNode(n, "want 4-D weights %s", want)
		return
	}
	if b, err = im.konst(n, 2, "the bias"); err != nil {
		return
	}
	if groups, err = n.AttrInt("group", 1); err != nil {
		return
	}
	if groups < 1 || groups > graph.MaxChannels {
		err = errAttr(n, "group", "%d", groups)
	}
	return
}

func (im *importer) conv(n *qonnx.Node) error {
	x, w, b, groups, err := im.convInputs(n, "[Cout, Cin/groups, kH, kW]")
	if err != nil {
		return err
	}
	win, err := readWindow(n, w.Shape[2:], x.shape[0], x.shape[1])
	if err != nil {
		return err
	}
	if x, err = im.padFirst(n, x, &win, 0); err != nil {
		return err
	}
	cout, cin := w.Shape[0], w.Shape[1]*int(groups)
	gn := graph.Node{Op: graph.Conv, In: cin, Out: cout, Kernel: win.k, Stride: win.stride, Pad: win.pads[0], Groups: int(groups), Bias: b != nil}
	v, err := im.add(n, gn, x)
	if err != nil {
		return err
	}
	if b == nil {
		v.layer = len(im.g.Nodes) - 1
	}
	// OIHW → [O, KH, KW, I/g].
	wt := tensor.New(cout, win.k, win.k, w.Shape[1])
	src := w.Floats()
	ci := w.Shape[1]
	kk := win.k * win.k
	for o := 0; o < cout; o++ {
		for c := 0; c < ci; c++ {
			for p := 0; p < kk; p++ {
				wt.Data[(o*kk+p)*ci+c] = src[(o*ci+c)*kk+p]
			}
		}
	}
	return im.setParams(n, v.name, wt, b, cout)
}

func (im *importer) convTranspose(n *qonnx.Node) error {
	x, w, b, groups, err := im.convInputs(n, "[Cin, Cout/groups, kH, kW]")
	if err != nil {
		return err
	}
	for _, a := range []string{"output_shape", "auto_pad"} {
		if _, ok := n.Attrs[a]; ok {
			if s, _ := n.AttrString(a, "NOTSET"); a == "auto_pad" && (s == "NOTSET" || s == "") {
				continue
			}
			return errAttr(n, a, "is not supported (give pads and output_padding)")
		}
	}
	win, err := readWindow(n, w.Shape[2:], x.shape[0], x.shape[1])
	if err != nil {
		return err
	}
	if !win.symmetric() {
		return errAttr(n, "pads", "%v: a2q supports symmetric pads on transposed convolutions", win.pads)
	}
	op, err := n.AttrInts("output_padding", []int64{0, 0})
	if err != nil {
		return err
	}
	if len(op) != 2 || op[0] != op[1] || op[0] < 0 {
		return errAttr(n, "output_padding", "%v: a2q supports equal output padding", op)
	}
	cin, coutG := w.Shape[0], w.Shape[1]
	cout := coutG * int(groups)
	if cin%int(groups) != 0 {
		return errAttr(n, "group", "%d does not divide %d input channels", groups, cin)
	}
	gn := graph.Node{Op: graph.ConvTranspose, In: cin, Out: cout, Kernel: win.k, Stride: win.stride, Pad: win.pads[0],
		OutputPad: int(op[0]), Groups: int(groups), Bias: b != nil}
	v, err := im.add(n, gn, x)
	if err != nil {
		return err
	}
	// [Cin, Cout/g, kH, kW] → [Cout, KH, KW, Cin/g]: output channel og of
	// group gi is og + gi·Cout/g, input channel ci of the group ci + gi·Cin/g.
	kk := win.k * win.k
	cinG := cin / int(groups)
	wt := tensor.New(cout, win.k, win.k, cinG)
	src := w.Floats()
	for c := 0; c < cin; c++ {
		gi, ci := c/cinG, c%cinG
		for og := 0; og < coutG; og++ {
			o := gi*coutG + og
			for p := 0; p < kk; p++ {
				wt.Data[(o*kk+p)*cinG+ci] = src[(c*coutG+og)*kk+p]
			}
		}
	}
	return im.setParams(n, v.name, wt, b, cout)
}

// setParams stores a layer's weight and optional bias (checked to hold
// out values).
func (im *importer) setParams(n *qonnx.Node, name string, w *tensor.Tensor, b *qonnx.Tensor, out int) error {
	if err := finiteData(w.Data); err != nil {
		return errNode(n, "weights: %v", err)
	}
	im.w[name+".weight"] = w
	if b != nil {
		if b.Len() != out {
			return errNode(n, "bias has %d values for %d outputs", b.Len(), out)
		}
		bt := tensor.FromData(slices.Clone(b.Floats()), out)
		if err := finiteData(bt.Data); err != nil {
			return errNode(n, "bias: %v", err)
		}
		im.w[name+".bias"] = bt
	}
	return nil
}

func finiteData(d []float32) error {
	for i, v := range d {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("value %d is %v", i, v)
		}
	}
	return nil
}

// vector returns n's i-th input, which must be a feature vector (an image
// flattened to [N, C, 1, 1] after global pooling counts as one).
func (im *importer) vector(n *qonnx.Node, i int) (*value, error) {
	x, err := im.in(n, i)
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 1 {
		return nil, errNode(n, "input %q has shape %v; want features [batch, F] (flatten the image first)", n.Input(i), x.shape)
	}
	return x, nil
}

// linear adds a linear node with weights w [Out, In] (in the file's
// feature order) reading x, permuting the columns to x's graph order.
func (im *importer) linear(n *qonnx.Node, x *value, w []float32, out int, bias []float32) error {
	in := x.shape[0]
	gn := graph.Node{Op: graph.Linear, In: in, Out: out, Bias: bias != nil}
	v, err := im.add(n, gn, x)
	if err != nil {
		return err
	}
	wt := tensor.New(out, in)
	for o := 0; o < out; o++ {
		for j := 0; j < in; j++ {
			dst := j
			if x.perm != nil {
				dst = x.perm[j]
			}
			wt.Data[o*in+dst] = w[o*in+j]
		}
	}
	var b *qonnx.Tensor
	if bias != nil {
		b = qonnx.NewFloat(bias, len(bias))
	} else {
		v.layer = len(im.g.Nodes) - 1
	}
	return im.setParams(n, v.name, wt, b, out)
}

func (im *importer) gemm(n *qonnx.Node) error {
	x, err := im.vector(n, 0)
	if err != nil {
		return err
	}
	w, err := im.konst(n, 1, "B (the weight)")
	if err != nil {
		return err
	}
	if w == nil || len(w.Shape) != 2 {
		return errNode(n, "want a 2-D weight B")
	}
	c, err := im.konst(n, 2, "C (the bias)")
	if err != nil {
		return err
	}
	ta, err := n.AttrInt("transA", 0)
	if err != nil {
		return err
	}
	if ta != 0 {
		return errAttr(n, "transA", "%d: a2q supports transA = 0", ta)
	}
	tb, err := n.AttrInt("transB", 0)
	if err != nil {
		return err
	}
	alpha, err := n.AttrFloat("alpha", 1)
	if err != nil {
		return err
	}
	beta, err := n.AttrFloat("beta", 1)
	if err != nil {
		return err
	}
	in := x.shape[0]
	src := w.Floats()
	var out int
	var wt []float32
	if tb != 0 { // B is [Out, In]
		out = w.Shape[0]
		if w.Shape[1] != in {
			return errNode(n, "weight %v for %d input features", w.Shape, in)
		}
		wt = slices.Clone(src)
	} else { // B is [In, Out]
		out = w.Shape[1]
		if w.Shape[0] != in {
			return errNode(n, "weight %v for %d input features", w.Shape, in)
		}
		wt = transpose(src, in, out)
	}
	for i := range wt {
		wt[i] *= alpha
	}
	var bias []float32
	if c != nil {
		if c.Len() != out && c.Len() != 1 {
			return errNode(n, "C has shape %v for %d outputs", c.Shape, out)
		}
		bias = make([]float32, out)
		cv := c.Floats()
		for i := range bias {
			bias[i] = beta * cv[i%len(cv)]
		}
	}
	return im.linear(n, x, wt, out, bias)
}

func transpose(a []float32, r, c int) []float32 {
	t := make([]float32, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = a[i*c+j]
		}
	}
	return t
}

func (im *importer) matmul(n *qonnx.Node) error {
	x, err := im.vector(n, 0)
	if err != nil {
		return err
	}
	w, err := im.konst(n, 1, "the weight")
	if err != nil {
		return err
	}
	if w == nil || len(w.Shape) != 2 || w.Shape[0] != x.shape[0] {
		return errNode(n, "want a 2-D weight [%d, out]", x.shape[0])
	}
	return im.linear(n, x, transpose(w.Floats(), w.Shape[0], w.Shape[1]), w.Shape[1], nil)
}

func (im *importer) batchNorm(n *qonnx.Node) error {
	x, err := im.in(n, 0)
	if err != nil {
		return err
	}
	if tm, _ := n.AttrInt("training_mode", 0); tm != 0 {
		return errAttr(n, "training_mode", "%d: export the network in eval mode (batch norm with running statistics)", tm)
	}
	eps, err := n.AttrFloat("epsilon", 1e-5)
	if err != nil {
		return err
	}
	c := x.shape[len(x.shape)-1]
	if x.perm != nil {
		return errNode(n, "batch norm of a flattened image is not supported")
	}
	params := make([]*tensor.Tensor, 4)
	for i, what := range []string{"scale", "bias", "mean", "variance"} {
		t, err := im.konst(n, i+1, what)
		if err != nil {
			return err
		}
		if t == nil || t.Len() != c {
			return errNode(n, "%s must hold %d values", what, c)
		}
		params[i] = tensor.FromData(slices.Clone(t.Floats()), c)
		if err := finiteData(params[i].Data); err != nil {
			return errNode(n, "%s: %v", what, err)
		}
	}
	for i, v := range params[3].Data {
		if v < 0 {
			return errNode(n, "variance %d is negative (%v)", i, v)
		}
	}
	v, err := im.add(n, graph.Node{Op: graph.BatchNorm, Out: c, Eps: eps}, x)
	if err != nil {
		return err
	}
	v.rank = x.rank
	for i, role := range []string{"weight", "bias", "running_mean", "running_var"} {
		im.w[v.name+"."+role] = params[i]
	}
	return nil
}

func (im *importer) pool(n *qonnx.Node) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	if cm, _ := n.AttrInt("ceil_mode", 0); cm != 0 {
		return errAttr(n, "ceil_mode", "%d: a2q supports ceil_mode = 0", cm)
	}
	if so, _ := n.AttrInt("storage_order", 0); so != 0 {
		return errAttr(n, "storage_order", "%d is not supported", so)
	}
	win, err := readWindow(n, nil, x.shape[0], x.shape[1])
	if err != nil {
		return err
	}
	gn := graph.Node{Op: graph.MaxPool, Kernel: win.k, Stride: win.stride}
	fill := float32(math.Inf(-1))
	if n.OpType == "AveragePool" {
		cip, err := n.AttrInt("count_include_pad", 0)
		if err != nil {
			return err
		}
		gn.Op, gn.CountPad, fill = graph.AvgPool, cip != 0, 0
		if !win.symmetric() && !gn.CountPad {
			return errAttr(n, "pads", "%v: asymmetric pads need count_include_pad = 1", win.pads)
		}
	}
	if !win.symmetric() {
		if fill != 0 {
			return errAttr(n, "pads", "%v: a2q supports symmetric pads on MaxPool", win.pads)
		}
		if x, err = im.padFirst(n, x, &win, 0); err != nil {
			return err
		}
	}
	gn.Pad = win.pads[0]
	_, err = im.add(n, gn, x)
	return err
}

func (im *importer) pad(n *qonnx.Node) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	mode, err := n.AttrString("mode", "constant")
	if err != nil {
		return err
	}
	if mode != "constant" {
		return errAttr(n, "mode", "%q: a2q supports constant padding", mode)
	}
	var pt *qonnx.Tensor
	if im.opset < 11 {
		p, err := n.AttrInts("pads", nil)
		if err != nil {
			return err
		}
		pt = qonnx.NewInt(p, len(p))
	} else if pt, err = im.konst(n, 1, "pads"); err != nil {
		return err
	}
	if pt == nil || pt.Len() != 8 {
		return errNode(n, "pads must be a constant of 8 values [N, C, H, W begin, N, C, H, W end]")
	}
	if len(n.Inputs) > 3 && n.Input(3) != "" {
		return errNode(n, "the axes input is not supported")
	}
	p := pt.Ints()
	if p[0] != 0 || p[1] != 0 || p[4] != 0 || p[5] != 0 {
		return errNode(n, "pads %v: a2q pads height and width only", p)
	}
	var fill float32
	if im.opset < 11 {
		if fill, err = n.AttrFloat("value", 0); err != nil {
			return err
		}
	} else if cv, err := im.konst(n, 2, "constant_value"); err != nil {
		return err
	} else if cv != nil {
		s, err := cv.Scalar()
		if err != nil {
			return errNode(n, "constant_value: %v", err)
		}
		fill = float32(s)
	}
	pads := []int{int(p[2]), int(p[3]), int(p[6]), int(p[7])}
	for _, v := range pads {
		if v < 0 || v > graph.MaxSide {
			return errNode(n, "pads %v: negative (cropping) or absurd", p)
		}
	}
	_, err = im.add(n, graph.Node{Op: graph.Pad, Pads: pads, Value: fill}, x)
	return err
}

func (im *importer) add2(n *qonnx.Node) error {
	if len(n.Inputs) != 2 {
		return errNode(n, "want 2 inputs")
	}
	a, aok := im.vals[n.Input(0)]
	b, bok := im.vals[n.Input(1)]
	if !aok || !bok {
		return errNode(n, "an input is missing")
	}
	aName := n.Input(0)
	if a.konst != nil {
		a, b, aName = b, a, n.Input(1)
	}
	if b.konst != nil {
		// A constant added to a bias-less layer's output is its bias.
		if a.konst != nil || a.layer < 0 || len(im.m.Graph.Consumers(aName)) > 1 {
			return errNode(n, "adding a constant is supported only as the bias of the Conv, Gemm or MatMul before it")
		}
		ln := &im.g.Nodes[a.layer]
		if b.konst.Len() != ln.Out && b.konst.Len() != 1 {
			return errNode(n, "bias of shape %v for %d outputs", b.konst.Shape, ln.Out)
		}
		bias := make([]float32, ln.Out)
		cv := b.konst.Floats()
		for i := range bias {
			bias[i] = cv[i%len(cv)]
		}
		if err := finiteData(bias); err != nil {
			return errNode(n, "bias: %v", err)
		}
		ln.Bias = true
		im.w[ln.Name+".bias"] = tensor.FromData(bias, ln.Out)
		a.layer = -1
		im.vals[n.Outputs[0]] = a
		return nil
	}
	if !slices.Equal(a.perm, b.perm) {
		return errNode(n, "adds values whose feature orders differ")
	}
	v, err := im.add(n, graph.Node{Op: graph.Add}, a, b)
	if err != nil {
		return err
	}
	v.perm, v.rank = a.perm, a.rank
	return nil
}

func (im *importer) concat(n *qonnx.Node) error {
	axis, err := n.AttrInt("axis", 1)
	if err != nil {
		return err
	}
	var ins []*value
	for i := range n.Inputs {
		v, err := im.in(n, i)
		if err != nil {
			return err
		}
		if v.perm != nil {
			return errNode(n, "concatenation of flattened images is not supported")
		}
		ins = append(ins, v)
	}
	if len(ins) == 0 {
		return errNode(n, "has no inputs")
	}
	rank := ins[0].rank
	if axis < 0 {
		axis += int64(rank)
	}
	if axis != 1 {
		return errAttr(n, "axis", "%d: a2q concatenates along channels (axis 1)", axis)
	}
	v, err := im.add(n, graph.Node{Op: graph.Concat}, ins...)
	if err != nil {
		return err
	}
	v.rank = rank
	return nil
}

// flatten records the graph's NHWC flatten and the permutation from the
// file's NCHW feature order to it.
func (im *importer) flatten(n *qonnx.Node) error {
	axis, err := n.AttrInt("axis", 1)
	if err != nil {
		return err
	}
	x, err := im.in(n, 0)
	if err != nil {
		return err
	}
	if axis != 1 && !(axis == -3 && x.rank == 4) && !(axis == -1 && x.rank == 2) {
		return errAttr(n, "axis", "%d: a2q flattens everything but the batch dimension (axis 1)", axis)
	}
	return im.flattenTo(n, x)
}

func (im *importer) flattenTo(n *qonnx.Node, x *value) error {
	if len(x.shape) == 1 {
		v := *x
		v.rank = 2
		im.vals[n.Outputs[0]] = &v
		return nil
	}
	v, err := im.add(n, graph.Node{Op: graph.Flatten}, x)
	if err != nil {
		return err
	}
	h, w, c := x.shape[0], x.shape[1], x.shape[2]
	if h*w > 1 && c > 1 {
		v.perm = make([]int, h*w*c)
		for ci := 0; ci < c; ci++ {
			for p := 0; p < h*w; p++ {
				v.perm[ci*h*w+p] = p*c + ci
			}
		}
	}
	v.rank = 2
	return nil
}

func (im *importer) reshape(n *qonnx.Node) error {
	if v, ok := im.vals[n.Input(0)]; ok && v.konst != nil {
		return im.reshapeConstant(n, v.konst)
	}
	x, err := im.in(n, 0)
	if err != nil {
		return err
	}
	st, err := im.konst(n, 1, "the shape")
	if err != nil {
		return err
	}
	if st == nil {
		return errNode(n, "needs a constant shape")
	}
	s := st.Ints()
	total := 1
	for _, d := range x.shape {
		total *= d
	}
	if len(s) == 2 && (s[0] == -1 || s[0] == 0 || s[0] > 0) && (s[1] == -1 || s[1] == int64(total)) && !(s[0] == -1 && s[1] == -1) {
		if s[0] > 0 && s[0] != im.batch {
			return errNode(n, "shape %v fixes the batch size; a2q reshapes to [batch, features] ([-1, %d] or [0, -1])", s, total)
		}
		return im.flattenTo(n, x)
	}
	return errNode(n, "shape %v: a2q supports reshaping to [batch, features] only", s)
}

// reshapeConstant folds a Reshape of a constant into a constant.
func (im *importer) reshapeConstant(n *qonnx.Node, t *qonnx.Tensor) error {
	st, err := im.konst(n, 1, "the shape")
	if err != nil {
		return err
	}
	if st == nil {
		return errNode(n, "needs a constant shape")
	}
	shape := make([]int, 0, st.Len())
	infer, known := -1, 1
	for i, d := range st.Ints() {
		switch {
		case d == -1 && infer < 0:
			infer = len(shape)
			shape = append(shape, 1)
		case d == 0 && i < len(t.Shape):
			shape = append(shape, t.Shape[i])
			known *= t.Shape[i]
		case d > 0 && d <= qonnx.MaxElements:
			shape = append(shape, int(d))
			known *= int(d)
		default:
			return errNode(n, "shape %v for a constant of shape %v", st.Ints(), t.Shape)
		}
		if known > qonnx.MaxElements {
			return errNode(n, "shape %v is too large", st.Ints())
		}
	}
	if infer >= 0 {
		if known == 0 || t.Len()%known != 0 {
			return errNode(n, "shape %v for a constant of shape %v", st.Ints(), t.Shape)
		}
		shape[infer] = t.Len() / known
		known = t.Len()
	}
	if known != t.Len() {
		return errNode(n, "shape %v for a constant of %d values", st.Ints(), t.Len())
	}
	c := t.Clone()
	c.Shape = shape
	im.vals[n.Outputs[0]] = &value{konst: c, layer: -1}
	return nil
}

func (im *importer) depthToSpace(n *qonnx.Node) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	r, err := n.AttrInt("blocksize", 0)
	if err != nil {
		return err
	}
	if r < 1 || r > graph.MaxKernel {
		return errAttr(n, "blocksize", "%d", r)
	}
	mode, err := n.AttrString("mode", "DCR")
	if err != nil {
		return err
	}
	if mode != "DCR" && mode != "CRD" {
		return errAttr(n, "mode", "%q: want DCR or CRD", mode)
	}
	_, err = im.add(n, graph.Node{Op: graph.DepthToSpace, Factor: int(r), DCR: mode == "DCR"}, x)
	return err
}

func (im *importer) resize(n *qonnx.Node) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	mode, err := n.AttrString("mode", "nearest")
	if err != nil {
		return err
	}
	if mode != "nearest" {
		return errAttr(n, "mode", "%q: a2q supports nearest resizing", mode)
	}
	ctm, err := n.AttrString("coordinate_transformation_mode", "half_pixel")
	if err != nil {
		return err
	}
	nm, err := n.AttrString("nearest_mode", "round_prefer_floor")
	if err != nil {
		return err
	}
	// For an integer factor s, output pixel k·s + j must read input k.
	ok := n.OpType == "Upsample" // asymmetric and floor by definition
	switch ctm {
	case "asymmetric", "tf_half_pixel_for_nearest":
		ok = ok || nm == "floor"
	case "half_pixel", "pytorch_half_pixel":
		ok = ok || nm == "round_prefer_floor" || nm == "round_prefer_ceil"
	}
	if !ok {
		return errAttr(n, "coordinate_transformation_mode", "%q with nearest_mode %q does not map an integer upscaling onto pixel blocks", ctm, nm)
	}
	var scales []float32
	var sizes []int64
	if n.OpType == "Upsample" || im.opset < 11 {
		t, err := im.konst(n, 1, "scales")
		if err != nil || t == nil {
			return errNode(n, "needs constant scales")
		}
		scales = t.Floats()
	} else {
		if t, err := im.konst(n, 2, "scales"); err != nil {
			return err
		} else if t != nil && t.Len() > 0 {
			scales = t.Floats()
		}
		if t, err := im.konst(n, 3, "sizes"); err != nil {
			return err
		} else if t != nil && t.Len() > 0 {
			sizes = t.Ints()
		}
	}
	h, w, c := x.shape[0], x.shape[1], x.shape[2]
	var fh, fw float64
	switch {
	case len(scales) == 4:
		if scales[0] != 1 || scales[1] != 1 {
			return errNode(n, "scales %v: a2q resizes height and width only", scales)
		}
		fh, fw = float64(scales[2]), float64(scales[3])
	case len(sizes) == 4:
		if sizes[1] != int64(c) {
			return errNode(n, "sizes %v: a2q resizes height and width only", sizes)
		}
		fh, fw = float64(sizes[2])/float64(h), float64(sizes[3])/float64(w)
	default:
		return errNode(n, "needs 4 constant scales or sizes")
	}
	if fh != fw || fh < 1 || fh != math.Trunc(fh) || fh > graph.MaxKernel {
		return errNode(n, "scale %v × %v: a2q supports equal integer upscaling", fh, fw)
	}
	_, err = im.add(n, graph.Node{Op: graph.Resize, Factor: int(fh)}, x)
	return err
}
