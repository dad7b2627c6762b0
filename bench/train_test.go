package bench

import (
	"context"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/quant"
)

// TestTrain runs the training benchmark briefly on a classifier and on a
// super-resolution model (whose loss needs targets, not labels).
func TestTrain(t *testing.T) {
	for _, tt := range []struct {
		model string
		mode  quant.Mode
	}{
		{"mlp", quant.Float},
		{"mlp", quant.A2QPlus},
		{"espcn", quant.Float},
	} {
		r, err := Train(context.Background(), TrainOptions{Model: tt.model, Quant: tt.mode, Batch: 4, Threads: 1,
			MinTime: time.Millisecond, AccBits: 16, WeightBits: 8, ActBits: 8})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.model, tt.mode, err)
		}
		if !(r.ImagesPerSec > 0) {
			t.Errorf("%s %s: %+v", tt.model, tt.mode, r)
		}
	}
}
