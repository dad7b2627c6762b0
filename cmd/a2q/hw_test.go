package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/hw"
)

type hwJSON struct {
	Layers []struct {
		Name           string   `json:"name"`
		AccBits        int      `json:"acc_bits"`
		LUTEstimate    float64  `json:"lut_estimate"`
		LUTEstimateP32 float64  `json:"lut_estimate_p32"`
		LUTSynth       *float64 `json:"lut_synth"`
		LUTSynthP32    *float64 `json:"lut_synth_p32"`
	} `json:"layers"`
	TotalLUTEstimate    float64 `json:"total_lut_estimate"`
	TotalLUTEstimateP32 float64 `json:"total_lut_estimate_p32"`
	Reduction           float64 `json:"reduction"`
}

// trainedCheckpoint writes an untrained (--epochs 0) reference CNN checkpoint with the given
// hidden-layer quantizer at P = 16 and returns its path.
func trainedCheckpoint(t *testing.T, quant string) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, stderr := runArgs(t, "train", "--quant", quant, "--acc-bits", "16", "--epochs", "0", "--out", dir); code != 0 {
		t.Fatalf("train --quant %s: exit %d: %s", quant, code, stderr)
	}
	return filepath.Join(dir, "model.ckpt")
}

func runHWJSON(t *testing.T, args ...string) hwJSON {
	t.Helper()
	code, stdout, stderr := runArgs(t, append([]string{"hw", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("hw %v: exit %d: %s", args, code, stderr)
	}
	var r hwJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("hw --json: %v\n%s", err, stdout)
	}
	return r
}

func TestHWEstimate(t *testing.T) {
	ckpt := trainedCheckpoint(t, "a2q+")
	a2q := runHWJSON(t, ckpt)
	base := runHWJSON(t, trainedCheckpoint(t, "baseline"))
	for _, r := range []hwJSON{a2q, base} {
		if len(r.Layers) != 3 || r.Layers[0].Name != "conv1" || r.Layers[1].Name != "conv2" || r.Layers[2].Name != "fc" {
			t.Fatalf("layers: %+v", r.Layers)
		}
		var sum, sum32 float64
		for _, l := range r.Layers {
			sum += l.LUTEstimate
			sum32 += l.LUTEstimateP32
			if l.LUTSynth != nil || l.LUTSynthP32 != nil {
				t.Errorf("%s: lut_synth without --synth: %v %v", l.Name, l.LUTSynth, l.LUTSynthP32)
			}
			if l.AccBits < 32 && l.LUTEstimate >= l.LUTEstimateP32 {
				t.Errorf("%s: estimate at P = %d (%g) not below P = 32 (%g)", l.Name, l.AccBits, l.LUTEstimate, l.LUTEstimateP32)
			}
		}
		if math.Abs(sum-r.TotalLUTEstimate) > 1e-6*sum || math.Abs(sum32-r.TotalLUTEstimateP32) > 1e-6*sum32 {
			t.Errorf("totals %g, %g; layers sum to %g, %g", r.TotalLUTEstimate, r.TotalLUTEstimateP32, sum, sum32)
		}
		if want := sum32 / sum; math.Abs(r.Reduction-want) > 1e-9 {
			t.Errorf("reduction %g, want %g", r.Reduction, want)
		}
	}
	conv2 := a2q.Layers[1]
	if conv2.AccBits > 16 {
		t.Errorf("A2Q+ conv2 certified at %d bits, want at most 16", conv2.AccBits)
	}
	if a2q.Reduction <= 1 {
		t.Errorf("A2Q+ P = 16 model: reduction %g, want > 1", a2q.Reduction)
	}
	// The baseline's conv2 needs a wider accumulator, so it costs more at its certified P.
	if b := base.Layers[1]; b.AccBits <= conv2.AccBits || b.LUTEstimate <= conv2.LUTEstimate {
		t.Errorf("baseline conv2 at P = %d costs %g, A2Q+ conv2 at P = %d costs %g: want the baseline wider and costlier",
			b.AccBits, b.LUTEstimate, conv2.AccBits, conv2.LUTEstimate)
	}
	// conv2 (K = 288, 64 channels) folds to PE = 4, SIMD = 8 and thresholds to fc's 8 input
	// bits; its estimate is the package's FINN model of that unit.
	e, err := hw.EstimateLUT(hw.MVU{MW: 288, MH: 64, PE: 4, SIMD: 8, WeightBits: 8, InputBits: 8, OutputBits: 8,
		AccBits: conv2.AccBits, WeightsInLUTRAM: true})
	if err != nil {
		t.Fatal(err)
	}
	if conv2.LUTEstimate != e.LUT {
		t.Errorf("conv2 estimate %g, FINN model of its unit %g", conv2.LUTEstimate, e.LUT)
	}
	// Folding caps: at PE = SIMD = 1 the estimates shrink.
	one := runHWJSON(t, ckpt, "--pe", "1", "--simd", "1")
	if one.TotalLUTEstimate >= a2q.TotalLUTEstimate {
		t.Errorf("PE = SIMD = 1: total %g, not below the default folding's %g", one.TotalLUTEstimate, a2q.TotalLUTEstimate)
	}
}

func TestHWErrors(t *testing.T) {
	ckpt := trainedCheckpoint(t, "a2q+")
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		stderr string
	}{
		{"no checkpoint", []string{"hw"}, nil, "want one checkpoint"},
		{"missing checkpoint", []string{"hw", filepath.Join(t.TempDir(), "nope.ckpt")}, nil, "nope.ckpt"},
		{"bad folding", []string{"hw", ckpt, "--pe", "0"}, nil, "--pe"},
		{"bad family", []string{"hw", ckpt, "--synth", "--family", "asic"}, nil, "asic"},
		{"bad layer", []string{"hw", ckpt, "--synth", "--layer", "conv9"}, nil, "conv9"},
		{"no yosys", []string{"hw", ckpt, "--synth"}, map[string]string{"PATH": t.TempDir()}, "apt-get install -y yosys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needsTools := c.name == "bad layer"
			if needsTools {
				for _, tool := range []string{"yosys", "iverilog"} {
					if _, err := exec.LookPath(tool); err != nil {
						t.Skipf("%s not installed: apt-get install -y %s", tool, tool)
					}
				}
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runArgs(t, c.args...)
			if code != 2 || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d (want 2), stderr %q (want it to mention %q)", code, stderr, c.stderr)
			}
		})
	}
}

// TestHWSynth synthesises and simulates the smallest layer (conv1, K = 9) of an A2Q+ model
// with real activations, on iCE40 (the fastest Yosys flow) with one lane.
func TestHWSynth(t *testing.T) {
	for _, tool := range []string{"yosys", "iverilog"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: apt-get install -y %s", tool, tool)
		}
	}
	work := t.TempDir()
	r := runHWJSON(t, trainedCheckpoint(t, "a2q+"), "--synth", "--layer", "conv1", "--datapath-only", "--family", "ice40",
		"--pe", "1", "--simd", "1", "--images", "2", "--rows", "4", "--work", work)
	for _, l := range r.Layers {
		if l.Name != "conv1" {
			if l.LUTSynth != nil || l.LUTSynthP32 != nil {
				t.Errorf("%s synthesised without being selected", l.Name)
			}
			continue
		}
		if l.LUTSynth == nil || l.LUTSynthP32 == nil || *l.LUTSynth <= 0 || *l.LUTSynthP32 < *l.LUTSynth {
			t.Errorf("conv1 at P = %d: lut_synth %v, lut_synth_p32 %v: want positive and no fewer at P = 32",
				l.AccBits, l.LUTSynth, l.LUTSynthP32)
		}
	}
	// Exit 0 means the testbench matched every accumulator of the 4 real input rows.
	if tbs, _ := filepath.Glob(filepath.Join(work, "conv1_p*", "sim", "*_tb.v")); len(tbs) != 1 {
		t.Errorf("testbenches in %s: %v, want one", work, tbs)
	}
}

// TestHWTiled estimates a checkpoint whose hidden layer is tiled, and its QONNX export: conv2
// is priced as a tiled unit at its certified inner width with the outer width
// P_I + ceil(log2 tiles), alike for both files, and the text says so.
func TestHWTiled(t *testing.T) {
	ckpt := trainedCheckpoint(t, "a2q+")
	tiled := tiledModel(t, ckpt, 64)
	onnx := filepath.Join(filepath.Dir(tiled), "tiled.onnx")
	if code, _, stderr := runArgs(t, "export", tiled, "-o", onnx, "--calibrate"); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	conv2 := inspectStages(t, tiled)["conv2"]
	type layer struct {
		Name         string  `json:"name"`
		AccBits      int     `json:"acc_bits"`
		Tile         int     `json:"tile"`
		AccBitsOuter int     `json:"acc_bits_outer"`
		LUTEstimate  float64 `json:"lut_estimate"`
	}
	costs := func(file string) map[string]layer {
		code, stdout, stderr := runArgs(t, "hw", file, "--json")
		if code != 0 {
			t.Fatalf("hw %s: exit %d: %s", file, code, stderr)
		}
		var r struct {
			Layers []layer `json:"layers"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("hw %s --json: %v\n%s", file, err, stdout)
		}
		m := make(map[string]layer)
		for _, l := range r.Layers {
			m[l.Name] = l
		}
		return m
	}
	fromCkpt, fromONNX := costs(tiled), costs(onnx)
	got := fromCkpt["conv2"]
	if got.Tile != 64 || got.AccBits != max(conv2.AccBitsInner, 2) || got.AccBitsOuter != got.AccBits+3 { // 5 tiles
		t.Errorf("conv2: %+v, certificate %+v", got, conv2)
	}
	if fromONNX["conv2"] != got {
		t.Errorf("conv2 in the export: %+v, checkpoint %+v", fromONNX["conv2"], got)
	}
	if untiled := costs(ckpt)["conv2"]; untiled.Tile != 0 || untiled.AccBitsOuter != 0 {
		t.Errorf("untiled conv2: %+v", untiled)
	}
	code, stdout, stderr := runArgs(t, "hw", tiled)
	if code != 0 || !strings.Contains(stdout, "conv2: tiles of 64 terms") {
		t.Errorf("hw (text): exit %d\n%s%s", code, stdout, stderr)
	}
}
