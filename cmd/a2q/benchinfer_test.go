package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestBenchInferCheckpoint benchmarks a checkpoint (an A2Q+ CNN at P = 16,
// calibrated) and checks the JSON fields scripts read, the text tables and
// the refusals of bad input.
func TestBenchInferCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	calibratedCheckpoint(t, ckpt)
	m, err := loadModel(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runArgs(t, "bench", "infer", ckpt, "--time", "1ms", "--batch", "8", "--json")
	if code != 0 {
		t.Fatalf("bench infer: exit %d: %s", code, stderr)
	}
	var r struct {
		Layers []struct {
			Name         string   `json:"name"`
			Sparsity     *float64 `json:"sparsity"`
			AccBitsExact *int     `json:"acc_bits_exact"`
			Kernel       string   `json:"kernel"`
			Reason       *string  `json:"reason"`
		} `json:"layers"`
		Threads []map[string]*float64 `json:"threads"`
		Batch   int                   `json:"batch"`
		AccBits int                   `json:"acc_bits"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("bench infer --json: %v\n%s", err, stdout)
	}
	if len(r.Layers) != len(m.Layers) || r.Batch != 8 || r.AccBits != 16 || len(r.Threads) == 0 {
		t.Fatalf("result %s", stdout)
	}
	known := []string{"sparse16", "dense16", "dense32", "dense32-vnni", "depthwise32", "scalar"}
	for i, l := range r.Layers {
		if l.Name != m.Layers[i].Name || l.Sparsity == nil || !(*l.Sparsity >= 0 && *l.Sparsity <= 1) || l.AccBitsExact == nil ||
			!slices.Contains(known, l.Kernel) || l.Reason == nil {
			t.Errorf("layer %d: %+v (model layer %s)", i, l, m.Layers[i].Name)
		}
	}
	// The hidden layer is certified at 16 bits: its exact bound says so.
	if *r.Layers[1].AccBitsExact > 16 {
		t.Errorf("conv2 exact bound %d", *r.Layers[1].AccBitsExact)
	}
	for i, th := range r.Threads {
		for _, k := range []string{"threads", "chosen_images_per_sec", "dense_vnni_images_per_sec", "dense_acc32_avx2_images_per_sec",
			"dense16_images_per_sec", "float_images_per_sec"} {
			v, ok := th[k]
			switch {
			case !ok:
				t.Errorf("threads[%d] lacks %s: %s", i, k, stdout)
			case k == "dense_vnni_images_per_sec" && (v != nil) != intgemm.HasVNNI():
				t.Errorf("threads[%d].%s = %v on a CPU with VNNI %v", i, k, v, intgemm.HasVNNI())
			case (k != "dense_vnni_images_per_sec" || v != nil) && !(*v > 0):
				t.Errorf("threads[%d].%s = %v", i, k, *v)
			}
		}
	}
	if *r.Threads[0]["threads"] != 1 {
		t.Errorf("first thread count %v", *r.Threads[0]["threads"])
	}

	code, stdout, stderr = runArgs(t, "bench", "infer", "--time", "1ms", "--batch", "8", ckpt)
	if code != 0 {
		t.Fatalf("bench infer (text): exit %d: %s", code, stderr)
	}
	for _, s := range []string{ckpt, "conv2", "sparsity", "exact P", "kernel", "reason", "chosen/dense-vnni", "chosen/dense-acc32-avx2", "chosen/dense16"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("text output lacks %q:\n%s", s, stdout)
		}
	}

	// A checkpoint of CIFAR-shaped inputs has no data without --data.
	cifar := filepath.Join(dir, "cifar.ckpt")
	cm, err := models.Build(models.Config{Model: "cnn", InC: 3, InH: 32, InW: 32, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(cifar, c); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.ckpt")
	if err := os.WriteFile(junk, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.ckpt")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing checkpoint", []string{missing}, []string{missing}},
		{"corrupt checkpoint", []string{junk}, []string{junk}},
		{"--acc-bits with a checkpoint", []string{ckpt, "--acc-bits", "14"}, []string{"--acc-bits", ckpt}},
		{"--model with a checkpoint", []string{"--model", "mlp", ckpt}, []string{"--model", ckpt}},
		{"--data without a checkpoint", []string{"--data", dir}, []string{"--data"}},
		{"two checkpoints", []string{ckpt, ckpt}, []string{"at most one"}},
		{"images of another shape", []string{cifar}, []string{cifar, "32×32×3", "28×28×1", "--data"}},
	}
	for _, c := range cases {
		code, _, stderr := runArgs(t, append([]string{"bench", "infer", "--time", "1ms"}, c.args...)...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d: %s", c.name, code, exitUsage, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not mention %q", c.name, stderr, w)
			}
		}
	}
}
