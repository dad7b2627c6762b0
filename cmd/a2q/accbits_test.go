package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/data"
)

// TestAccBitsFlags: every command that takes an accumulator width refuses
// the same bad P at the flag, before reading any file or data, with exit
// status 2 and accum.CheckAccBits's message. 0 is refused where the flag
// does not document it (inspect and verify take it as "each layer's own").
func TestAccBitsFlags(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "absent.ckpt") // never read: the flag fails first
	qonnxFile := espcnSubpixel                // a QONNX file: inspect and verify take its flags
	commands := []struct {
		name   string
		args   func(p string) []string
		flag   string
		zeroOK bool
	}{
		{"train", func(p string) []string {
			return []string{"train", "--quant", "a2q", "--acc-bits", p, "--epochs", "0", "--out", dir}
		}, "--acc-bits", false},
		{"train edge", func(p string) []string {
			return []string{"train", "--quant", "a2q", "--edge-acc-bits", p, "--epochs", "0", "--out", dir}
		}, "--edge-acc-bits", false},
		{"train float", func(p string) []string { return []string{"train", "--acc-bits", p, "--out", dir} }, "--acc-bits", false},
		{"inspect", func(p string) []string { return []string{"inspect", ckpt, "--acc-bits", p} }, "--acc-bits", true},
		{"inspect QONNX", func(p string) []string { return []string{"inspect", qonnxFile, "--acc-bits", p} }, "--acc-bits", true},
		{"verify QONNX", func(p string) []string { return []string{"verify", qonnxFile, "--acc-bits", p} }, "--acc-bits", true},
		{"verify", func(p string) []string { return []string{"verify", ckpt, "--acc-bits", p} }, "--acc-bits", true},
		{"sweep", func(p string) []string {
			return []string{"sweep", "--quant", "a2q", "--bits", "8", "--acc-bits", "16," + p, "--out", dir}
		}, "--acc-bits", false},
		{"bench train", func(p string) []string { return []string{"bench", "train", "--acc-bits", p} }, "--acc-bits", false},
		{"bench infer", func(p string) []string { return []string{"bench", "infer", "--acc-bits", p} }, "--acc-bits", false},
	}
	for _, c := range commands {
		for _, p := range []int{0, 1, 65, -3} {
			if p == 0 && c.zeroOK {
				continue
			}
			want := fmt.Sprintf("%s: accumulator width P = %d outside [2, 64]", c.flag, p)
			code, _, stderr := runArgs(t, c.args(fmt.Sprint(p))...)
			if code != 2 || strings.TrimSpace(stderr) != fmt.Sprintf("a2q %s: %s", strings.Fields(c.name)[0], want) {
				t.Errorf("%s with P = %d: exit %d, stderr %q; want 2 and %q", c.name, p, code, stderr, want)
			}
		}
	}
}

// randomIDX writes a tiny Fashion-MNIST-shaped IDX data set (n random
// 28×28 images per split, labels 0–9) and returns its directory.
func randomIDX(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	images := func() []byte {
		b := make([]byte, n*28*28)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 10)
	}
	for _, f := range []struct {
		name string
		dims []int
		body []byte
	}{
		{"train-images-idx3-ubyte", []int{n, 28, 28}, images()}, {"train-labels-idx1-ubyte", []int{n}, labels},
		{"t10k-images-idx3-ubyte", []int{n, 28, 28}, images()}, {"t10k-labels-idx1-ubyte", []int{n}, labels},
	} {
		var buf bytes.Buffer
		if err := data.WriteIDX(&buf, f.dims, f.body); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAccBits64 trains an A2Q model with every layer at P = 64 (one epoch
// on a tiny data set) and checks that inspect and verify accept what train
// wrote: a P train accepts is one verify runs, here with the exact sums,
// since every layer's exact width fits the integer engine.
func TestAccBits64(t *testing.T) {
	ds := randomIDX(t, 40)
	out := filepath.Join(t.TempDir(), "p64")
	code, _, stderr := runArgs(t, "train", "--quant", "a2q", "--acc-bits", "64", "--edge-acc-bits", "64",
		"--epochs", "1", "--batch", "20", "--data", ds, "--out", out)
	if code != 0 {
		t.Fatalf("train at P = 64: exit %d: %s", code, stderr)
	}
	ckpt := filepath.Join(out, "model.ckpt")
	for _, args := range [][]string{
		{"inspect", ckpt},
		{"inspect", ckpt, "--acc-bits", "64"},
		{"verify", ckpt, "--data", ds, "--adversarial"},
		{"verify", ckpt, "--data", ds, "--acc-bits", "64", "--mode", "saturate", "--adversarial"},
	} {
		code, stdout, stderr := runArgs(t, append(args, "--json")...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
			continue
		}
		var rep struct {
			Layers []struct {
				Name      string `json:"name"`
				Target    int    `json:"acc_bits_target"`
				Certified bool   `json:"certified"`
			} `json:"layers"`
			Certified     bool   `json:"certified"`
			Overflows     *int64 `json:"overflows"`
			IntegerLayers []struct {
				AccBits int `json:"acc_bits"`
			} `json:"integer_layers"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !rep.Certified || len(rep.Layers) != 3 || (args[0] == "verify") != (rep.Overflows != nil) || rep.Overflows != nil && *rep.Overflows != 0 {
			t.Errorf("%v: %s", args, stdout)
		}
		for i, l := range rep.Layers {
			if l.Target != 64 || !l.Certified || args[0] == "verify" && rep.IntegerLayers[i].AccBits != 64 {
				t.Errorf("%v: layer %s: %s", args, l.Name, stdout)
			}
		}
	}
}

// TestInspectExportAgrees exports a checkpoint to QONNX and checks that
// inspect gives both the same verdict (exit status and certified) and the
// same per-layer P, P_exact and certified at several hidden-layer P,
// including ones where the hidden layer is certified and an edge layer
// would not be at that P.
func TestInspectExportAgrees(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", dir); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	ckpt, onnxFile := filepath.Join(dir, "model.ckpt"), filepath.Join(dir, "model.onnx")
	if code, _, stderr := runArgs(t, "export", ckpt, "--format", "qonnx", "--calibrate", "-o", onnxFile); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	type inspectJSON struct {
		Layers []struct {
			Name      string `json:"name"`
			Target    int    `json:"acc_bits_target"`
			Exact     int    `json:"acc_bits_exact"`
			Certified bool   `json:"certified"`
		} `json:"layers"`
		Certified bool `json:"certified"`
	}
	inspect := func(file string, p int) (int, inspectJSON) {
		code, stdout, stderr := runArgs(t, "inspect", file, "--acc-bits", fmt.Sprint(p), "--json")
		var r inspectJSON
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("inspect %s: exit %d: %v\n%s", file, code, err, stderr)
		}
		return code, r
	}
	_, own := inspect(ckpt, 16)
	if len(own.Layers) != 3 {
		t.Fatalf("inspect: %+v", own)
	}
	hidden := own.Layers[1].Exact
	meaningful := false
	for _, p := range []int{hidden - 1, hidden, 16, 20, 32} {
		cc, c := inspect(ckpt, p)
		qc, q := inspect(onnxFile, p)
		if cc != qc || c.Certified != q.Certified || len(c.Layers) != len(q.Layers) {
			t.Errorf("hidden P = %d: checkpoint exit %d certified %v, QONNX exit %d certified %v", p, cc, c.Certified, qc, q.Certified)
			continue
		}
		for i := range c.Layers {
			if c.Layers[i] != q.Layers[i] {
				t.Errorf("hidden P = %d: checkpoint %+v, QONNX %+v", p, c.Layers[i], q.Layers[i])
			}
		}
		meaningful = meaningful || c.Certified && max(c.Layers[0].Exact, c.Layers[2].Exact) > p
	}
	if !meaningful {
		t.Error("no P certified the hidden layer with an edge layer wider than P: the comparison cannot tell edges from hidden layers")
	}
}
