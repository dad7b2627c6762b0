package train

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestOutputBiasCorrection trains ESPCN (A2Q+) for an epoch with and
// without the output-bias correction: the two models differ in conv3's
// bias alone, the log says what the correction did, and the last score is
// the corrected model's.
func TestOutputBiasCorrection(t *testing.T) {
	tr, te, err := OpenData("espcn", "default", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ = tr.Split(192)
	run := func(keep bool) (*models.Model, *Trainer, string) {
		q := quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
		m, err := models.Build(models.Config{Model: "espcn", InC: 1, InH: 32, InW: 32, Scale: 2, Seed: 4,
			Hidden: q, First: models.DefaultEdge(q.Mode), Last: models.DefaultEdge(q.Mode)})
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		tn, err := New(m, Options{Epochs: 1, Batch: 16, LR: 1e-3, Threads: 1, Seed: 1, Progress: &log, KeepOutputBias: keep})
		if err != nil {
			t.Fatal(err)
		}
		if err := tn.Run(context.Background(), tr, te); err != nil {
			t.Fatal(err)
		}
		return m, tn, log.String()
	}
	kept, _, keptLog := run(true)
	m, tn, log := run(false)
	if strings.Contains(keptLog, "output bias") {
		t.Errorf("KeepOutputBias: the log mentions the correction:\n%s", keptLog)
	}
	if !strings.Contains(log, "output bias of conv3") {
		t.Fatalf("the log does not say what became of conv3's bias:\n%s", log)
	}
	moved := false
	for i, p := range m.Params() {
		k := kept.Params()[i]
		for j, v := range p.Value.Data {
			if v != k.Value.Data[j] {
				if p.Name != "conv3.bias" {
					t.Fatalf("%s[%d] differs: %v, without the correction %v", p.Name, j, v, k.Value.Data[j])
				}
				moved = true
			}
		}
	}
	if moved != strings.Contains(log, "corrected the output bias") {
		t.Errorf("bias moved %v, log:\n%s", moved, log)
	}
	score, err := Evaluate(context.Background(), m, te, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := *tn.State.History[0].TestScore; got != score {
		t.Errorf("last score %v, the corrected model's %v", got, score)
	}
}
