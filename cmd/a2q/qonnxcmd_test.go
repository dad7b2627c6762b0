package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/qonnx"
)

var (
	espcnSubpixel = filepath.Join("..", "..", "qonnx", "testdata", "bsd300x3-espcn_subpixel_quant_model.onnx")
	espcnResize   = filepath.Join("..", "..", "qonnx", "testdata", "bsd300x3-espcn_nn_resize_quant_model.onnx")
)

// qonnxVerifyJSON is the part of `a2q verify FILE.onnx --json` the tests read.
type qonnxVerifyJSON struct {
	Inputs      int    `json:"inputs"`
	InputSource string `json:"input_source"`
	Layers      []struct {
		Name                 string `json:"name"`
		AccBitsTarget        int    `json:"acc_bits_target"`
		AccBitsExact         int    `json:"acc_bits_exact"`
		AccBitsFrom          string `json:"acc_bits_from"`
		Certified            bool   `json:"certified"`
		Overflows            int64  `json:"overflows"`
		Outputs              int64  `json:"outputs"`
		ActivationValues     int64  `json:"activation_values"`
		ActivationMismatches int64  `json:"activation_mismatches"`
		Claim                *struct {
			Holds bool `json:"holds"`
		} `json:"claim"`
	} `json:"layers"`
	Uncertifiable []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"uncertifiable"`
	Claims []struct {
		Name  string `json:"name"`
		Holds bool   `json:"holds"`
	} `json:"claims"`
	ClaimsHold              bool    `json:"claims_hold"`
	Overflows               *int64  `json:"overflows"`
	IntegerMatchesFakeQuant *bool   `json:"integer_matches_fake_quant"`
	QuantizedValues         int64   `json:"quantized_values"`
	Differ                  int64   `json:"differ"`
	IsolatedDiffer          int64   `json:"isolated_differ"`
	IsolatedMaxDiffSteps    float64 `json:"isolated_max_diff_steps"`
	WithinTies              bool    `json:"within_ties"`
	Certified               bool    `json:"certified"`
	Verdict                 string  `json:"verdict"`
}

func (r qonnxVerifyJSON) widths() (p, exact []int, from []string) {
	for _, l := range r.Layers {
		p, exact, from = append(p, l.AccBitsTarget), append(exact, l.AccBitsExact), append(from, l.AccBitsFrom)
	}
	return
}

// TestVerifyQONNX runs verify on the Brevitas ESPCN exports: at each
// layer's exact width no partial sum overflows and the integer layers agree
// with the fake-quantized graph up to rounding ties; the first layer of the
// sub-pixel model has a float input and keeps the model from being
// certified; a P below a layer's exact width overflows and fails (exit 1).
func TestVerifyQONNX(t *testing.T) {
	small := []string{"--shape", "1,3,24,24"}
	cases := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, r qonnxVerifyJSON)
	}{
		{"sub-pixel, declared 128×128 input, exact widths", []string{espcnSubpixel, "--limit", "1"}, 0, func(t *testing.T, r qonnxVerifyJSON) {
			p, exact, from := r.widths()
			if !slices.Equal(p, []int{12, 12, 17}) || !slices.Equal(exact, p) || !slices.Equal(from, []string{"exact", "exact", "exact"}) {
				t.Errorf("widths %v, exact %v, from %v", p, exact, from)
			}
			if r.Inputs != 1 || *r.Overflows != 0 || !r.WithinTies || r.IsolatedMaxDiffSteps > 1.001 || !strings.Contains(r.InputSource, "[0, 1)") {
				t.Errorf("report: %+v", r)
			}
			for _, l := range r.Layers {
				if !l.Certified || l.Overflows != 0 || l.Outputs != outputsOf(l.Name) {
					t.Errorf("layer %+v", l)
				}
			}
			if r.Certified || len(r.Uncertifiable) != 1 || r.Uncertifiable[0].Name != "Conv_5" ||
				!strings.HasPrefix(r.Verdict, "not certified") || !strings.Contains(r.Verdict, "Conv_5") {
				t.Errorf("certified %v, uncertifiable %+v, verdict %q", r.Certified, r.Uncertifiable, r.Verdict)
			}
		}},
		{"sub-pixel at P = 12", append([]string{espcnSubpixel, "--acc-bits", "12"}, small...), 1, func(t *testing.T, r qonnxVerifyJSON) {
			last := r.Layers[2]
			if last.Name != "Conv_41" || last.AccBitsTarget != 12 || last.Certified || last.Overflows == 0 || *r.Overflows != last.Overflows+r.Layers[0].Overflows+r.Layers[1].Overflows {
				t.Errorf("Conv_41 at P = 12: %+v (total %d)", last, *r.Overflows)
			}
			if !r.Layers[0].Certified || !strings.Contains(r.Verdict, "Conv_41") {
				t.Errorf("layers %+v, verdict %q", r.Layers, r.Verdict)
			}
		}},
		{"sub-pixel at P = 17", append([]string{espcnSubpixel, "--acc-bits", "17"}, small...), 0, func(t *testing.T, r qonnxVerifyJSON) {
			p, _, from := r.widths()
			if !slices.Equal(p, []int{17, 17, 17}) || from[0] != "--acc-bits" || *r.Overflows != 0 || r.Certified {
				t.Errorf("widths %v from %v, overflows %d, certified %v", p, from, *r.Overflows, r.Certified)
			}
		}},
		{"nearest-resize, quantized input", append([]string{espcnResize, "--limit", "2"}, small...), 0, func(t *testing.T, r qonnxVerifyJSON) {
			p, _, _ := r.widths()
			if !slices.Equal(p, []int{21, 16, 15, 23}) || *r.Overflows != 0 || !r.Certified || !r.WithinTies || len(r.Uncertifiable) != 0 ||
				!strings.Contains(r.InputSource, "Quant_4") || !strings.HasPrefix(r.Verdict, "certified") {
				t.Errorf("report: %+v", r)
			}
			if r.Layers[0].ActivationValues != 2*3*24*24 || r.Layers[0].ActivationMismatches != 0 {
				t.Errorf("first layer input: %+v", r.Layers[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, append([]string{"verify", "--json"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			var r qonnxVerifyJSON
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("verify --json: %v\n%s", err, stdout)
			}
			if r.Overflows == nil || r.IntegerMatchesFakeQuant == nil || len(r.Layers) == 0 {
				t.Fatalf("report lacks fields: %s", stdout)
			}
			tc.check(t, r)
			t.Logf("overflows %d; %d of %d quantized activations differ (%d on the same inputs); %s",
				*r.Overflows, r.Differ, r.QuantizedValues, r.IsolatedDiffer, r.Verdict)
		})
	}

	// The text report names the layers, the overflows and the verdict.
	code, stdout, _ := runArgs(t, append([]string{"verify", espcnSubpixel, "--acc-bits", "12", "--limit", "1"}, small...)...)
	for _, want := range []string{"Conv_17", "Conv_41", "--acc-bits", "not certifiable: Conv_5", "verdict: not certified", "within rounding ties"} {
		if code != 1 || !strings.Contains(stdout, want) {
			t.Errorf("text report (exit %d) does not mention %q:\n%s", code, want, stdout)
		}
	}

	idx := idxDir(t, 8)
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{espcnSubpixel, "--shape", "1,3"}, "--shape"},
		{[]string{espcnSubpixel, "--shape", "1,3,x,8"}, "--shape"},
		{[]string{espcnSubpixel, "--acc-bits", "99"}, "--acc-bits"},
		{[]string{espcnSubpixel, "--data", idx, "--shape", "1,3,8,8"}, idx},
		{[]string{espcnSubpixel, "--mode", "wrap"}, "mode"},
		{[]string{espcnSubpixel, espcnResize}, "one QONNX file"},
	} {
		if code, _, stderr := runArgs(t, append([]string{"verify"}, c.args...)...); code != 2 || !strings.Contains(stderr, c.stderr) {
			t.Errorf("verify %v: exit %d, stderr %q (want 2 and a mention of %q)", c.args, code, stderr, c.stderr)
		}
	}
}

// outputsOf is the number of dot products a sub-pixel ESPCN layer computes
// on one 128×128 image.
func outputsOf(layer string) int64 {
	return map[string]int64{"Conv_17": 64 * 128 * 128, "Conv_29": 32 * 128 * 128, "Conv_41": 12 * 128 * 128}[layer]
}

// idxDir writes a tiny IDX data set of n×n images (which fits no model
// here) and returns its directory.
func idxDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		dims []int
	}{
		{"train-images-idx3-ubyte", []int{4, n, n}}, {"train-labels-idx1-ubyte", []int{4}},
		{"t10k-images-idx3-ubyte", []int{4, n, n}}, {"t10k-labels-idx1-ubyte", []int{4}},
	} {
		size := 1
		for _, d := range f.dims {
			size *= d
		}
		var buf bytes.Buffer
		if err := data.WriteIDX(&buf, f.dims, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// qonnxHWJSON is `a2q hw FILE.onnx --json`.
type qonnxHWJSON struct {
	hwJSON
	File       string `json:"file"`
	Thresholds []struct {
		Layer      string `json:"layer"`
		OutputBits int    `json:"output_bits"`
		Quant      string `json:"quant"`
	} `json:"thresholds"`
	Uncertifiable []struct {
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	} `json:"uncertifiable"`
}

func runQONNXHW(t *testing.T, file string) qonnxHWJSON {
	t.Helper()
	code, stdout, stderr := runArgs(t, "hw", file, "--json")
	if code != 0 {
		t.Fatalf("hw %s: exit %d: %s", file, code, stderr)
	}
	var r qonnxHWJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("hw --json: %v\n%s", err, stdout)
	}
	return r
}

// TestHWQONNX estimates the Brevitas ESPCN exports: each certifiable layer
// at its exact width, B from the next layer's input Quant (0 for the last),
// totals equal to the sums of the layers.
func TestHWQONNX(t *testing.T) {
	cases := []struct {
		file          string
		names         []string
		p, b          []int
		uncertifiable []string
	}{
		{espcnSubpixel, []string{"Conv_17", "Conv_29", "Conv_41"}, []int{12, 12, 17}, []int{4, 4, 0}, []string{"Conv_5"}},
		{espcnResize, []string{"Conv_10", "Conv_22", "Conv_34", "Conv_48"}, []int{21, 16, 15, 23}, []int{4, 4, 8, 0}, nil},
	}
	for _, tc := range cases {
		r := runQONNXHW(t, tc.file)
		var names, uncert []string
		var p, b []int
		var total, total32 float64
		for i, l := range r.Layers {
			names, p, b = append(names, l.Name), append(p, l.AccBits), append(b, r.Thresholds[i].OutputBits)
			total += l.LUTEstimate
			total32 += l.LUTEstimateP32
			if l.LUTEstimate > l.LUTEstimateP32 {
				t.Errorf("%s: %g LUTs at P = %d, more than %g at 32", l.Name, l.LUTEstimate, l.AccBits, l.LUTEstimateP32)
			}
		}
		for _, u := range r.Uncertifiable {
			uncert = append(uncert, u.Name)
		}
		if !slices.Equal(names, tc.names) || !slices.Equal(p, tc.p) || !slices.Equal(b, tc.b) || !slices.Equal(uncert, tc.uncertifiable) {
			t.Errorf("%s: layers %v at P %v with B %v, uncertifiable %v", tc.file, names, p, b, uncert)
		}
		if r.TotalLUTEstimate != total || r.TotalLUTEstimateP32 != total32 || r.Reduction != total32/total || r.File != tc.file {
			t.Errorf("%s: totals %g, %g (reduction %g); layers sum to %g, %g", tc.file, r.TotalLUTEstimate, r.TotalLUTEstimateP32, r.Reduction, total, total32)
		}
		t.Logf("%s: %.0f LUTs at the certified widths, %.0f at P = 32 (%.2f×)", filepath.Base(tc.file), total, total32, r.Reduction)
	}
	code, stdout, _ := runArgs(t, "hw", espcnSubpixel)
	for _, want := range []string{"Conv_17", "B = 4 from Quant_23", "left out: Conv_5", "total:"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("hw text (exit %d) does not mention %q:\n%s", code, want, stdout)
		}
	}
	if code, _, stderr := runArgs(t, "hw", espcnSubpixel, "--synth"); code != 2 || !strings.Contains(stderr, "--synth") {
		t.Errorf("hw --synth on QONNX: exit %d, %s", code, stderr)
	}
}

// TestEvalQONNX evaluates the sub-pixel ESPCN on tiles of the embedded
// photographs, and refuses a data set that does not fit.
func TestEvalQONNX(t *testing.T) {
	code, stdout, stderr := runArgs(t, "eval", espcnSubpixel, "--shape", "1,3,16,16", "--limit", "4", "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var r struct {
		Task     string   `json:"task"`
		Images   int      `json:"images"`
		PSNR     *float64 `json:"test_psnr"`
		Accuracy *float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Task != "super-resolution" || r.Images != 4 || r.PSNR == nil || *r.PSNR < 15 || r.Accuracy != nil {
		t.Errorf("eval: %s", stdout)
	}
	idx := idxDir(t, 8)
	if code, _, stderr := runArgs(t, "eval", espcnSubpixel, "--data", idx); code != 2 || !strings.Contains(stderr, idx) {
		t.Errorf("eval with IDX images: exit %d, %s", code, stderr)
	}
}

// TestQONNXCertificates exports a checkpoint, checks that inspect and
// verify find the certificates the file claims hold, that hw estimates the
// file as it estimates the checkpoint and eval scores it alike, then
// claims a too narrow accumulator for conv2 and checks both commands fail
// naming it.
func TestQONNXCertificates(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	calibratedCheckpoint(t, ckpt)
	file := filepath.Join(dir, "model.onnx")
	if code, _, stderr := runArgs(t, "export", ckpt, "-o", file); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runArgs(t, "inspect", file)
	if code != 0 || !strings.Contains(stdout, qonnx.CertificatesKey) || strings.Contains(stdout, "NO:") {
		t.Fatalf("inspect: exit %d: %s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runArgs(t, "verify", file, "--json")
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr)
	}
	var r qonnxVerifyJSON
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	p, _, from := r.widths()
	if !r.ClaimsHold || len(r.Claims) != 3 || !r.Certified || *r.Overflows != 0 || p[1] != 16 || from[1] != "claim" ||
		r.Layers[1].Claim == nil || !r.Layers[1].Claim.Holds || !strings.Contains(r.InputSource, "conv1") {
		t.Errorf("verify: %s", stdout)
	}

	// hw and eval read the export as they read the checkpoint.
	fromCkpt, fromFile := runHWJSON(t, ckpt), runQONNXHW(t, file)
	if !slices.Equal(fromCkpt.Layers, fromFile.Layers) || fromCkpt.TotalLUTEstimate != fromFile.TotalLUTEstimate {
		t.Errorf("hw: checkpoint %+v, QONNX %+v", fromCkpt, fromFile.hwJSON)
	}
	accuracy := func(args ...string) float64 {
		code, stdout, stderr := runArgs(t, append([]string{"eval", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
		}
		var r struct {
			Accuracy *float64 `json:"test_accuracy"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Accuracy == nil {
			t.Fatalf("eval %v: %v %s", args, err, stdout)
		}
		return *r.Accuracy
	}
	// The interpreter accumulates in another order than a2q's engine: a
	// near tie between two scores may, rarely, go the other way.
	if a, b := accuracy(ckpt), accuracy(file); math.Abs(a-b) > 1e-3 {
		t.Errorf("eval: checkpoint accuracy %v, QONNX %v", a, b)
	}
	if code, _, stderr := runArgs(t, "eval", file, "--data", idxDir(t, 8)); code != 2 || !strings.Contains(stderr, "8×8") {
		t.Errorf("eval with 8×8 images: exit %d, %s", code, stderr)
	}

	// Claim P = 8 for conv2.
	m, err := qonnx.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := m.Claims()
	if err != nil || len(claims) != 3 || claims[1].Name != "conv2" {
		t.Fatalf("claims %+v, %v", claims, err)
	}
	claims[1].AccBits = 8
	if err := m.SetClaims(claims); err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.onnx")
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"inspect", tampered}, {"verify", tampered, "--limit", "2"}} {
		code, stdout, stderr := runArgs(t, args...)
		if code != 1 || !strings.Contains(stderr, "conv2") || !strings.Contains(stdout, "NO: the weights need P_exact") {
			t.Errorf("%v: exit %d (want 1), stderr %q\n%s", args, code, stderr, stdout)
		}
	}
}
