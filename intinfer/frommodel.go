package intinfer

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/thresh"
)

// The bridge from a trained model (package models) to an integer model:
// FromModel, with frommodel_chain.go for chains and frommodel_dag.go for
// graphs with branches. These files and verify.go are the only ones of the
// package that import the training stack.

// FromModel converts a trained chain model into an integer model. Every
// convolution and linear layer must be quantized with a calibrated input
// quantizer. Between two layers it accepts batch norms (evaluation mode),
// ReLUs and clips, folded into the first layer's thresholds (see fold.go),
// and max pooling, flatten and pixel shuffle; before the first layer and
// after the last, the same operations run in float. Anything else is an
// error naming the module.
func FromModel(m *models.Model) (*Model, error) {
	if len(m.Net) == 1 {
		if d, ok := m.Net[0].(*nn.DAG); ok {
			return fromDAG(m, d)
		}
	}
	if d := chainAsDAG(m.Net); d != nil {
		return fromDAG(m, d)
	}
	name := m.Config.Model
	im := &Model{Name: name, Task: string(m.Task), InH: m.Config.InH, InW: m.Config.InW, InC: m.Config.InC}
	var pos []int
	var qls []*quant.Layer
	var ls []*Layer
	for i, mod := range m.Net {
		switch v := mod.(type) {
		case *quant.Layer:
			l, err := fromLayer(v)
			if err != nil {
				return nil, err
			}
			pos, qls, ls = append(pos, i), append(qls, v), append(ls, l)
		case nn.ReLU, nn.MaxPool, nn.Flatten, nn.PixelShuffle, nn.Clip, *nn.BatchNorm:
		case *nn.Linear:
			return nil, fmt.Errorf("layer %s is float: integer inference needs every layer quantized", v.Name)
		case *nn.Conv2d:
			return nil, fmt.Errorf("layer %s is float: integer inference needs every layer quantized", v.Name)
		default:
			return nil, fmt.Errorf("module %d (%T) of model %s has no integer implementation", i, mod, name)
		}
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("model %s has no layers", name)
	}
	float := func(from, to int) error {
		for i := from; i < to; i++ {
			op, err := floatOp(name, i, m.Net[i])
			if err != nil {
				return err
			}
			im.Ops = append(im.Ops, op)
		}
		return nil
	}
	if err := float(0, pos[0]); err != nil {
		return nil, err
	}
	shapes := moduleShapes(m.Net, []int{im.InH, im.InW, im.InC})
	for i, l := range ls {
		im.Ops = append(im.Ops, Op{Kind: OpLayer, Layer: l})
		if i == len(ls)-1 {
			if err := float(pos[i]+1, len(m.Net)); err != nil {
				return nil, err
			}
			break
		}
		sg := &segment{model: name, l: l, next: ls[i+1], nextQuant: qls[i+1].In, net: m.Net, from: pos[i] + 1, to: pos[i+1], shapes: shapes}
		if err := sg.fold(); err != nil {
			return nil, err
		}
		im.Ops = append(im.Ops, sg.ops...)
	}
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return im, nil
}

func fromLayer(v *quant.Layer) (*Layer, error) {
	if v.W == nil || v.In == nil {
		return nil, fmt.Errorf("layer %s is float: integer inference needs every layer quantized", v.Name)
	}
	if !v.In.IsCalibrated() {
		return nil, fmt.Errorf("layer %s: its input quantizer was never calibrated (train or run the model on data first)", v.Name)
	}
	if v.In.Bits > 16 || v.W.Bits > 16 {
		return nil, fmt.Errorf("layer %s: %d-bit inputs and %d-bit weights: integer inference supports at most 16 bits", v.Name, v.In.Bits, v.W.Bits)
	}
	q, log2s := v.W.IntegerWeights()
	l := &Layer{Name: v.Name, Kind: v.Kind, InC: v.InC, OutC: v.OutC, KH: 1, KW: 1, Stride: 1, Groups: 1, K: v.K(),
		WeightBits: v.W.Bits, Weights: q,
		InputBits: v.In.Bits, InputSigned: v.In.Signed, InputScale: v.In.Scale(), AccBits: v.Config.AccBits,
		Tile:  v.Config.TileFor(v.K()),
		Scale: make([]float32, v.OutC), Bias: make([]float32, v.OutC)}
	switch v.Kind {
	case "conv":
		l.KH, l.KW, l.Stride, l.Pad, l.Groups = v.Kernel, v.Kernel, max(v.Options.Stride, 1), v.Options.Pad, max(v.Options.Groups, 1)
	case "conv_transpose":
		// Run as the convolution of the input spread out by the stride
		// (see dag_run.go) with the kernels flipped.
		o := v.TOptions
		l.KH, l.KW, l.Stride, l.Pad, l.Groups, l.OutPad = v.Kernel, v.Kernel, max(o.Stride, 1), o.Pad, max(o.Groups, 1), o.OutputPad
		if o.Pad > v.Kernel-1 {
			return nil, fmt.Errorf("layer %s: a transposed convolution padding %d beyond its kernel %d has no integer form", v.Name, o.Pad, v.Kernel)
		}
		k, kk, cg := v.Kernel, v.Kernel*v.Kernel, v.InC/l.Groups
		// The flip reverses the order of the kernel positions: the tiles of
		// the flipped row are those of the layer's row only when a tile is
		// a whole number of positions that divides the kernel.
		if t := l.Tile; t > 0 && (t%cg != 0 || kk%(t/cg) != 0) {
			return nil, fmt.Errorf("layer %s: a transposed convolution in tiles of %d terms has no integer form: its flipped kernel regroups the tiles unless the tile is a multiple of its %d input channels per group and divides its %d terms",
				v.Name, t, cg, kk*cg)
		}
		flipped := make([]int32, len(q))
		for ch := 0; ch < v.OutC; ch++ {
			for p := 0; p < kk; p++ {
				kh, kw := p/k, p%k
				copy(flipped[(ch*kk+(k-1-kh)*k+(k-1-kw))*cg:][:cg], q[(ch*kk+p)*cg:][:cg])
			}
		}
		l.Weights = flipped
	}
	lx := v.In.Log2Scale.Value.Data[0]
	for c := range l.Scale {
		l.Scale[c] = thresh.OutputScale(lx, log2s[c])
		if v.Bias != nil {
			l.Bias[c] = v.Bias.Value.Data[c]
		}
	}
	return l, nil
}
