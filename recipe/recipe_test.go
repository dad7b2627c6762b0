package recipe

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

var (
	dataOnce              sync.Once
	smallTrain, smallTest *data.Set
	dataErr               error
)

// small returns 400 training and 100 test images spread over the embedded
// data (which is in class order).
func small(t *testing.T) (*data.Set, *data.Set) {
	t.Helper()
	dataOnce.Do(func() {
		tr, te, err := data.Default()
		if err != nil {
			dataErr = err
			return
		}
		smallTrain, smallTest = tr.Spread(400), te.Spread(100)
	})
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	return smallTrain, smallTest
}

func cnnConfig(mode quant.Mode, p int) models.Config {
	cfg := models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: p},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)}
	if mode == quant.Float {
		cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	}
	return cfg
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoEpochs: every way of starting a model writes its checkpoint (and
// report) with no epochs to train, and the checkpoint holds the weights of
// the model the run returns.
func TestNoEpochs(t *testing.T) {
	tr, te := small(t)
	fm, err := models.Build(cnnConfig(quant.Float, 0))
	if err != nil {
		t.Fatal(err)
	}
	floatCkpt, err := fm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		o     Options
		files []string
	}{
		{"float", Options{Config: cnnConfig(quant.Float, 0)}, []string{"model.ckpt", "report.json"}},
		{"a2q+ from scratch", Options{Config: cnnConfig(quant.A2QPlus, 16)}, []string{"model.ckpt", "report.json"}},
		{"a2q from a float checkpoint", Options{Config: cnnConfig(quant.A2Q, 16), InitFrom: floatCkpt, FoldGain: true},
			[]string{"model.ckpt", "report.json"}},
		{"a2q+ after float pre-training", Options{Config: cnnConfig(quant.A2QPlus, 16), Float: &Float{}, FoldGain: true, CentreOnData: true},
			[]string{"model.ckpt", "report.json", "float/model.ckpt", "float/report.json"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		o := c.o
		o.Train, o.Test, o.Dir, o.WriteReport, o.Batch = tr, te, dir, true, 50
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, f := range c.files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		if got := res.Float != nil; got != (c.o.Float != nil) {
			t.Errorf("%s: float model trained %v", c.name, got)
		}
		ck, err := checkpoint.Load(filepath.Join(dir, "model.ckpt"))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		m, err := models.FromCheckpoint(ck)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		// The weights and their quantizers are the model's; activation
		// scales are not, since they calibrate on the first batch the
		// evaluation runs.
		for i, p := range res.Model.Params() {
			q := m.Params()[i]
			if strings.Contains(p.Name, ".input_quant.") {
				continue
			}
			if !equal(p.Value.Data, q.Value.Data) {
				t.Errorf("%s: %s differs from the saved checkpoint's", c.name, p.Name)
				break
			}
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPretrainThenFineTune: without starting weights a quantized model is
// fine-tuned from a float model trained first into Dir/float, exactly as a
// float run followed by a run from its checkpoint; a second run resumes
// both stages from their checkpoints and trains nothing again.
func TestPretrainThenFineTune(t *testing.T) {
	tr, te := small(t)
	ctx := context.Background()
	base := Options{Train: tr, Test: te, Epochs: 1, Batch: 50, Threads: 2, FoldGain: true, CentreOnData: true, WriteReport: true}

	// Two runs by hand: float, then A2Q+ from its checkpoint.
	byHand := t.TempDir()
	fo := base
	fo.Config, fo.LR, fo.Dir = cnnConfig(quant.Float, 0), LR, filepath.Join(byHand, "float")
	if _, err := Run(ctx, fo); err != nil {
		t.Fatal(err)
	}
	fc, err := checkpoint.Load(filepath.Join(byHand, "float", "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	qo := base
	qo.Config, qo.InitFrom, qo.Dir = cnnConfig(quant.A2QPlus, 16), fc, byHand
	want, err := Run(ctx, qo)
	if err != nil {
		t.Fatal(err)
	}

	// One run of the recipe.
	dir := t.TempDir()
	o := base
	o.Config, o.Float, o.Dir = cnnConfig(quant.A2QPlus, 16), &Float{Epochs: 1}, dir
	var log bytes.Buffer
	o.Log = &log
	got, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got.Float == nil || got.Score != want.Score || got.ResumedAt != 0 {
		t.Fatalf("recipe: float %v, score %v (by hand %v), resumed at %d", got.Float, got.Score, want.Score, got.ResumedAt)
	}
	for _, f := range []string{"float/model.ckpt", "float/report.json", "model.ckpt", "report.json"} {
		if !bytes.Equal(fileBytes(t, filepath.Join(dir, f)), fileBytes(t, filepath.Join(byHand, f))) {
			t.Errorf("%s differs from the one of the two runs by hand", f)
		}
	}
	for _, s := range []string{"float pre-training: 1 epoch(s) into " + filepath.Join(dir, "float"), "fine-tuning the a2q+ model"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}

	// Again: both stages resume from their checkpoints, nothing trains.
	ckpt := fileBytes(t, filepath.Join(dir, "model.ckpt"))
	log.Reset()
	again, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.ResumedAt != 1 || again.Float.ResumedAt != 1 || again.Score != got.Score || again.Float.Score != got.Float.Score {
		t.Errorf("second run: resumed at %d (float %d), score %v (first %v)", again.ResumedAt, again.Float.ResumedAt, again.Score, got.Score)
	}
	for _, s := range []string{filepath.Join(dir, "float", "model.ckpt") + " has its 1 epoch(s) already",
		filepath.Join(dir, "model.ckpt") + " has its 1 epoch(s) already"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("second run's log lacks %q:\n%s", s, log.String())
		}
	}
	if !bytes.Equal(ckpt, fileBytes(t, filepath.Join(dir, "model.ckpt"))) {
		t.Error("second run rewrote the checkpoint")
	}
}

// TestSetupErrors: a model that cannot be built, or starting weights that
// do not fit it, fail before any training with the field at fault.
func TestSetupErrors(t *testing.T) {
	tr, te := small(t)
	mlp, err := models.Build(models.Config{Model: "mlp", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)})
	if err != nil {
		t.Fatal(err)
	}
	mlpCkpt, err := mlp.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, field, mention string
		o                    Options
	}{
		{"P too small", "Config", "conv2", Options{Config: cnnConfig(quant.A2Q, 8), Float: &Float{Epochs: 1}}},
		{"another model", "InitFrom", "mlp", Options{Config: cnnConfig(quant.A2Q, 16), InitFrom: mlpCkpt}},
		{"two starts", "InitFrom", "use one", Options{Config: cnnConfig(quant.A2Q, 16), InitFrom: mlpCkpt,
			Weights: mlpCkpt.Tensors}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		o := c.o
		o.Train, o.Test, o.Dir, o.Epochs = tr, te, dir, 1
		_, err := Run(context.Background(), o)
		var se *SetupError
		if !errors.As(err, &se) || se.Field != c.field || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: err = %v, want a setup error of %s mentioning %q", c.name, err, c.field, c.mention)
		}
		if _, err := os.Stat(filepath.Join(dir, FloatDir)); err == nil {
			t.Errorf("%s: trained a float model before failing", c.name)
		}
	}
}
