package train

import (
	"context"
	"fmt"

	"github.com/a2qtoolkit/a2q/data"
)

// BiasExamples is the number of training examples (the first, in order)
// the output-bias correction of an image-to-image model measures its
// residuals on (Options.KeepOutputBias).
const BiasExamples = 4096

// correctOutputBias applies models.Model.CorrectOutputBias to an
// image-to-image model on the first BiasExamples training examples.
func (t *Trainer) correctOutputBias(ctx context.Context, train *data.Set) error {
	res, err := t.Model.CorrectOutputBias(ctx, inOrder(train, 64, BiasExamples), t.o.Threads)
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
