package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExport trains nothing (train --epochs 0, A2Q+ at P = 16), exports
// the checkpoint as QONNX, and checks that `a2q inspect` certifies the
// .onnx file exactly as it certifies the checkpoint.
func TestExport(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", dir); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	ckpt := filepath.Join(dir, "model.ckpt")
	onnx := filepath.Join(dir, "model.onnx")

	// After --epochs 0 the hidden layers' activation scales were never set.
	code, _, stderr := runArgs(t, "export", ckpt, "--format", "qonnx", "-o", onnx)
	if code != 2 || !strings.Contains(stderr, "conv2") || !strings.Contains(stderr, "--calibrate") {
		t.Fatalf("export of an uncalibrated checkpoint: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(onnx); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s behind (%v)", onnx, err)
	}

	code, stdout, stderr := runArgs(t, "export", ckpt, "--format", "qonnx", "-o", onnx, "--calibrate", "--verify", "--images", "300", "--json")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	var res struct {
		File   string `json:"file"`
		Bytes  int    `json:"bytes"`
		Layers []struct {
			Name string `json:"name"`
		} `json:"layers"`
		CertificatesMatch bool `json:"certificates_match"`
		Calibrated        bool `json:"calibrated"`
		Verify            *struct {
			Images     int `json:"images"`
			SameArgmax int `json:"same_argmax"`
		} `json:"verify"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("export --json: %v\n%s", err, stdout)
	}
	st, err := os.Stat(onnx)
	if err != nil {
		t.Fatal(err)
	}
	if res.File != onnx || int64(res.Bytes) != st.Size() || len(res.Layers) != 3 || !res.CertificatesMatch || !res.Calibrated {
		t.Errorf("export report: %+v (file has %d bytes)", res, st.Size())
	}
	if v := res.Verify; v == nil || v.Images != 300 || v.SameArgmax != v.Images {
		t.Errorf("verify: %+v", v)
	}

	// inspect certifies the checkpoint and the export alike.
	type cert struct {
		Name         string `json:"name"`
		K            int    `json:"k"`
		L1Max        int64  `json:"l1_max"`
		AccBitsExact int    `json:"acc_bits_exact"`
		AccMin       int64  `json:"acc_min"`
		AccMax       int64  `json:"acc_max"`
	}
	inspect := func(file string) map[string]cert {
		code, stdout, stderr := runArgs(t, "inspect", file, "--json")
		if code != 0 {
			t.Fatalf("inspect %s: exit %d: %s", file, code, stderr)
		}
		var r struct {
			Layers []cert `json:"layers"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("inspect %s --json: %v\n%s", file, err, stdout)
		}
		m := make(map[string]cert)
		for _, c := range r.Layers {
			m[c.Name] = c
		}
		return m
	}
	fromCkpt, fromONNX := inspect(ckpt), inspect(onnx)
	if len(fromCkpt) == 0 {
		t.Fatal("inspect of the checkpoint lists no layers")
	}
	for name, c := range fromCkpt {
		if fromONNX[name] != c {
			t.Errorf("layer %s: checkpoint %+v, QONNX export %+v", name, c, fromONNX[name])
		}
	}
	// conv2 is the A2Q+ P = 16 layer.
	if c := fromONNX["conv2"]; c.AccBitsExact < 2 || c.AccBitsExact > 16 {
		t.Errorf("conv2 in the export: %+v", c)
	}

	// Text output names the file and the layers.
	code, stdout, stderr = runArgs(t, "export", ckpt, "-o", onnx, "--calibrate")
	if code != 0 || !strings.Contains(stdout, onnx) || !strings.Contains(stdout, "conv2") || !strings.Contains(stdout, "match the checkpoint: true") {
		t.Errorf("export (text): exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestExportUsage(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.ckpt")
	out := filepath.Join(dir, "x.onnx")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad format", []string{"export", missing, "--format", "onnx-float", "-o", out}, "--format"},
		{"no output", []string{"export", missing, "--format", "qonnx"}, "-o"},
		{"no checkpoint", []string{"export", "--format", "qonnx", "-o", out}, "checkpoint"},
		{"missing checkpoint", []string{"export", missing, "-o", out}, "nope.ckpt"},
	}
	for _, c := range cases {
		code, _, stderr := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q (want exit 2 naming %q)", c.name, code, stderr, c.want)
		}
	}
}
