package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/models"
)

// ErrDiverged is returned (wrapped) when training diverges: the training
// loss stays far above where it started (see DivergenceFactor).
var ErrDiverged = errors.New("training diverged")

// The divergence rule. Training has diverged when the loss of at least
// half of the last DivergenceWindow steps is above DivergenceFactor times
// the reference loss; and, when an epoch ends, when that holds of at
// least half of the steps since the start or the last resume (a short
// epoch), or of each of its last DivergenceWindow/4 steps (a blow-up in
// progress), so that a diverging model is never saved over the last good
// checkpoint. Shorter spikes pass. The reference loss is the larger of
// the loss of the run's first step, before any update, and the loss at
// chance level: ln(classes) for a classifier (the cross-entropy of a
// uniform prediction), and for super-resolution the mean squared error of
// a flat image at each input's mean brightness on the first batch. A model
// started from good weights may so still fall back to chance level
// without being stopped (the report says it ended at chance level). The
// reference is at most DivergenceFactor times the loss at chance level: a
// run that starts that far off (a broken initialisation) and stays there
// has diverged from its first steps, rather than setting a line it never
// crosses.
const (
	DivergenceFactor = 10
	DivergenceWindow = 20
)

// divergence applies the divergence rule to a run's losses.
type divergence struct {
	limit  float64 // DivergenceFactor × the reference loss; 0 until known
	ref    string  // what the reference is, for the error
	recent [DivergenceWindow]bool
	seen   int // steps seen since the trainer started or resumed
	above  int // steps in recent above limit
	trail  int // consecutive steps above limit up to the latest
	last   float64
}

// newDivergence returns the rule with the reference of st, if known.
func newDivergence(st State) *divergence {
	d := &divergence{}
	if st.StartLoss > 0 {
		d.setReference(st)
	}
	return d
}

func (d *divergence) setReference(st State) {
	switch {
	case st.ChanceLoss > st.StartLoss:
		d.limit, d.ref = DivergenceFactor*st.ChanceLoss, fmt.Sprintf("the loss at chance level, %.4g", st.ChanceLoss)
	case st.ChanceLoss > 0 && st.StartLoss > DivergenceFactor*st.ChanceLoss:
		r := DivergenceFactor * st.ChanceLoss
		d.limit, d.ref = DivergenceFactor*r, fmt.Sprintf("%d× the loss at chance level, %.4g, below the starting loss %.4g", DivergenceFactor, r, st.StartLoss)
	default:
		d.limit, d.ref = DivergenceFactor*st.StartLoss, fmt.Sprintf("the starting loss, %.4g", st.StartLoss)
	}
}

// chanceLoss returns the loss at chance level of m on the first n
// examples of b (see the divergence rule).
func chanceLoss(m *models.Model, b *Batch, n int) float64 {
	if m.Task != models.SuperResolve {
		return math.Log(float64(max(m.Config.Classes, 1)))
	}
	x, y := b.X(n).Data, b.Y(n).Data
	in, out := len(x)/n, len(y)/n
	var sum float64
	for i := 0; i < n; i++ {
		var mean float64
		for _, v := range x[i*in : (i+1)*in] {
			mean += float64(v)
		}
		mean /= float64(in)
		for _, v := range y[i*out : (i+1)*out] {
			sum += (float64(v) - mean) * (float64(v) - mean)
		}
	}
	return sum / float64(len(y))
}

// observe records one step's loss and reports whether training has
// diverged.
func (d *divergence) observe(loss float64) bool {
	hi := loss > d.limit
	i := d.seen % DivergenceWindow
	if d.seen >= DivergenceWindow && d.recent[i] {
		d.above--
	}
	d.recent[i], d.seen, d.last = hi, d.seen+1, loss
	if hi {
		d.above++
		d.trail++
	} else {
		d.trail = 0
	}
	return 2*d.above >= DivergenceWindow
}

// atEpochEnd reports whether training has diverged by the end of an
// epoch.
func (d *divergence) atEpochEnd() bool {
	return d.above > 0 && 2*d.above >= min(d.seen, DivergenceWindow) || d.trail >= DivergenceWindow/4
}

// err describes the divergence.
func (d *divergence) err() error {
	return fmt.Errorf("%w: the training loss was above %.4g (%d× %s) in %d of the last %d steps (latest %.4g)",
		ErrDiverged, d.limit, DivergenceFactor, d.ref, d.above, min(d.seen, DivergenceWindow), d.last)
}
