package models

import (
	"context"
	"fmt"
	"iter"

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
// network's output through no other layer) by one Gauss–Newton step on the
// mean squared error over batches of inputs and targets, with the model in
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
// only if it lowers the mean squared error over the same examples, so
// batches is read twice and must yield the same examples both times.
func (m *Model) CorrectOutputBias(ctx context.Context, batches iter.Seq2[*tensor.Tensor, *tensor.Tensor], threads int) (BiasCorrection, error) {
	l := m.outputLayer()
	if l == nil || l.Bias == nil {
		return BiasCorrection{}, fmt.Errorf("output bias: the network's output is not that of one layer with a bias")
	}
	res := BiasCorrection{Layer: l.Name}
	b := l.Bias
	grad := tensor.New(b.Value.Shape...)
	defer m.onlyGrad(b, grad)()
	g, s := make([]float64, len(grad.Data)), make([]float64, len(grad.Data))
	var sq float64
	var n int
	tp := autodiff.NewTape(threads)
	// pass records the model on x and backpropagates the output gradient
	// dy(out) into the bias, adding it to sum.
	pass := func(x *tensor.Tensor, sum []float64, dy func(out, d []float32)) {
		clear(grad.Data)
		out := m.Forward(tp, tp.Constant(x), false)
		tp.Backward(tp.Custom(tp.NewValue(1), func(_ *tensor.Tensor, gs []*tensor.Tensor) {
			dy(out.Value.Data, gs[0].Data)
		}, out))
		tp.Reset()
		for c, v := range grad.Data {
			sum[c] += float64(v)
		}
	}
	for x, y := range batches {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("output bias of %s: %w", l.Name, err)
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
	for x, y := range batches {
		out, err := m.Infer(ctx, x, threads)
		if err != nil {
			copy(b.Value.Data, old)
			return res, fmt.Errorf("output bias of %s: %w", l.Name, err)
		}
		for i, v := range out.Data {
			r := float64(v - y.Data[i])
			sq += r * r
		}
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

// onlyGrad makes b, with gradient grad, the one parameter of the model
// that a tape records as trainable (the others become constants) until
// the function it returns restores every parameter's gradient.
func (m *Model) onlyGrad(b *nn.Param, grad *tensor.Tensor) (restore func()) {
	ps := m.Params()
	grads := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		grads[i], p.Grad = p.Grad, nil
	}
	b.Grad = grad
	return func() {
		for i, p := range ps {
			p.Grad = grads[i]
		}
	}
}
