package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

func embedded(t *testing.T, ntrain, ntest int) (*data.Set, *data.Set) {
	t.Helper()
	tr, te, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tr.Split(ntrain)
	b, _ := te.Split(ntest)
	return a, b
}

func cnn(t *testing.T, mode quant.Mode, p int) *models.Model {
	t.Helper()
	cfg := models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: p},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)}
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTrainingLearns trains the reference CNN on a slice of the embedded
// Fashion-MNIST: chance is 10 %, a wrong gradient anywhere in the network
// stays far below the threshold.
func TestTrainingLearns(t *testing.T) {
	trainSet, testSet := embedded(t, 4000, 1000)
	m := cnn(t, quant.Float, 0)
	tr, err := New(m, Options{Epochs: 1, Batch: 64, LR: 2e-3, Threads: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	acc := *tr.State.History[0].TestScore
	t.Logf("float CNN, 4000 images, one epoch: test accuracy %.3f", acc)
	if acc < 0.70 {
		t.Fatalf("test accuracy %.3f after one epoch, want >= 0.70", acc)
	}
}

// TestA2QPlusFineTune starts A2Q+ at P = 16 from float weights and checks
// that fine-tuning recovers accuracy while every hidden layer stays
// certified. The float model trains with RawInput and a constant learning
// rate: its projection loses more (to about 0.50 from 0.74) than that of a
// model trained in standardised coordinates or with the default schedule
// (0.58), which one epoch on 3,000 images does not improve on, so that
// there is something to recover.
func TestA2QPlusFineTune(t *testing.T) {
	trainSet, testSet := embedded(t, 3000, 1000)
	f := cnn(t, quant.Float, 0)
	tr, err := New(f, Options{Epochs: 1, Batch: 64, LR: 2e-3, Threads: 2, Seed: 1, RawInput: true, Schedule: ScheduleConstant})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	c, err := f.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := cnn(t, quant.A2QPlus, 16)
	if err := q.LoadParams(c, true); err != nil {
		t.Fatal(err)
	}
	for _, l := range q.Layers {
		l.W.InitFromWeights(true)
	}
	init, err := Evaluate(context.Background(), q, testSet, 2)
	if err != nil {
		t.Fatal(err)
	}
	tq, err := New(q, Options{Epochs: 1, Batch: 64, LR: 1e-3, Threads: 2, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := tq.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	facc, qacc := *tr.State.History[0].TestScore, *tq.State.History[0].TestScore
	t.Logf("float %.3f; A2Q+ P=16 after projection init %.3f, after one epoch %.3f", facc, init, qacc)
	// The P = 16 budget (||q||_1 <= 257 over K = 288) makes conv2 about 93 %
	// sparse at initialisation; fine-tuning must recover part of it.
	if qacc < init+0.04 || qacc < 0.5 {
		t.Errorf("A2Q+ accuracy %.3f after fine-tuning (%.3f at init, float %.3f)", qacc, init, facc)
	}
	certs, err := q.Certificates(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if !c.Certified || c.AccBitsExact > 16 {
			t.Errorf("layer %s: exact bound %d bits, target %d", c.Name, c.AccBitsExact, c.AccBitsTarget)
		}
	}
}

func TestResume(t *testing.T) {
	trainSet, testSet := embedded(t, 500, 200)
	dir := t.TempDir()
	m := cnn(t, quant.A2Q, 16)
	tr, err := New(m, Options{Epochs: 1, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	// A second trainer with more epochs resumes after the first.
	m2 := cnn(t, quant.A2Q, 16)
	tr2, err := New(m2, Options{Epochs: 2, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if tr2.State.Epoch != 1 || tr2.State.Step != tr.State.Step {
		t.Fatalf("resumed at epoch %d step %d, want 1 and %d", tr2.State.Epoch, tr2.State.Step, tr.State.Step)
	}
	for i, p := range m.Params() {
		q := m2.Params()[i]
		for j := range p.Value.Data {
			if p.Value.Data[j] != q.Value.Data[j] {
				t.Fatalf("%s[%d] not restored", p.Name, j)
			}
		}
	}
	if err := tr2.Run(context.Background(), trainSet, testSet); err != nil {
		t.Fatal(err)
	}
	if len(tr2.State.History) != 2 {
		t.Fatalf("history %v", tr2.State.History)
	}
	// A different configuration in the same directory is refused.
	if _, err := New(cnn(t, quant.A2QPlus, 16), Options{Epochs: 2, Batch: 100, LR: 1e-3, Dir: dir}); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(dir, "model.ckpt")) {
		t.Fatalf("other configuration: err = %v", err)
	}
}

func TestNaNStopsTraining(t *testing.T) {
	trainSet, _ := embedded(t, 256, 10)
	trainSet.X[70*trainSet.Size()+5] = float32(math.NaN()) // example in the second batch of 64, before shuffling
	for i := range trainSet.X[:trainSet.N*trainSet.Size()] {
		if i%97 == 0 {
			trainSet.X[i] = float32(math.Inf(1))
		}
	}
	m := cnn(t, quant.Float, 0)
	tr, err := New(m, Options{Epochs: 1, Batch: 64, LR: 1e-3, Threads: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background(), trainSet, nil)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "epoch 1 step 1") {
		t.Fatalf("err = %v, want a non-finite loss error naming epoch 1 step 1", err)
	}
}

// TestResumeWithoutTestSet: a run with no test set records null scores and
// its checkpoint still resumes.
func TestResumeWithoutTestSet(t *testing.T) {
	trainSet, _ := embedded(t, 200, 10)
	dir := t.TempDir()
	tr, err := New(cnn(t, quant.Float, 0), Options{Epochs: 1, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), trainSet, nil); err != nil {
		t.Fatal(err)
	}
	tr2, err := New(cnn(t, quant.Float, 0), Options{Epochs: 2, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if tr2.State.Epoch != 1 || tr2.State.History[0].TestScore != nil {
		t.Fatalf("resumed state %+v", tr2.State)
	}
}

// TestNoEpochsSaves: a run with no epochs writes the model as it stands,
// and a later run with epochs resumes from it at epoch 0.
func TestNoEpochsSaves(t *testing.T) {
	trainSet, testSet := embedded(t, 100, 10)
	for _, c := range []struct {
		name string
		dir  bool
	}{{"with dir", true}, {"without dir", false}} {
		dir := ""
		if c.dir {
			dir = t.TempDir()
		}
		m := cnn(t, quant.A2QPlus, 16)
		tr, err := New(m, Options{Epochs: 0, Batch: 50, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background(), trainSet, testSet); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !c.dir {
			continue
		}
		got, err := checkpoint.Load(tr.CheckpointPath())
		if err != nil {
			t.Fatalf("%s: no checkpoint after a run with no epochs: %v", c.name, err)
		}
		if got.Meta["epoch"] != "0" {
			t.Errorf("%s: checkpoint at epoch %q, want 0", c.name, got.Meta["epoch"])
		}
		m2 := cnn(t, quant.A2QPlus, 16)
		tr2, err := New(m2, Options{Epochs: 1, Batch: 50, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir})
		if err != nil {
			t.Fatalf("%s: resuming: %v", c.name, err)
		}
		if tr2.State.Epoch != 0 {
			t.Errorf("%s: resumed at epoch %d, want 0", c.name, tr2.State.Epoch)
		}
	}
}

func mlp(t *testing.T) *models.Model {
	t.Helper()
	cfg := models.Config{Model: "mlp", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)}
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDivergenceStopsTraining trains a small MLP at learning rates far too
// high: the loss stays finite but explodes, and training must stop with
// ErrDiverged naming where, saving nothing over the last good epoch's
// checkpoint. A learning rate that trains is never stopped.
func TestDivergenceStopsTraining(t *testing.T) {
	trainSet, _ := embedded(t, 960, 10)
	cases := []struct {
		name     string
		examples int     // training examples (batches of 32)
		lr       float64 // of the second epoch; the first trains at 1e-3
		where    string  // in the error; empty: no divergence
	}{
		{"diverges mid-epoch", 960, 10, "epoch 2 step "},
		{"diverges by the end of a short epoch", 160, 1e4, "end of epoch 2"},
		{"a high rate that trains", 960, 1e-2, ""},
	}
	for _, c := range cases {
		dir := t.TempDir()
		set, _ := trainSet.Split(c.examples)
		tr, err := New(mlp(t), Options{Epochs: 1, Batch: 32, LR: 1e-3, Threads: 2, Seed: 1, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background(), set, nil); err != nil {
			t.Fatalf("%s: first epoch: %v", c.name, err)
		}
		before, err := os.ReadFile(tr.CheckpointPath())
		if err != nil {
			t.Fatal(err)
		}
		tr, err = New(mlp(t), Options{Epochs: 2, Batch: 32, LR: c.lr, Threads: 2, Seed: 1, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		err = tr.Run(context.Background(), set, nil)
		if c.where == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), c.where) || !strings.Contains(err.Error(), "holds epoch 1") {
			t.Errorf("%s: err = %v, want ErrDiverged at %q keeping epoch 1", c.name, err, c.where)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		after, err := os.ReadFile(tr.CheckpointPath())
		if err != nil || !bytes.Equal(before, after) {
			t.Errorf("%s: the first epoch's checkpoint changed (%v)", c.name, err)
		}
	}
}

// TestDivergenceRule feeds the rule loss sequences: it stops a sustained
// rise above DivergenceFactor × the reference, not spikes, nor a fall back
// to chance level; at the end of an epoch it also stops a short epoch
// that diverged and a blow-up in progress.
func TestDivergenceRule(t *testing.T) {
	seq := func(parts ...any) []float64 { // value, count, value, count...
		var s []float64
		for i := 0; i < len(parts); i += 2 {
			for range parts[i+1].(int) {
				s = append(s, parts[i].(float64))
			}
		}
		return s
	}
	var oscillating []float64
	for i := range 100 {
		oscillating = append(oscillating, []float64{1e3, 1}[i%2])
	}
	half, quarter := DivergenceWindow/2, DivergenceWindow/4
	cases := []struct {
		name          string
		start, chance float64
		losses        []float64
		stopAt        int  // 1-based step; 0: never
		atEnd         bool // diverged if the epoch ends after the losses
	}{
		{"converging", 2.3, 2.3, seq(0.4, 200), 0, false},
		{"back to chance from a good start", 0.3, 2.3, seq(2.3, 200), 0, false},
		{"twice chance", 0.3, 2.3, seq(4.6, 200), 0, false},
		{"exploding", 2.3, 2.3, seq(2.3, 5, 1e7, 100), 5 + half, true},
		{"oscillating wildly", 2.3, 2.3, oscillating, 2*half - 1, true},
		{"spikes", 2.3, 2.3, seq(2.3, 5, 1e3, half-1, 1.0, 100, 1e9, 1, 1.0, 100), 0, false},
		{"super-resolution blow-up", 0.003, 0.01, seq(0.003, 5, 0.5, 100), 5 + half, true},
		{"super-resolution fine-tuning", 0.0005, 0.01, seq(0.0005, 5, 0.05, 100), 0, false},
		{"a short epoch, half of it diverged", 2.3, 2.3, seq(1e4, 4, 2.0, 4), 0, true},
		{"a blow-up at the end of an epoch", 2.3, 2.3, seq(2.0, 100, 1e4, quarter), 0, true},
		{"a spike at the end of an epoch", 2.3, 2.3, seq(2.0, 100, 1e4, quarter-1), 0, false},
		// A broken start sets no line of its own above 10× chance.
		{"broken from the start", 1.6e18, 0.01, seq(1e17, 100), half, true},
		{"a bad start that recovers", 5, 0.01, seq(5.0, 3, 0.5, 100), 0, false},
		{"a bad start that stays", 5, 0.01, seq(5.0, 100), half, true},
	}
	for _, c := range cases {
		d := newDivergence(State{StartLoss: c.start, ChanceLoss: c.chance})
		got := 0
		for i, l := range c.losses {
			if d.observe(l) {
				got = i + 1
				break
			}
		}
		if got != c.stopAt {
			t.Errorf("%s: stopped at step %d, want %d", c.name, got, c.stopAt)
		}
		if got := d.atEpochEnd(); got != c.atEnd {
			t.Errorf("%s: diverged at the end of the epoch %v, want %v", c.name, got, c.atEnd)
		}
	}
}
