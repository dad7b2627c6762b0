package models

import (
	"context"
	"iter"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// RecomputeNormStats sets every batch norm's running statistics to the
// mean of its batch statistics over the inputs of batches (their targets
// are not read), one forward pass in training mode each, without
// gradients: the statistics of the weights the model holds, as after
// averaging weights (whose running statistics fit none of the averaged
// ones). It returns the number of batches and does nothing, reading no
// batch, for a network without batch norms.
func (m *Model) RecomputeNormStats(ctx context.Context, batches iter.Seq2[*tensor.Tensor, *tensor.Tensor], threads int) (int, error) {
	bns := m.batchNorms()
	if len(bns) == 0 {
		return 0, nil
	}
	saved := make([]float32, len(bns))
	for i, b := range bns {
		saved[i] = b.Momentum
	}
	defer func() {
		for i, b := range bns {
			b.Momentum = saved[i]
		}
	}()
	tp := autodiff.NewTape(threads)
	n := 0
	for x := range batches {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// Batch k moves the running statistics 1/(k+1) of the way to its
		// own: their running mean.
		for _, b := range bns {
			b.Momentum = 1 / float32(n+1)
		}
		m.Forward(tp, tp.Constant(x), true)
		tp.Reset()
		n++
	}
	return n, nil
}
