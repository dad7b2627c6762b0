package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/train"
)

// TestTrainInitDefaults: fine-tuning from a float checkpoint zero-centres
// A2Q+ layers on data and fits each channel's gain and offset on data
// unless told not to; --fit-gain=false folds the L1 gain instead.
func TestTrainInitDefaults(t *testing.T) {
	dir := t.TempDir()
	f, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	floatPath := filepath.Join(dir, "float.ckpt")
	if err := checkpoint.Save(floatPath, c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                   string
		extra                  []string
		centred, fitted, folds bool
	}{
		// The CNN's hidden layer feeds the next through ReLU and pooling:
		// by default it keeps the L1 gain, fitted only when told.
		{"defaults", nil, true, false, true},
		{"opted out", []string{"--fold-gain=false", "--centre-on-data=false"}, false, false, false},
		{"l1 gain", []string{"--fit-gain=false"}, true, false, true},
		{"fit all", []string{"--fit-gain-all"}, true, true, false},
		{"a2q", []string{"--quant", "a2q"}, false, false, true},
		{"a2q fit all", []string{"--quant", "a2q", "--fit-gain-all"}, false, true, false},
	}
	for i, cs := range cases {
		args := append([]string{"train", "--quant", "a2q+", "--weight-bits", "4", "--act-bits", "4", "--acc-bits", "14",
			"--init-from", floatPath, "--epochs", "0", "--out", filepath.Join(dir, cs.name)}, cs.extra...)
		code, _, stderr := runArgs(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", cs.name, code, stderr)
		}
		got := strings.Contains(stderr, "zero-centred 1 A2Q+ layer(s) on 1024 training examples") ||
			strings.Contains(stderr, "kept the plain mean subtraction in 1 A2Q+ layer(s)")
		if got != cs.centred {
			t.Errorf("%s (case %d): centring tried %v, want %v; stderr %q", cs.name, i, got, cs.centred, stderr)
		}
		if got := strings.Contains(stderr, "gave the projection gain of 1 layer(s) back"); got != cs.folds {
			t.Errorf("%s (case %d): folded %v, want %v; stderr %q", cs.name, i, got, cs.folds, stderr)
		}
		if got := strings.Contains(stderr, "fitted each channel's gain and offset of 1 layer(s)"); got != cs.fitted {
			t.Errorf("%s (case %d): fitted %v, want %v; stderr %q", cs.name, i, got, cs.fitted, stderr)
		}
	}
}

// TestTrainRecipe: a quantized model trained without --init-from starts
// from a float model pre-trained into DIR/float, unless told
// --from-scratch; a float model and --json print no pointer to verify.
func TestTrainRecipe(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name        string
		args        []string
		code        int
		float, next bool
	}{
		{"default quantizer", nil, 0, true, true},
		{"baseline", []string{"--quant", "baseline"}, 0, true, true},
		{"from scratch", []string{"--from-scratch"}, 0, false, true},
		{"float", []string{"--quant", "float"}, 0, false, false},
		{"json", []string{"--json"}, 0, true, false},
		{"scratch and init-from", []string{"--from-scratch", "--init-from", "x.ckpt"}, 2, false, false},
	}
	for _, c := range cases {
		out := filepath.Join(dir, c.name)
		args := append([]string{"train", "--epochs", "0", "--out", out}, c.args...)
		code, _, stderr := runArgs(t, args...)
		if code != c.code {
			t.Fatalf("%s: exit %d, want %d: %s", c.name, code, c.code, stderr)
		}
		_, err := os.Stat(filepath.Join(out, "float", "model.ckpt"))
		if got := err == nil; got != c.float || strings.Contains(stderr, "float pre-training") != c.float {
			t.Errorf("%s: float model trained %v, want %v; stderr %q", c.name, got, c.float, stderr)
		}
		next := "next: a2q verify " + filepath.Join(out, "model.ckpt") + " --adversarial"
		if got := strings.Contains(stderr, next); got != c.next {
			t.Errorf("%s: pointer to verify %v, want %v; stderr %q", c.name, got, c.next, stderr)
		}
	}
}

// TestTrainFailedRuns: a run that diverges exits 3 saying what to change and
// saves nothing; one that ends at chance level, or a baseline model that is
// not certified, exits 0 and says so.
func TestTrainFailedRuns(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		ckpt           bool
	}{
		{"diverged", []string{"--quant", "float", "--lr", "1e9", "--epochs", "1"}, exitRunFailure,
			nil, []string{"epoch 1 step", "training diverged", "rerun with a lower learning rate"}, false},
		{"chance level, baseline", []string{"--quant", "baseline", "--epochs", "0", "--float-epochs", "0"}, exitOK,
			[]string{"certified false", "note: baseline is not accumulator-aware", "inspect", "at chance level"},
			[]string{"warning: test accuracy", "at chance level"}, true},
		{"chance level, baseline, json", []string{"--quant", "baseline", "--epochs", "0", "--float-epochs", "0", "--json"}, exitOK,
			[]string{`"certified": false`, `at chance level`}, []string{"note: baseline is not accumulator-aware"}, true},
		{"a2q+ at P = 16", []string{"--epochs", "0", "--float-epochs", "0"}, exitOK,
			[]string{"certified true"}, nil, true},
	}
	for _, c := range cases {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		args := append([]string{"train", "--model", "mlp", "--out", out}, c.args...)
		code, stdout, stderr := runArgs(t, args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", c.name, code, c.code, stderr)
			continue
		}
		for _, w := range c.stdout {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", c.name, w, stdout)
			}
		}
		for _, w := range c.stderr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, w, stderr)
			}
		}
		if strings.Contains(stdout, "note: ") && strings.Contains(c.name, "json") {
			t.Errorf("%s: the note is on stdout, in the JSON document's place", c.name)
		}
		if _, err := os.Stat(filepath.Join(out, "model.ckpt")); (err == nil) != c.ckpt {
			t.Errorf("%s: model.ckpt exists %v, want %v", c.name, err == nil, c.ckpt)
		}
	}
}

// TestTrainStandardiseInput: by default training steps the input layer in
// standardised coordinates, recording the training set's statistics in
// the checkpoint; --standardise-input=false records none.
func TestTrainStandardiseInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		extra []string
		std   bool
	}{
		{"default", nil, true},
		{"opted out", []string{"--standardise-input=false", "--schedule", "cosine"}, false},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		args := append([]string{"train", "--model", "mlp", "--quant", "float", "--epochs", "1", "--out", out}, c.extra...)
		if code, _, stderr := runArgs(t, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, stderr)
		}
		ck, err := checkpoint.Load(filepath.Join(out, "model.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		var st train.State
		if err := json.Unmarshal([]byte(ck.Meta["train_state"]), &st); err != nil {
			t.Fatal(err)
		}
		if got := len(st.InputStd) == 1 && st.InputStd[0] > 0 && st.InputMean[0] > 0; got != c.std {
			t.Errorf("%s: input statistics recorded %v (mean %v, std %v), want %v", c.name, got, st.InputMean, st.InputStd, c.std)
		}
	}
}
