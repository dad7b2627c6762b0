package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSweep runs a two-point sweep on 1000 embedded images, then checks
// resuming, the distributed commands and merging.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	args := []string{"sweep", "--model", "cnn", "--quant", "baseline,a2q+", "--bits", "8", "--acc-bits", "16",
		"--epochs", "1", "--float-epochs", "3", "--batch", "32", "--train-limit", "1000", "--test-limit", "500",
		"--parallel", "2", "--out", dir}
	code, stdout, stderr := runArgs(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	var rs []struct {
		ID               string   `json:"id"`
		Quant            string   `json:"quant"`
		AccBits          int      `json:"acc_bits"`
		CertifiedAccBits int      `json:"certified_acc_bits"`
		TestAccuracy     *float64 `json:"test_accuracy"`
		LUTEstimate      float64  `json:"lut_estimate"`
	}
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("sweep --json: %v\n%s", err, stdout)
	}
	if len(rs) != 2 || rs[0].ID != "baseline-w8a8" || rs[1].ID != "a2qplus-w8a8-p16" || rs[1].CertifiedAccBits > 16 || rs[1].TestAccuracy == nil {
		t.Fatalf("results: %+v", rs)
	}
	results, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"score_vs_p.png", "score_vs_lut.png", "sparsity_vs_p.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("%s: %+v %v", name, cfg, err)
		}
	}

	// Resuming: nothing left to do, and the text output is a table.
	code, stdout, stderr = runArgs(t, args...)
	if code != 0 || strings.Count(stderr, "skipped") != 2 || !strings.Contains(stdout, "| a2q+ | qat | 8/8 | 16 |") {
		t.Errorf("second run: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}

	// --print-commands: the float model, then every point; each command runs.
	code, stdout, stderr = runArgs(t, append(args, "--print-commands")...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("--print-commands: exit %d, %q %s", code, stdout, stderr)
	}
	for i, id := range []string{"float", "baseline-w8a8", "a2qplus-w8a8-p16"} {
		if !strings.HasPrefix(lines[i], "a2q sweep ") || !strings.HasSuffix(lines[i], "--point "+id) || !strings.Contains(lines[i], "--out="+dir) {
			t.Errorf("command %d: %q", i, lines[i])
		}
	}
	cmdArgs := strings.Fields(lines[2])[1:]
	if code, _, stderr := runArgs(t, cmdArgs...); code != 0 || !strings.Contains(stderr, "skipped") {
		t.Errorf("printed command %q: exit %d, %s", lines[2], code, stderr)
	}

	// --merge rebuilds results.json byte for byte.
	os.Remove(filepath.Join(dir, "results.json"))
	if code, _, stderr := runArgs(t, "sweep", "--merge", "--out", dir); code != 0 {
		t.Fatalf("--merge: exit %d: %s", code, stderr)
	}
	merged, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || !bytes.Equal(merged, results) {
		t.Errorf("merged results.json differs: %v\n%s", err, merged)
	}

	// --methods adds post-training points to the sweep: only they run.
	ptqArgs := append(args, "--methods", "qat,rtn", "--calib-size", "100")
	code, stdout, stderr = runArgs(t, ptqArgs...)
	if code != 0 || strings.Count(stderr, "skipped") != 2 || !strings.Contains(stdout, "| a2q+ | rtn | 8/8 | 16 |") ||
		!strings.Contains(stdout, "| baseline | rtn | 8/8 |") {
		t.Errorf("--methods qat,rtn: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	code, stdout, _ = runArgs(t, append(ptqArgs, "--print-commands")...)
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 5 ||
		!strings.HasSuffix(lines[4], "--point rtn-a2qplus-w8a8-p16") || !strings.Contains(lines[4], "--methods=qat,rtn") {
		t.Errorf("--print-commands with --methods: exit %d, %q", code, stdout)
	}
}

func TestSweepUsage(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"sweep"}, "--out"},
		{"float quantizer", []string{"sweep", "--quant", "float", "--out", dir}, "--quant"},
		{"bad bits", []string{"sweep", "--bits", "8,x", "--out", dir}, "--bits"},
		{"unknown model", []string{"sweep", "--model", "vgg", "--out", dir}, "vgg"},
		{"unknown point", []string{"sweep", "--point", "a2q-w3a3-p9", "--out", dir}, "a2q-w3a3-p9"},
		{"merge of nothing", []string{"sweep", "--merge", "--out", dir}, "points"},
		{"unknown method", []string{"sweep", "--methods", "qat,adaround", "--out", dir}, `--methods "adaround"`},
		{"no method", []string{"sweep", "--methods", ",", "--out", dir}, "--methods"},
		{"calibration size", []string{"sweep", "--methods", "gptq", "--calib-size", "0", "--out", dir}, "--calib-size"},
	}
	for _, c := range cases {
		code, _, stderr := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q (want 2 and a mention of %q)", c.name, code, stderr, c.want)
		}
	}
}
