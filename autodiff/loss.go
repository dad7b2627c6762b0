package autodiff

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/tensor"
)

// SoftmaxCrossEntropy returns the mean over the batch of −log softmax(logits)[label]
// for logits of shape N×C and N labels in [0, C).
func (t *Tape) SoftmaxCrossEntropy(logits *Var, labels []int) *Var {
	s := logits.Value.Shape
	if len(s) != 2 || s[0] != len(labels) {
		panic(fmt.Sprintf("autodiff: SoftmaxCrossEntropy: logits %v, %d labels", logits.Value, len(labels)))
	}
	n, c := s[0], s[1]
	prob := t.buf(n * c)
	var loss float64
	for i := 0; i < n; i++ {
		row, p := logits.Value.Data[i*c:i*c+c], prob[i*c:i*c+c]
		if labels[i] < 0 || labels[i] >= c {
			panic(fmt.Sprintf("autodiff: SoftmaxCrossEntropy: label %d outside [0, %d)", labels[i], c))
		}
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(float64(v - m))
			p[j] = float32(e)
			sum += e
		}
		for j := range p {
			p[j] = float32(float64(p[j]) / sum)
		}
		loss += math.Log(sum) - float64(row[labels[i]]-m)
	}
	out := t.alloc(1)
	out.Data[0] = float32(loss / float64(n))
	var v *Var
	v = t.node(out, func() {
		g := logits.grad().Data
		k := v.Grad.Data[0] / float32(n)
		for i := 0; i < n; i++ {
			for j := 0; j < c; j++ {
				d := prob[i*c+j]
				if j == labels[i] {
					d--
				}
				g[i*c+j] += k * d
			}
		}
	}, logits)
	return v
}

// MSE returns the mean of (pred − target)² over all elements.
func (t *Tape) MSE(pred *Var, target *tensor.Tensor) *Var {
	if pred.Value.Len() != target.Len() {
		panic(fmt.Sprintf("autodiff: MSE: prediction %v, target %v", pred.Value, target))
	}
	var sum float64
	for i, p := range pred.Value.Data {
		d := float64(p - target.Data[i])
		sum += d * d
	}
	n := pred.Value.Len()
	out := t.alloc(1)
	out.Data[0] = float32(sum / float64(n))
	var v *Var
	v = t.node(out, func() {
		g := pred.grad().Data
		k := 2 * v.Grad.Data[0] / float32(n)
		for i, p := range pred.Value.Data {
			g[i] += k * (p - target.Data[i])
		}
	}, pred)
	return v
}

// Sum returns the sum of several scalars (for adding penalties to a loss).
func (t *Tape) Sum(xs ...*Var) *Var {
	out := t.alloc(1)
	for _, x := range xs {
		if x.Value.Len() != 1 {
			panic(fmt.Sprintf("autodiff: Sum: %v is not a scalar", x.Value))
		}
		out.Data[0] += x.Value.Data[0]
	}
	var v *Var
	v = t.node(out, func() {
		for _, x := range xs {
			if g := x.grad(); g != nil {
				g.Data[0] += v.Grad.Data[0]
			}
		}
	}, xs...)
	return v
}
