package bench

import (
	"testing"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// BenchmarkTrainStepMobileNet times one float training step (forward,
// backward, Adam) of the zoo's MobileNet at batch 128 on one thread: its
// depthwise convolutions and batch norms weigh more than in the reference
// CNN; run with -cpuprofile to see where a step goes.
func BenchmarkTrainStepMobileNet(b *testing.B) {
	m, err := models.Build(models.Config{Model: "mobilenet", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.Float},
		First:  models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)})
	if err != nil {
		b.Fatal(err)
	}
	t := newTrainer(m, 128, 1)
	t.steps(2)
	b.ResetTimer()
	t.steps(b.N)
	b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
}
