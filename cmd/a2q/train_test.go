package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestTrainInitDefaults: fine-tuning from a float checkpoint zero-centres
// A2Q+ layers on data and folds the projection gain unless told not to.
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
		name           string
		extra          []string
		centred, folds bool
	}{
		{"defaults", nil, true, true},
		{"opted out", []string{"--fold-gain=false", "--centre-on-data=false"}, false, false},
		{"a2q", []string{"--quant", "a2q"}, false, true},
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
		if got := strings.Contains(stderr, "folded the projection gain of 1 layer(s)"); got != cs.folds {
			t.Errorf("%s (case %d): folded %v, want %v; stderr %q", cs.name, i, got, cs.folds, stderr)
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
