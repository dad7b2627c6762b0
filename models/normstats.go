package models

import (
	"context"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// RecomputeNormStats sets every batch norm's running statistics to the
// mean of its batch statistics over the batches next yields, one forward
// pass in training mode each, without gradients: the statistics of the
// weights the model holds, as after averaging weights (whose running
// statistics fit none of the averaged ones). It returns the number of
// batches and does nothing, reading no batch, for a network without batch
// norms.
func (m *Model) RecomputeNormStats(ctx context.Context, next func() (*tensor.Tensor, bool), threads int) (int, error) {
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
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		x, ok := next()
		if !ok {
			return n, nil
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
}
