package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/tensor"
)

// GradCheck compares the gradients Backward computes for f with central
// finite differences. f builds a scalar from variables holding copies of
// inputs; GradCheck perturbs each input element by ±eps and reports the
// first element whose analytic and numeric derivatives differ by more than
// tol relative to max(1, |numeric|). At most maxPerInput elements per input
// are probed (chosen at random with rng); 0 means all.
func GradCheck(f func(t *Tape, vars []*Var) *Var, inputs []*tensor.Tensor, eps, tol float64, maxPerInput int, rng *rand.Rand) error {
	eval := func() float64 {
		tp := NewTape(1)
		vars := make([]*Var, len(inputs))
		for i, in := range inputs {
			vars[i] = tp.Constant(in)
		}
		return float64(f(tp, vars).Value.Data[0])
	}
	tp := NewTape(1)
	vars := make([]*Var, len(inputs))
	grads := make([]*tensor.Tensor, len(inputs))
	for i, in := range inputs {
		grads[i] = tensor.New(in.Shape...)
		vars[i] = tp.Leaf(in, grads[i])
	}
	tp.Backward(f(tp, vars))
	for i, in := range inputs {
		idx := make([]int, in.Len())
		for j := range idx {
			idx[j] = j
		}
		if maxPerInput > 0 && len(idx) > maxPerInput {
			rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
			idx = idx[:maxPerInput]
		}
		for _, j := range idx {
			orig := in.Data[j]
			in.Data[j] = orig + float32(eps)
			up := eval()
			in.Data[j] = orig - float32(eps)
			down := eval()
			in.Data[j] = orig
			num := (up - down) / (2 * eps)
			ana := float64(grads[i].Data[j])
			if math.Abs(num-ana) > tol*math.Max(1, math.Abs(num)) || math.IsNaN(ana) {
				return fmt.Errorf("input %d element %d: analytic gradient %.6g, numeric %.6g", i, j, ana, num)
			}
		}
	}
	return nil
}
