package models

import (
	"context"
	"fmt"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// BiasCorrection is the outcome of CorrectOutputBias.
type BiasCorrection struct {
	Layer string // the layer whose bias moved (or would have)
	// Before and After are the mean squared errors over the examples
	// before and after the step (equal when it was not kept).
	Before, After float64
	Kept          bool
}

// CorrectOutputBias moves the bias of the layer that produces an
// image-to-image model's output (the one layer whose output reaches the
// network's output through no other layer) by one Gauss–Newton step on the mean
// squared error over the examples each yields, with the model in
// evaluation mode:
//
//	b[c] −= Σ_i (y_i − t_i)·∂y_i/∂b[c] / Σ_i ∂y_i/∂b[c]
//
// over the outputs y_i and targets t_i: each channel's mean residual when
// every output reads one channel's bias with weight 1, as through a pixel
// shuffle (the exact least-squares shift then). Quantization-aware
// training leaves such an offset when the quantized weights move in steps
// faster than the bias follows; the quantizers do not depend on the bias,
// so the weights, integers and budgets stay as they are. The step is kept
// only if it lowers the mean squared error over the same examples. each
// calls its argument on every batch of inputs and targets, in the same
// order every time, and returns the first error.
func (m *Model) CorrectOutputBias(ctx context.Context, each func(func(x, y *tensor.Tensor) error) error, threads int) (BiasCorrection, error) {
	l := m.outputLayer()
	if l == nil || l.Bias == nil {
		return BiasCorrection{}, fmt.Errorf("output bias: the network's output is not that of one layer with a bias")
	}
	res := BiasCorrection{Layer: l.Name}
	b := l.Bias
	grad := b.Grad
	if grad == nil {
		grad = tensor.New(b.Value.Shape...)
	}
	saved := append([]float32(nil), grad.Data...)
	defer copy(grad.Data, saved)
	g, s := make([]float64, len(b.Value.Data)), make([]float64, len(b.Value.Data))
	var sq float64
	var n int
	tp := autodiff.NewTape(threads)
	// pass records the model on x and backpropagates the output gradient
	// dy(out) into the bias alone, adding it to sum.
	pass := func(x *tensor.Tensor, sum []float64, dy func(out []float32, d []float32)) {
		clear(grad.Data)
		out := m.forwardBiasLeaf(tp, x, b, grad)
		tp.Backward(tp.Custom(tp.NewValue(1), func(_ *tensor.Tensor, gs []*tensor.Tensor) {
			dy(out.Value.Data, gs[0].Data)
		}, out))
		tp.Reset()
		for c, v := range grad.Data {
			sum[c] += float64(v)
		}
	}
	err := each(func(x, y *tensor.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		pass(x, g, func(out, d []float32) {
			for i, v := range out {
				r := v - y.Data[i]
				d[i] += r
				sq += float64(r) * float64(r)
			}
			n += len(out)
		})
		pass(x, s, func(out, d []float32) {
			for i := range d {
				d[i]++
			}
		})
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("output bias of %s: %w", l.Name, err)
	}
	if n == 0 {
		return res, fmt.Errorf("output bias of %s: no examples", l.Name)
	}
	res.Before, res.After = sq/float64(n), sq/float64(n)
	old := append([]float32(nil), b.Value.Data...)
	for c := range b.Value.Data {
		if s[c] > 0 {
			b.Value.Data[c] -= float32(g[c] / s[c])
		}
	}
	sq = 0
	err = each(func(x, y *tensor.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := m.Infer(ctx, x, threads)
		if err != nil {
			return err
		}
		for i, v := range out.Data {
			r := float64(v - y.Data[i])
			sq += r * r
		}
		return nil
	})
	if err != nil {
		copy(b.Value.Data, old)
		return res, fmt.Errorf("output bias of %s: %w", l.Name, err)
	}
	if after := sq / float64(n); after < res.Before {
		res.After, res.Kept = after, true
		return res, nil
	}
	copy(b.Value.Data, old)
	return res, nil
}

// outputLayer returns the one layer whose output reaches the network's
// output through no other layer (graph.Graph.Edges), or nil when there is
// not exactly one.
func (m *Model) outputLayer() *quant.Layer {
	_, last := m.graph.Edges()
	if len(last) != 1 {
		return nil
	}
	for _, l := range m.Layers {
		if last[l.Name] {
			return l
		}
	}
	return nil
}

// forwardBiasLeaf records the model in evaluation mode on x with bias b
// the only parameter whose gradient is kept (into grad); the others are
// constants on the tape for the duration.
func (m *Model) forwardBiasLeaf(tp *autodiff.Tape, x *tensor.Tensor, b *nn.Param, grad *tensor.Tensor) *autodiff.Var {
	ps := m.Params()
	grads := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		grads[i], p.Grad = p.Grad, nil
	}
	b.Grad = grad
	defer func() {
		for i, p := range ps {
			p.Grad = grads[i]
		}
	}()
	return m.Forward(tp, tp.Constant(x), false)
}
