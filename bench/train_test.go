package bench

import (
	"context"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/models"
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

// BenchmarkTrainStep times one training step (forward, backward, Adam) of
// the reference CNN at batch 128 on two threads, float and A2Q+; run with
// -cpuprofile to see where a step goes.
func BenchmarkTrainStep(b *testing.B) {
	for _, mode := range []quant.Mode{quant.Float, quant.A2QPlus} {
		b.Run(string(mode), func(b *testing.B) { benchSteps(b, "cnn", mode, 2) })
	}
}

// BenchmarkTrainStepMobileNet times one float training step of the zoo's
// MobileNet at batch 128 on one thread: its depthwise convolutions and
// batch norms weigh more than in the reference CNN.
func BenchmarkTrainStepMobileNet(b *testing.B) { benchSteps(b, "mobilenet", quant.Float, 1) }

// benchSteps times training steps of Train's network at batch 128 and
// reports images/s.
func benchSteps(b *testing.B, model string, mode quant.Mode, threads int) {
	m, err := trainModel(model, quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16})
	if err != nil {
		b.Fatal(err)
	}
	t := newTrainer(m, 128, threads)
	t.steps(2)
	b.ResetTimer()
	t.steps(b.N)
	b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkFloatInfer times the float reference CNN's forward pass at
// batch 128 on one thread: on a tape (Forward) and without one (Infer).
func BenchmarkFloatInfer(b *testing.B) {
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)})
	if err != nil {
		b.Fatal(err)
	}
	t := newTrainer(m, 128, 1)
	b.Run("tape", func(b *testing.B) {
		tp := t.tape
		for i := 0; i < b.N; i++ {
			m.Forward(tp, tp.Constant(t.xs[0]), false)
			tp.Reset()
		}
		b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
	})
	b.Run("infer", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := m.Infer(context.Background(), t.xs[0], 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
	})
}
