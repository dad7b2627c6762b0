package train

import (
	"context"
	"errors"
	"math"
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
// certified.
func TestA2QPlusFineTune(t *testing.T) {
	trainSet, testSet := embedded(t, 3000, 1000)
	f := cnn(t, quant.Float, 0)
	tr, err := New(f, Options{Epochs: 1, Batch: 64, LR: 2e-3, Threads: 2, Seed: 1})
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
