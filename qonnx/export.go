package qonnx

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// ExportOptions configure Export.
type ExportOptions struct {
	// DynamicBatch declares the batch dimension of the graph input and
	// output as the symbolic "batch" instead of 1 (FINN wants 1; runtimes
	// that batch want it symbolic).
	DynamicBatch bool
}

// Export converts a2q model m into a QONNX graph that computes the same
// function on NCHW input (the model itself runs on NHWC):
//
//   - graph input "input", N×C×H×W float32 (N = 1, or symbolic with
//     ExportOptions.DynamicBatch); graph output "output", N×classes for a
//     classifier or an NCHW image for super-resolution;
//   - every quantized layer becomes an activation Quant node on its input
//     (scale s_x, zero point 0, N bits, the quantizer's signedness, narrow
//     0, rounding ROUND), its integer weights q stored as a float
//     initialiser q·s_c (OIHW for a convolution, [out, in] for a linear
//     layer) followed by a weight Quant node (per-channel scale s_c shaped
//     [C,1,1,1] or [C,1], zero point 0, M bits, signed, narrow), then Conv
//     (strides, pads, group) or Gemm (transB = 1), then a float bias Add.
//     The Conv or Gemm node carries the layer's name, so Model.Layers and
//     Inspect report the layers under the names a2q uses;
//   - float layers become plain Conv or Gemm on float weights, plus Add;
//   - ReLU, MaxPool, AvgPool, BatchNorm (inference form, running
//     statistics), PixelShuffle (DepthToSpace, mode CRD), GlobalAvgPool
//     (GlobalAveragePool then Flatten) and residual blocks (Add) map to
//     their ONNX ops. a2q flattens NHWC tensors, so Flatten (and a linear
//     layer on a 4-D tensor) becomes Transpose to NHWC followed by Flatten
//     when the tensor has more than one channel and more than one pixel.
//
// The graph's metadata carries each quantized layer's certificate (see
// CertificatesKey). The fake-quantized float graph accumulates products of
// dequantised values, so its outputs match the model's within float32
// rounding (and an activation on a rounding tie may, rarely, land one step
// apart), while the integer weights, scales and bit widths are exactly the
// model's.
// Export fails, naming the layer, on a module it cannot express and on an
// activation quantizer that was never calibrated (its scale would not be
// the one the model uses on its first batch).
func Export(m *models.Model, o ExportOptions) (*Model, error) {
	c := m.Config
	if c.InC < 1 || c.InH < 1 || c.InW < 1 {
		return nil, fmt.Errorf("qonnx: export: model %s has input shape %dx%dx%d", c.Model, c.InC, c.InH, c.InW)
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("qonnx: export: model %s has no layers", c.Model)
	}
	e := &exporter{b: NewGraph(c.Model), dynamic: o.DynamicBatch, names: make(map[string]bool)}
	e.b.AddInput("input", 1, c.InC, c.InH, c.InW)
	e.setDims(&e.b.g.Inputs[0])
	out, err := e.module(m.Net, value{name: "input", shape: []int{1, c.InC, c.InH, c.InW}}, "net")
	if err != nil {
		return nil, fmt.Errorf("qonnx: export: model %s: %w", c.Model, err)
	}
	// Rename the last value "output". It is produced by the last node and
	// read by none.
	if len(e.b.nodes) == 0 || e.b.nodes[len(e.b.nodes)-1].Outputs[0] != out.name {
		return nil, fmt.Errorf("qonnx: export: model %s: the network computes nothing", c.Model)
	}
	last := e.b.nodes[len(e.b.nodes)-1]
	delete(e.b.g.ValueInfo, out.name)
	last.Outputs[0] = "output"
	e.b.AddOutput("output", out.shape...)
	e.setDims(&e.b.g.Outputs[0])
	mod, err := e.b.Model()
	if err != nil {
		return nil, fmt.Errorf("qonnx: export: model %s: %w", c.Model, err)
	}
	if err := exportClaims(mod, m); err != nil {
		return nil, fmt.Errorf("qonnx: export: model %s: %w", c.Model, err)
	}
	return mod, nil
}

// exportClaims stores in g's metadata (CertificatesKey) the certificate of
// every quantized layer, recomputed from the exported graph itself with
// the layer's tile (models.Model.Certificates): the claimed width is the
// one the layer's quantizer targets (its AccBits) when the layer is
// certified at it, else its exact width (its tiles' for a tiled layer);
// the first and last layers are marked Edge. A graph with no quantized
// layer gets no claims.
func exportClaims(g *Model, m *models.Model) error {
	if !g.HasQuant() {
		return nil
	}
	certs, err := m.Certificates(false)
	if err != nil {
		return err
	}
	target := make(map[string]int, len(certs))
	tiles := make(map[string]int, len(certs))
	for _, c := range certs {
		target[c.Name], tiles[c.Name] = c.AccBitsTarget, c.Tile
	}
	edge := make(map[string]bool)
	for i, l := range m.Layers {
		edge[l.Name] = l.W != nil && !m.Hidden(i)
	}
	r, err := InspectWith(g, InspectOptions{tiles: tiles})
	if err != nil {
		return err
	}
	claims := make([]Claim, 0, len(r.Layers))
	for _, c := range r.Layers {
		p := max(c.NeededBits(), accum.MinAccBits)
		if t := target[c.Name]; t >= p && accum.CheckAccBits(t) == nil {
			p = t
		}
		cl, ok := NewClaim(c, p)
		if !ok {
			return fmt.Errorf("layer %s: no bound proves P = %d", c.Name, p)
		}
		cl.Edge = edge[c.Name]
		claims = append(claims, cl)
	}
	return g.SetClaims(claims)
}

// value is a tensor of the graph being built, with its NCHW (or N×F) shape.
type value struct {
	name  string
	shape []int
}

type exporter struct {
	b       *Builder
	dynamic bool
	names   map[string]bool // node names in use
}

// setDims makes the batch dimension symbolic when asked to.
func (e *exporter) setDims(v *ValueInfo) {
	if !e.dynamic || len(v.Shape) == 0 {
		return
	}
	v.Shape[0] = -1
	v.DimParams = make([]string, len(v.Shape))
	v.DimParams[0] = "batch"
}

// unique returns name, or name with a numeric suffix if a node already has it.
func (e *exporter) unique(name string) string {
	n := name
	for i := 1; e.names[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	e.names[n] = true
	return n
}

// node adds a node, declares the shape of its output and returns it.
func (e *exporter) node(op, name string, inputs []string, shape []int, attrs ...*Attr) value {
	out := e.b.AddNode(op, "", e.unique(name), inputs, 1, attrs...)
	e.declare(out, shape)
	return value{name: out, shape: shape}
}

func (e *exporter) declare(name string, shape []int) {
	v := ValueInfo{Name: name, ElemType: 1, Shape: dims64(shape)} // 1: FLOAT
	e.setDims(&v)
	e.b.g.ValueInfo[name] = v
}

// module exports mod applied to x; path names the module in errors.
func (e *exporter) module(mod nn.Module, x value, path string) (value, error) {
	switch v := mod.(type) {
	case nn.Sequential:
		for i, sub := range v {
			var err error
			if x, err = e.module(sub, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return x, err
			}
		}
		return x, nil
	case *nn.Sequential:
		return e.module(*v, x, path)
	case *quant.Layer:
		return e.layer(v, x)
	case *nn.Conv2d:
		l := &quant.Layer{Name: v.Name, Kind: "conv", InC: v.In, OutC: v.Out, Kernel: v.Kernel, Options: v.Options, Weight: v.Weight, Bias: v.Bias}
		return e.layer(l, x)
	case *nn.Linear:
		l := &quant.Layer{Name: v.Name, Kind: "linear", InC: v.In, OutC: v.Out, Weight: v.Weight, Bias: v.Bias}
		return e.layer(l, x)
	case nn.ReLU, *nn.ReLU:
		return e.node("Relu", path+".relu", []string{x.name}, x.shape), nil
	case nn.MaxPool:
		return e.pool("MaxPool", v.K, v.Stride, x, path+".maxpool")
	case *nn.MaxPool:
		return e.pool("MaxPool", v.K, v.Stride, x, path+".maxpool")
	case nn.AvgPool:
		return e.pool("AveragePool", v.K, v.Stride, x, path+".avgpool")
	case *nn.AvgPool:
		return e.pool("AveragePool", v.K, v.Stride, x, path+".avgpool")
	case nn.GlobalAvgPool, *nn.GlobalAvgPool:
		if len(x.shape) != 4 {
			return x, fmt.Errorf("%s: global average pooling of a %d-D tensor %v", path, len(x.shape), x.shape)
		}
		p := e.node("GlobalAveragePool", path+".global_avgpool", []string{x.name}, []int{x.shape[0], x.shape[1], 1, 1})
		return e.node("Flatten", path+".flatten", []string{p.name}, []int{x.shape[0], x.shape[1]}, IntAttr("axis", 1)), nil
	case nn.Flatten, *nn.Flatten:
		return e.flatten(x, path), nil
	case nn.PixelShuffle:
		return e.pixelShuffle(v.R, x, path)
	case *nn.PixelShuffle:
		return e.pixelShuffle(v.R, x, path)
	case *nn.BatchNorm:
		return e.batchNorm(v, x)
	case *nn.Residual:
		return e.residual(v, x, path)
	case *nn.DAG:
		return e.dag(v, x, path)
	case quant.OnGrid:
		return e.module(v.Op, e.actQuant(v.Q, x), path)
	case nn.Clip:
		return e.clip(v, x, path), nil
	case nn.LeakyReLU:
		return e.node("LeakyRelu", path+".leaky_relu", []string{x.name}, x.shape, FloatAttr("alpha", v.Alpha)), nil
	case nn.Sigmoid:
		return e.node("Sigmoid", path+".sigmoid", []string{x.name}, x.shape), nil
	case nn.PaddedPool:
		op := "AveragePool"
		var attrs []*Attr
		if v.Max {
			op = "MaxPool"
		} else if v.CountPad {
			attrs = append(attrs, IntAttr("count_include_pad", 1))
		}
		return e.paddedPool(op, v.K, v.Stride, v.Pad, x, path+"."+strings.ToLower(op), attrs...)
	case nn.Pad:
		return e.pad(v, x, path)
	case nn.DepthToSpaceDCR:
		if len(x.shape) != 4 || v.R < 1 || x.shape[1]%(v.R*v.R) != 0 {
			return x, fmt.Errorf("%s: depth to space by %d of input %v", path, v.R, x.shape)
		}
		s := x.shape
		return e.node("DepthToSpace", path+".depth_to_space", []string{x.name}, []int{s[0], s[1] / (v.R * v.R), s[2] * v.R, s[3] * v.R},
			IntAttr("blocksize", int64(v.R)), StringAttr("mode", "DCR")), nil
	case nn.ResizeNearest:
		return e.resize(v.F, x, path)
	}
	return x, fmt.Errorf("%s: module %T has no QONNX export", path, mod)
}

// dag exports the steps of a network with branches; Add and Concat join
// their inputs.
func (e *exporter) dag(d *nn.DAG, x value, path string) (value, error) {
	vals := []value{x}
	for _, s := range d.Steps {
		ins := make([]value, len(s.Inputs))
		for i, k := range s.Inputs {
			if k < 0 || k >= len(vals) {
				return x, fmt.Errorf("%s.%s: input %d is not an earlier step", path, s.Name, k)
			}
			ins[i] = vals[k]
		}
		var out value
		var err error
		if sum, ok := s.Op.(quant.Sum); ok {
			for i := range ins {
				ins[i] = e.actQuant(sum.Q, ins[i])
			}
		}
		switch op := s.Op.(type) {
		case nn.Add, quant.Sum:
			names := []string{ins[0].name}
			for _, in := range ins[1:] {
				if !slices.Equal(in.shape, ins[0].shape) {
					return x, fmt.Errorf("%s: adds %v and %v", s.Name, ins[0].shape, in.shape)
				}
				names = append(names, in.name)
			}
			out = ins[0]
			for _, n := range names[1:] {
				out = e.node("Add", s.Name, []string{out.name, n}, ins[0].shape)
			}
		case nn.Concat:
			shape := slices.Clone(ins[0].shape)
			names := []string{ins[0].name}
			for _, in := range ins[1:] {
				if len(in.shape) != len(shape) || !slices.Equal(in.shape[2:], shape[2:]) || in.shape[0] != shape[0] {
					return x, fmt.Errorf("%s: concatenates %v and %v along channels", s.Name, ins[0].shape, in.shape)
				}
				shape[1] += in.shape[1]
				names = append(names, in.name)
			}
			out = e.node("Concat", s.Name, names, shape, IntAttr("axis", 1))
		case nn.Module:
			out, err = e.module(op, ins[0], s.Name)
		default:
			err = fmt.Errorf("%s: step %T has no QONNX export", s.Name, s.Op)
		}
		if err != nil {
			return x, err
		}
		vals = append(vals, out)
	}
	if d.Output < 0 || d.Output >= len(vals) {
		return x, fmt.Errorf("%s: output %d is not a step", path, d.Output)
	}
	return vals[d.Output], nil
}

// actQuant exports an activation quantizer on x (a Quant node whose
// output is the dequantized value).
func (e *exporter) actQuant(q *quant.ActQuant, x value) value {
	out := e.b.AddQuant(e.unique(q.Name), x.name, NewFloat([]float32{q.Scale()}), q.Bits, q.Signed, false)
	e.declare(out, x.shape)
	return value{name: out, shape: x.shape}
}

// clip exports min(max(x, lo), hi) (opset 11: the bounds are inputs).
func (e *exporter) clip(c nn.Clip, x value, path string) value {
	name := e.unique(path + ".clip")
	ins := []string{x.name, "", ""}
	for i, b := range []float32{c.Lo, c.Hi} {
		if math.IsInf(float64(b), 0) {
			continue
		}
		ins[i+1] = name + []string{"_min", "_max"}[i]
		e.b.AddInitializer(ins[i+1], NewFloat([]float32{b}))
	}
	for len(ins) > 1 && ins[len(ins)-1] == "" {
		ins = ins[:len(ins)-1]
	}
	out := e.b.AddNode("Clip", "", name, ins, 1)
	e.declare(out, x.shape)
	return value{name: out, shape: x.shape}
}

func (e *exporter) paddedPool(op string, k, stride, pad int, x value, name string, attrs ...*Attr) (value, error) {
	stride = tensor.PoolStride(k, stride)
	if len(x.shape) != 4 || k < 1 || stride < 1 || x.shape[2]+2*pad < k || x.shape[3]+2*pad < k {
		return x, fmt.Errorf("%s: %dx%d window (stride %d, pad %d) does not fit input %v", name, k, k, stride, pad, x.shape)
	}
	s := x.shape
	shape := []int{s[0], s[1], tensor.PoolOut(s[2], k, stride, pad), tensor.PoolOut(s[3], k, stride, pad)}
	p := int64(pad)
	attrs = append(attrs, IntsAttr("kernel_shape", int64(k), int64(k)), IntsAttr("strides", int64(stride), int64(stride)), IntsAttr("pads", p, p, p, p))
	return e.node(op, name, []string{x.name}, shape, attrs...), nil
}

func (e *exporter) pad(p nn.Pad, x value, path string) (value, error) {
	if len(x.shape) != 4 {
		return x, fmt.Errorf("%s: padding of input %v", path, x.shape)
	}
	name := e.unique(path + ".pad")
	e.b.AddInitializer(name+"_pads", NewInt([]int64{0, 0, int64(p.Top), int64(p.Left), 0, 0, int64(p.Bottom), int64(p.Right)}, 8))
	e.b.AddInitializer(name+"_value", NewFloat([]float32{p.Value}))
	s := x.shape
	shape := []int{s[0], s[1], s[2] + p.Top + p.Bottom, s[3] + p.Left + p.Right}
	out := e.b.AddNode("Pad", "", name, []string{x.name, name + "_pads", name + "_value"}, 1, StringAttr("mode", "constant"))
	e.declare(out, shape)
	return value{name: out, shape: shape}, nil
}

func (e *exporter) resize(f int, x value, path string) (value, error) {
	if len(x.shape) != 4 || f < 1 {
		return x, fmt.Errorf("%s: resize by %d of input %v", path, f, x.shape)
	}
	name := e.unique(path + ".resize")
	e.b.AddInitializer(name+"_scales", NewFloat([]float32{1, 1, float32(f), float32(f)}, 4))
	s := x.shape
	shape := []int{s[0], s[1], s[2] * f, s[3] * f}
	out := e.b.AddNode("Resize", "", name, []string{x.name, "", name + "_scales"}, 1, StringAttr("mode", "nearest"),
		StringAttr("coordinate_transformation_mode", "asymmetric"), StringAttr("nearest_mode", "floor"))
	e.declare(out, shape)
	return value{name: out, shape: shape}, nil
}

// flatten reshapes x to N×F in a2q's (NHWC) order.
func (e *exporter) flatten(x value, path string) value {
	if len(x.shape) == 2 {
		return x
	}
	n, f := x.shape[0], 1
	for _, d := range x.shape[1:] {
		f *= d
	}
	if len(x.shape) == 4 && x.shape[1] > 1 && x.shape[2]*x.shape[3] > 1 {
		s := x.shape
		x = e.node("Transpose", path+".to_nhwc", []string{x.name}, []int{s[0], s[2], s[3], s[1]}, IntsAttr("perm", 0, 2, 3, 1))
	}
	return e.node("Flatten", path+".flatten", []string{x.name}, []int{n, f}, IntAttr("axis", 1))
}

func (e *exporter) pool(op string, k, stride int, x value, name string) (value, error) {
	stride = tensor.PoolStride(k, stride)
	if len(x.shape) != 4 || k < 1 || stride < 1 || x.shape[2] < k || x.shape[3] < k {
		return x, fmt.Errorf("%s: %dx%d window (stride %d) does not fit input %v", name, k, k, stride, x.shape)
	}
	s := x.shape
	shape := []int{s[0], s[1], tensor.PoolOut(s[2], k, stride, 0), tensor.PoolOut(s[3], k, stride, 0)}
	return e.node(op, name, []string{x.name}, shape,
		IntsAttr("kernel_shape", int64(k), int64(k)), IntsAttr("strides", int64(stride), int64(stride)),
		IntsAttr("pads", 0, 0, 0, 0)), nil
}

func (e *exporter) pixelShuffle(r int, x value, path string) (value, error) {
	if len(x.shape) != 4 || r < 1 || x.shape[1]%(r*r) != 0 {
		return x, fmt.Errorf("%s: pixel shuffle by %d of input %v", path, r, x.shape)
	}
	s := x.shape
	return e.node("DepthToSpace", path+".pixel_shuffle", []string{x.name}, []int{s[0], s[1] / (r * r), s[2] * r, s[3] * r},
		IntAttr("blocksize", int64(r)), StringAttr("mode", "CRD")), nil
}

func (e *exporter) batchNorm(bn *nn.BatchNorm, x value) (value, error) {
	c := bn.Gamma.Value.Len()
	if len(x.shape) < 2 || x.shape[1] != c {
		return x, fmt.Errorf("batch norm %s: %d channels, input %v", bn.Name, c, x.shape)
	}
	name := e.unique(bn.Name)
	var in []string
	for _, p := range []struct {
		suffix string
		t      *nn.Param
	}{{"scale", bn.Gamma}, {"bias", bn.Beta}, {"mean", bn.RunMean}, {"var", bn.RunVar}} {
		if p.t.Value.Len() != c {
			return x, fmt.Errorf("batch norm %s: %s has %d values for %d channels", bn.Name, p.suffix, p.t.Value.Len(), c)
		}
		init := name + "_" + p.suffix
		e.b.AddInitializer(init, NewFloat(append([]float32(nil), p.t.Value.Data...), c))
		in = append(in, init)
	}
	out := e.b.AddNode("BatchNormalization", "", name, append([]string{x.name}, in...), 1, FloatAttr("epsilon", bn.Eps))
	e.declare(out, x.shape)
	return value{name: out, shape: x.shape}, nil
}

func (e *exporter) residual(r *nn.Residual, x value, path string) (value, error) {
	if r.Body == nil {
		return x, fmt.Errorf("%s: residual block without a body", path)
	}
	body, err := e.module(r.Body, x, path+".body")
	if err != nil {
		return x, err
	}
	short := x
	if r.Shortcut != nil {
		if short, err = e.module(r.Shortcut, x, path+".shortcut"); err != nil {
			return x, err
		}
	}
	if !slices.Equal(short.shape, body.shape) {
		return x, fmt.Errorf("%s: residual block adds shortcut %v to body %v", path, short.shape, body.shape)
	}
	return e.node("Add", path+".add", []string{short.name, body.name}, body.shape), nil
}

// layer exports a convolution or linear layer, quantized or float.
func (e *exporter) layer(l *quant.Layer, x value) (value, error) {
	if l.Kind == "linear" && len(x.shape) != 2 {
		x = e.flatten(x, l.Name)
	}
	ws := l.Weight.Value.Shape
	var (
		cout     = l.OutC
		k        = l.Weight.Value.Len() / max(cout, 1)
		oshape   []int
		wshape   []int
		conv     ConvParams
		kh, kw   int
		cg       int
		outShape []int
	)
	switch l.Kind {
	case "conv":
		if len(ws) != 4 || ws[0] != cout || len(x.shape) != 4 {
			return x, fmt.Errorf("layer %s: conv weight %v on input %v", l.Name, ws, x.shape)
		}
		kh, kw, cg = ws[1], ws[2], ws[3]
		o := l.Options
		groups, stride := max(o.Groups, 1), max(o.Stride, 1)
		if x.shape[1] != cg*groups || cout%groups != 0 {
			return x, fmt.Errorf("layer %s: %d groups of %d input channels do not match input %v", l.Name, groups, cg, x.shape)
		}
		oh := (x.shape[2]+2*o.Pad-kh)/stride + 1
		ow := (x.shape[3]+2*o.Pad-kw)/stride + 1
		if oh < 1 || ow < 1 {
			return x, fmt.Errorf("layer %s: %dx%d kernel does not fit input %v with padding %d", l.Name, kh, kw, x.shape, o.Pad)
		}
		p := int64(o.Pad)
		conv = ConvParams{Strides: [2]int64{int64(stride), int64(stride)}, Pads: [4]int64{p, p, p, p}, Group: int64(groups)}
		wshape = []int{cout, cg, kh, kw}
		outShape = []int{x.shape[0], cout, oh, ow}
		oshape = []int{1, cout, 1, 1}
	case "linear":
		if len(ws) != 2 || ws[0] != cout || x.shape[1] != ws[1] {
			return x, fmt.Errorf("layer %s: linear weight %v on input %v", l.Name, ws, x.shape)
		}
		wshape = []int{cout, ws[1]}
		outShape = []int{x.shape[0], cout}
		oshape = []int{1, cout}
	default:
		return x, fmt.Errorf("layer %s: kind %q has no QONNX export", l.Name, l.Kind)
	}
	// toONNX maps a2q's weight layout to ONNX's: [Cout, KH, KW, Cin/g]
	// to OIHW for a convolution; linear weights are already [out, in].
	toONNX := func(dst, src []float32) {
		if l.Kind != "conv" {
			copy(dst, src)
			return
		}
		for o := 0; o < cout; o++ {
			for y := 0; y < kh; y++ {
				for xx := 0; xx < kw; xx++ {
					for c := 0; c < cg; c++ {
						dst[((o*cg+c)*kh+y)*kw+xx] = src[((o*kh+y)*kw+xx)*cg+c]
					}
				}
			}
		}
	}
	name := e.unique(l.Name)
	in := x.name
	var w string
	if l.W == nil {
		if l.In != nil {
			return x, fmt.Errorf("layer %s: float weights with a quantized input are not supported", l.Name)
		}
		wf := make([]float32, cout*k)
		toONNX(wf, l.Weight.Value.Data)
		w = name + ".weight"
		e.b.AddInitializer(w, NewFloat(wf, wshape...))
	} else {
		if l.In != nil {
			if !l.In.IsCalibrated() {
				return x, fmt.Errorf("layer %s: input quantizer %s was never calibrated; train the model or run it on data first", l.Name, l.In.Name)
			}
			if err := l.CheckScales(); err != nil {
				return x, fmt.Errorf("layer %s: %w", l.Name, err)
			}
			s := l.In.Scale()
			in = e.b.AddQuant(e.unique(name+".input_quant"), x.name, NewFloat([]float32{s}), l.In.Bits, l.In.Signed, false)
			e.declare(in, x.shape)
		}
		qf, log2s := l.W.Integers()
		if len(qf) != cout*k || len(log2s) != cout {
			return x, fmt.Errorf("layer %s: weight quantizer gives %d weights and %d scales for %d×%d", l.Name, len(qf), len(log2s), cout, k)
		}
		qo := make([]float32, len(qf))
		toONNX(qo, qf)
		q := make([]int32, len(qo))
		for i, v := range qo {
			q[i] = int32(v)
		}
		scale := make([]float32, cout)
		for c, ls := range log2s {
			scale[c] = quant.Exp2(ls)
			if !(scale[c] > 0) || scale[c] > 3.4e38 {
				return x, fmt.Errorf("layer %s: weight scale of channel %d is %v", l.Name, c, scale[c])
			}
		}
		w = e.b.AddQuantWeights(e.unique(name+".weight_quant"), q, wshape, scale, l.W.Bits)
		e.declare(w, wshape)
	}
	var y string
	if l.Kind == "conv" {
		y = e.b.AddConv(name, in, w, "", int64(kh), int64(kw), conv)
	} else {
		y = e.b.AddNode("Gemm", "", name, []string{in, w}, 1, IntAttr("transB", 1))
	}
	e.declare(y, outShape)
	out := value{name: y, shape: outShape}
	if l.Bias != nil {
		if l.Bias.Value.Len() != cout {
			return x, fmt.Errorf("layer %s: bias has %d values for %d channels", l.Name, l.Bias.Value.Len(), cout)
		}
		b := name + ".bias"
		e.b.AddInitializer(b, NewFloat(append([]float32(nil), l.Bias.Value.Data...), oshape...))
		out = e.node("Add", name+".bias_add", []string{y, b}, outShape)
	}
	return out, nil
}

// Agreement compares an exported graph with the model it came from.
type Agreement struct {
	// Images is the number of inputs compared; SameArgmax how many of them
	// the two classify alike (0 for super-resolution models).
	Images     int `json:"images"`
	SameArgmax int `json:"same_argmax"`
	// MaxAbsDiff is the largest difference between corresponding outputs
	// and MaxAbsOutput the largest output magnitude of the model.
	MaxAbsDiff   float64 `json:"max_abs_diff"`
	MaxAbsOutput float64 `json:"max_abs_output"`
}

// Compare runs the exported graph g (float, fake-quant) and the model m
// (evaluation mode) on n images given NCHW in x, batch images at a time, and
// reports how closely they agree. The model's image outputs are compared in
// NCHW order.
func Compare(ctx context.Context, g *Model, m *models.Model, x []float32, n, batch int) (Agreement, error) {
	c := m.Config
	size := c.InC * c.InH * c.InW
	if len(x) != n*size {
		return Agreement{}, fmt.Errorf("qonnx: compare: %d values for %d images of %dx%dx%d", len(x), n, c.InC, c.InH, c.InW)
	}
	if len(g.Graph.Inputs) != 1 || len(g.Graph.Outputs) != 1 {
		return Agreement{}, fmt.Errorf("qonnx: compare: %s has %d inputs and %d outputs, want one of each", g.name(), len(g.Graph.Inputs), len(g.Graph.Outputs))
	}
	batch = max(batch, 1)
	var a Agreement
	tp := autodiff.NewTape(runtime.GOMAXPROCS(0))
	xh := make([]float32, batch*size)
	for start := 0; start < n; start += batch {
		k := min(batch, n-start)
		xb := x[start*size : (start+k)*size]
		res, err := g.Run(ctx, map[string]*Tensor{g.Graph.Inputs[0].Name: NewFloat(xb, k, c.InC, c.InH, c.InW)}, RunOptions{})
		if err != nil {
			return a, err
		}
		got := res.Outputs[g.Graph.Outputs[0].Name].Floats()
		tensor.NCHWToNHWC(xh, xb, k, c.InC, c.InH, c.InW)
		out := m.Forward(tp, tp.Constant(tensor.FromData(xh[:k*size], k, c.InH, c.InW, c.InC)), false).Value
		want := out.Data
		if len(out.Shape) == 4 {
			s := out.Shape
			want = make([]float32, out.Len())
			tensor.NHWCToNCHW(want, out.Data, s[0], s[3], s[1], s[2])
		}
		if len(got) != len(want) {
			tp.Reset()
			return a, fmt.Errorf("qonnx: compare: %s gives %d outputs for %d images, the model %d", g.name(), len(got), k, len(want))
		}
		for i, v := range want {
			a.MaxAbsOutput = max(a.MaxAbsOutput, math.Abs(float64(v)))
			a.MaxAbsDiff = max(a.MaxAbsDiff, math.Abs(float64(v)-float64(got[i])))
		}
		if m.Task == models.Classify {
			per := len(want) / k
			for r := 0; r < k; r++ {
				if metrics.Argmax(got[r*per:(r+1)*per]) == metrics.Argmax(want[r*per:(r+1)*per]) {
					a.SameArgmax++
				}
			}
		}
		a.Images += k
		tp.Reset()
	}
	return a, nil
}
