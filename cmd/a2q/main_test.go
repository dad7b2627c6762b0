package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &env{stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	fixtures := filepath.Join("..", "..", "qonnx", "testdata")
	junk := filepath.Join(dir, "junk.onnx")
	if err := os.WriteFile(junk, []byte("not a protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad flag", []string{"train", "--nonsense"}, 2, "nonsense"},
		{"missing out", []string{"train"}, 2, "--out"},
		{"bad quant", []string{"train", "--quant", "int3", "--out", dir}, 2, "--quant"},
		{"P too small", []string{"train", "--quant", "a2q", "--acc-bits", "8", "--epochs", "0", "--out", dir}, 2, "conv2"},
		{"missing checkpoint", []string{"inspect", filepath.Join(dir, "nope.ckpt")}, 2, "nope.ckpt"},
		{"onnx that is not one", []string{"inspect", junk}, 2, "junk.onnx"},
		{"float onnx to verify", []string{"verify", filepath.Join(fixtures, "mnist-conv_model.onnx")}, 2, "float"},
	}
	for _, c := range cases {
		code, _, stderr := runArgs(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want it to mention %q)", c.name, code, c.code, stderr, c.stderr)
		}
	}
}

// TestTrainInspect runs train with no epochs (projection-free A2Q+ init)
// and checks the report and the inspect command agree.
func TestTrainInspect(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runArgs(t, "train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", dir, "--json")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var rep struct {
		Layers []struct {
			Name         string `json:"name"`
			AccBitsExact int    `json:"acc_bits_exact"`
			Certified    bool   `json:"certified"`
		} `json:"layers"`
		TestAccuracy *float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("train --json: %v\n%s", err, stdout)
	}
	if len(rep.Layers) != 3 || rep.TestAccuracy == nil {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Layers[1].Name != "conv2" || !rep.Layers[1].Certified || rep.Layers[1].AccBitsExact > 16 {
		t.Errorf("conv2 certificate: %+v", rep.Layers[1])
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
		t.Error(err)
	}
	ckpt := filepath.Join(dir, "model.ckpt")
	if code, out, stderr := runArgs(t, "inspect", ckpt, "--acc-bits", "16"); code != 0 || !strings.Contains(out, "conv2") {
		t.Errorf("inspect at P=16: exit %d, %s %s", code, out, stderr)
	}
	// conv1 and fc are 8-bit baseline layers; at P = 12 even conv2 fails.
	if code, _, _ := runArgs(t, "inspect", ckpt, "--acc-bits", "12"); code != 1 {
		t.Errorf("inspect at P=12: exit %d, want 1 (failed check)", code)
	}
}
