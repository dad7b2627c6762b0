package train

import (
	"context"
	"fmt"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/tensor"
)

// BiasExamples is the number of training examples (the first, in order)
// the output-bias correction of an image-to-image model measures its
// residuals on (Options.KeepOutputBias).
const BiasExamples = 4096

// correctOutputBias applies models.Model.CorrectOutputBias to an
// image-to-image model on the first BiasExamples training examples.
func (t *Trainer) correctOutputBias(ctx context.Context, train *data.Set) error {
	const batch = 64
	each := func(f func(x, y *tensor.Tensor) error) error {
		b := NewBatch(train, batch)
		batcher := data.NewBatcher(train, batch, nil, data.Augment{})
		for seen := 0; seen < BiasExamples; {
			n, ok := b.Next(batcher)
			if !ok {
				break
			}
			n = min(n, BiasExamples-seen)
			if err := f(b.X(n), b.Y(n)); err != nil {
				return err
			}
			seen += n
		}
		return nil
	}
	res, err := t.Model.CorrectOutputBias(ctx, each, t.o.Threads)
	if err != nil {
		return err
	}
	if t.o.Progress != nil {
		if res.Kept {
			fmt.Fprintf(t.o.Progress, "corrected the output bias of %s: training MSE %.4g → %.4g on %d examples\n", res.Layer, res.Before, res.After, min(train.N, BiasExamples))
		} else {
			fmt.Fprintf(t.o.Progress, "kept the output bias of %s: the correction would not lower the training MSE (%.4g)\n", res.Layer, res.Before)
		}
	}
	return nil
}
