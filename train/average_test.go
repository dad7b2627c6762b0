package train

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// cancelAfter is a progress writer that cancels a run once it has
// written line.
type cancelAfter struct {
	line   string
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.line) {
		c.cancel()
	}
	return len(p), nil
}

// params returns copies of m's parameter values.
func params(m *models.Model) [][]float32 {
	var ps [][]float32
	for _, p := range m.Params() {
		ps = append(ps, append([]float32(nil), p.Value.Data...))
	}
	return ps
}

// TestAverage checks weight averaging against its definition: the model
// a 3-epoch run with Average 2 leaves is the mean of the parameters
// after epochs 2 and 3 of the same run without averaging (a constant
// rate, so that the schedule does not depend on the number of epochs),
// and its last score is the averaged model's; a run interrupted between
// the averaged epochs resumes to the same model.
func TestAverage(t *testing.T) {
	trainSet, testSet := embedded(t, 300, 100)
	o := Options{Epochs: 2, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Schedule: ScheduleConstant}
	// The plain run, stopped after 2 epochs and resumed for a third.
	dir := t.TempDir()
	o.Dir = dir
	m := cnn(t, quant.A2Q, 16)
	tr, err := New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	after2 := params(m)
	o.Epochs = 3
	if tr, err = New(m, o); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	after3 := params(m)

	o.Average = 2
	o.Dir = t.TempDir()
	avg := cnn(t, quant.A2Q, 16)
	var log bytes.Buffer
	o.Progress = &log
	ta, err := New(avg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "averaged the weights at the ends of epochs 2–3") {
		t.Errorf("log does not say what was averaged:\n%s", log.String())
	}
	for i, p := range avg.Params() {
		for j, v := range p.Value.Data {
			want := (after2[i][j] + after3[i][j]) / 2
			if math.Float32bits(v) != math.Float32bits(want) {
				t.Fatalf("%s[%d] = %v, want the mean of %v and %v", p.Name, j, v, after2[i][j], after3[i][j])
			}
		}
	}
	score, err := Evaluate(context.Background(), avg, testSet, 1)
	if err != nil {
		t.Fatal(err)
	}
	if last := ta.State.History[2].TestScore; *last != score {
		t.Errorf("last epoch's score %v, the averaged model's %v", *last, score)
	}
	certs, err := avg.Certificates(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if !c.Certified {
			t.Errorf("averaged layer %s not certified", c.Name)
		}
	}

	// Interrupted after epoch 2 (its checkpoint holds one epoch's sums),
	// then resumed.
	o.Dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ca := &cancelAfter{line: "epoch 2/3", cancel: cancel}
	o.Progress = ca
	r := cnn(t, quant.A2Q, 16)
	tr1, err := New(r, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr1.Run(ctx, trainSet, testSet); err == nil || tr1.State.Epoch != 2 || tr1.State.Averaged != 1 {
		t.Fatalf("interrupted run: err %v, epoch %d, %d epochs summed", err, tr1.State.Epoch, tr1.State.Averaged)
	}
	o.Progress = nil
	r2 := cnn(t, quant.A2Q, 16)
	tr2, err := New(r2, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	for i, p := range r2.Params() {
		for j, v := range p.Value.Data {
			if w := avg.Params()[i].Value.Data[j]; math.Float32bits(v) != math.Float32bits(w) {
				t.Fatalf("resumed: %s[%d] = %v, uninterrupted %v", p.Name, j, v, w)
			}
		}
	}

	if _, err := New(cnn(t, quant.A2Q, 16), Options{Epochs: 2, Batch: 10, LR: 1e-3, Average: 3}); err == nil {
		t.Error("averaging 3 epochs of 2: no error")
	}
}
