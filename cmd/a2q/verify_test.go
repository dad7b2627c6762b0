package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// calibratedCheckpoint writes an untrained A2Q+ CNN at P = 16
// (projection init) whose activation quantizers are calibrated on embedded
// training images, as the first training step would.
func calibratedCheckpoint(t *testing.T, path string) {
	t.Helper()
	tr, _, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(tr.X[:128*tr.Size()], 128, 28, 28, 1)), false)
	c, err := m.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}
}

// TestVerify takes an untrained A2Q+ model at P = 16 and checks verify's report and exit status: bit-exact and overflow
// free at P = 16, a failed check at P = 10, errors for bad input.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	calibratedCheckpoint(t, ckpt)
	intModel := filepath.Join(dir, "model.a2qint")
	code, stdout, stderr := runArgs(t, "verify", ckpt, "--limit", "300", "--adversarial", "--save", intModel, "--json")
	if code != 0 {
		t.Fatalf("verify at P = 16: exit %d: %s", code, stderr)
	}
	var rep struct {
		Layers []struct {
			Name      string `json:"name"`
			Certified bool   `json:"certified"`
		} `json:"layers"`
		TestAccuracy            *float64 `json:"test_accuracy"`
		FakeQuantAccuracy       *float64 `json:"fake_quant_accuracy"`
		Overflows               *int64   `json:"overflows"`
		IntegerMatchesFakeQuant *bool    `json:"integer_matches_fake_quant"`
		Images                  int      `json:"images"`
		Mode                    string   `json:"mode"`
		IntegerLayers           []struct {
			Name    string `json:"name"`
			AccBits int    `json:"acc_bits"`
			Impl    string `json:"impl"`
		} `json:"integer_layers"`
		Adversarial []struct {
			Name          string `json:"name"`
			WrapOverflows int64  `json:"wrap_overflows"`
		} `json:"adversarial"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, stdout)
	}
	if rep.Images != 300 || rep.Mode != "wrap" || rep.Overflows == nil || *rep.Overflows != 0 ||
		rep.IntegerMatchesFakeQuant == nil || !*rep.IntegerMatchesFakeQuant || rep.TestAccuracy == nil ||
		rep.FakeQuantAccuracy == nil || *rep.TestAccuracy != *rep.FakeQuantAccuracy {
		t.Errorf("report: %s", stdout)
	}
	if len(rep.Layers) != 3 || len(rep.IntegerLayers) != 3 || rep.IntegerLayers[1].AccBits != 16 || rep.IntegerLayers[0].AccBits != 32 {
		t.Errorf("layers: %+v %+v", rep.Layers, rep.IntegerLayers)
	}
	if len(rep.Adversarial) != 3 || rep.Adversarial[1].WrapOverflows != 0 {
		t.Errorf("adversarial: %+v", rep.Adversarial)
	}
	checkIntModelFile(t, intModel, *rep.TestAccuracy)

	// At P = 10 the hidden layer is not certified; the adversarial inputs
	// overflow it and the check fails (exit 1). The first and last layers
	// keep their 32-bit targets.
	code, stdout, _ = runArgs(t, "verify", ckpt, "--acc-bits", "10", "--mode", "saturate", "--limit", "50", "--adversarial")
	if code != 1 || !strings.Contains(stdout, "scalar-saturate") {
		t.Errorf("verify at P = 10: exit %d, want 1\n%s", code, stdout)
	}

	// A checkpoint written before any data went through it.
	uncalibrated := filepath.Join(dir, "fresh", "model.ckpt")
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--epochs", "0", "--out", filepath.Dir(uncalibrated)); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	cases := []struct {
		args   []string
		stderr string
	}{
		{[]string{"verify", ckpt, "--mode", "round"}, "--mode"},
		{[]string{"verify", uncalibrated, "--limit", "10"}, "calibrated"},
		{[]string{"verify", ckpt, "--acc-bits", "99"}, "--acc-bits"},
		{[]string{"verify", filepath.Join(dir, "nope.ckpt")}, "nope.ckpt"},
		{[]string{"verify"}, "one checkpoint"},
	}
	for _, c := range cases {
		if code, _, stderr := runArgs(t, c.args...); code != 2 || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and a mention of %q)", c.args, code, stderr, c.stderr)
		}
	}
}

// checkIntModelFile runs the integer model file that verify --save wrote
// through verify and eval: the same accuracy as the checkpoint's verify on
// the same images, a failed check once a layer's P is lowered below its
// exact width, and bad input for a damaged file.
func checkIntModelFile(t *testing.T, path string, accuracy float64) {
	t.Helper()
	for _, cmd := range []string{"verify", "eval"} {
		code, stdout, stderr := runArgs(t, cmd, path, "--limit", "300", "--json")
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", cmd, path, code, stderr)
		}
		var r struct {
			TestAccuracy *float64 `json:"test_accuracy"`
			Certified    bool     `json:"certified"`
			Images       int      `json:"images"`
			Overflows    int64    `json:"overflows"`
			Layers       []struct {
				AccBits int `json:"acc_bits"`
			} `json:"integer_layers"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%s --json: %v\n%s", cmd, err, stdout)
		}
		if r.TestAccuracy == nil || *r.TestAccuracy != accuracy || !r.Certified || r.Images != 300 || r.Overflows != 0 || len(r.Layers) != 3 {
			t.Errorf("%s %s: %s (want accuracy %v, certified, no overflows)", cmd, path, stdout, accuracy)
		}
	}

	// conv2 at a P below its exact width: not certified, and the
	// adversarial inputs overflow it.
	im, err := intinfer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l := im.Layers()[1]
	l.AccBits = accum.ExactBits(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned) - 2
	narrow := filepath.Join(filepath.Dir(path), "narrow.a2qint")
	if err := intinfer.Save(narrow, im); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runArgs(t, "verify", narrow, "--limit", "50", "--adversarial"); code != 1 || !strings.Contains(stdout, "false") {
		t.Errorf("verify of conv2 below its exact width: exit %d, want 1\n%s", code, stdout)
	}
	if code, _, stderr := runArgs(t, "eval", narrow, "--limit", "50"); code != 0 {
		t.Errorf("eval of conv2 below its exact width: exit %d, want 0 (eval reports, verify checks): %s", code, stderr)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(filepath.Dir(path), "cut.a2qint")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runArgs(t, "verify", cut); code != 2 || !strings.Contains(stderr, "cut.a2qint") {
		t.Errorf("verify of a truncated integer model: exit %d, stderr %q (want 2, naming the file)", code, stderr)
	}
}
