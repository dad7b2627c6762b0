package train

import (
	"context"
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/tensor"
)

// averagePrefix names the running sums of Options.Average in a
// checkpoint: "average.conv2.weight".
const averagePrefix = "average."

// average adds the parameters at the end of epoch ep (0-based) into the
// running sums when ep is one of the last o.Average epochs, and after the
// last epoch sets the model to their mean and recomputes its batch-norm
// statistics on train. Sums left from another window (a run resumed with
// other epochs) are dropped; the mean is then over the epochs summed
// since.
func (t *Trainer) average(ctx context.Context, ep int, train *data.Set) error {
	from := t.o.Epochs - t.o.Average
	if t.o.Average == 0 || ep < from {
		return nil
	}
	ps := t.Model.Params()
	if t.sums == nil || t.State.Averaged == 0 || t.State.AverageFrom+t.State.Averaged != ep {
		t.sums = make([][]float32, len(ps))
		for i, p := range ps {
			t.sums[i] = make([]float32, p.Value.Len())
		}
		t.State.Averaged, t.State.AverageFrom = 0, ep
	}
	for i, p := range ps {
		s := t.sums[i]
		for j, v := range p.Value.Data {
			s[j] += v
		}
	}
	t.State.Averaged++
	if ep != t.o.Epochs-1 {
		return nil
	}
	k := float32(t.State.Averaged)
	for i, p := range ps {
		for j, v := range t.sums[i] {
			p.Value.Data[j] = v / k
		}
	}
	n, err := t.Model.RecomputeNormStats(ctx, inOrder(train, t.o.Batch, 0), t.o.Threads)
	if err != nil {
		return fmt.Errorf("averaged weights: batch-norm statistics: %w", err)
	}
	if t.o.Progress != nil {
		fmt.Fprintf(t.o.Progress, "averaged the weights at the ends of epochs %d–%d", t.State.AverageFrom+1, ep+1)
		if n > 0 {
			fmt.Fprintf(t.o.Progress, "; batch-norm statistics recomputed over %d batches", n)
		}
		fmt.Fprintln(t.o.Progress)
	}
	return nil
}

// loadSums restores the running sums of Options.Average from a
// checkpoint's tensors; every parameter needs one when the state says
// epochs were summed.
func (t *Trainer) loadSums(ts map[string]*tensor.Tensor) error {
	t.sums = nil
	if t.State.Averaged == 0 {
		for k := range ts {
			if strings.HasPrefix(k, averagePrefix) {
				return fmt.Errorf("tensor %s: running sums of averaged weights, but the training state says none were summed", k)
			}
		}
		return nil
	}
	ps := t.Model.Params()
	t.sums = make([][]float32, len(ps))
	for i, p := range ps {
		s, ok := ts[averagePrefix+p.Name]
		if !ok || s.Len() != p.Value.Len() {
			return fmt.Errorf("running sum of %s for the weight average: missing or of the wrong size", p.Name)
		}
		t.sums[i] = append([]float32(nil), s.Data...)
	}
	return nil
}
