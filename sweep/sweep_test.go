package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/hw"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

var (
	dataOnce              sync.Once
	smallTrain, smallTest *data.Set
	dataErr               error
)

// small returns 1000 training and 500 test images of the embedded data.
func small(t *testing.T) (*data.Set, *data.Set) {
	t.Helper()
	dataOnce.Do(func() {
		tr, te, err := data.Default()
		if err != nil {
			dataErr = err
			return
		}
		smallTrain, smallTest = tr.Spread(1000), te.Spread(500)
	})
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	return smallTrain, smallTest
}

func tinyGrid() Grid {
	return Grid{Model: "cnn", Data: "embedded-1000", Quants: []quant.Mode{quant.A2QPlus, quant.Baseline},
		Bits: []int{8}, AccBits: []int{16}, Epochs: 1, FloatEpochs: 3, Batch: 32, Seed: 3, FoldGain: true, CentreOnData: true, FitGain: true,
		L1WhereFolds: true, PlusEpochs: 2} // the A2Q+ point fine-tunes twice as long
}

func TestTinySweep(t *testing.T) {
	tr, te := small(t)
	dir := t.TempDir()
	ctx := context.Background()
	o := Options{Dir: dir, Parallel: 2, Train: tr, Test: te, InferTime: time.Millisecond}
	rs, err := Run(ctx, tinyGrid(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != "baseline-w8a8" || rs[1].ID != "a2qplus-w8a8-p16" {
		t.Fatalf("results %+v", rs)
	}
	base, plus := rs[0], rs[1]
	// conv2 of the reference CNN: K = 3·3·32, 8-bit unsigned inputs, 8-bit weights.
	if want := accum.DataTypeBits(288, 8, false, 8); base.AccBits != want || !base.Certified {
		t.Errorf("baseline target P %d (certified %v), want the data-type P %d", base.AccBits, base.Certified, want)
	}
	if plus.AccBits != 16 || plus.CertifiedAccBits > 16 || !plus.Certified {
		t.Errorf("a2q+ at P=16: certified P %d, certified %v", plus.CertifiedAccBits, plus.Certified)
	}
	if plus.Sparsity <= base.Sparsity {
		t.Errorf("a2q+ sparsity %.3f not above the baseline's %.3f", plus.Sparsity, base.Sparsity)
	}
	for _, r := range rs {
		t.Logf("%s: accuracy %v (float %.3f), certified P %d, sparsity %.3f, LUTs %.0f (P=32: %.0f)",
			r.ID, r.Score(), r.FloatScore, r.CertifiedAccBits, r.Sparsity, r.LUTEstimate, r.LUTEstimateP32)
		if r.TestAccuracy == nil || r.TestPSNR != nil || !(*r.TestAccuracy > 0.3) || r.FloatScore <= 0.3 {
			t.Errorf("%s: accuracy %v, float %v: the tiny model did not learn", r.ID, *r.TestAccuracy, r.FloatScore)
		}
		if math.Abs(r.ShareOfFloat-*r.TestAccuracy/r.FloatScore) > 1e-12 {
			t.Errorf("%s: share of float %v", r.ID, r.ShareOfFloat)
		}
		if !(r.LUTEstimate > 0 && r.LUTEstimate < r.LUTEstimateP32) {
			t.Errorf("%s: LUT estimate %.0f, at P=32 %.0f: a narrower accumulator must cost less", r.ID, r.LUTEstimate, r.LUTEstimateP32)
		}
		epochs := 1
		if r.Quant == "a2q+" {
			epochs = 2
		}
		if r.Epochs != epochs || r.Seconds <= 0 || r.Data != "embedded-1000" || r.Method != "qat" || r.CalibSize != 0 {
			t.Errorf("%s: epochs %d (want %d), seconds %v, data %q, method %q, calibration size %d", r.ID, r.Epochs, epochs, r.Seconds, r.Data, r.Method, r.CalibSize)
		}
		// Both points run as integers: each has its speed and its ratio
		// to the dense plan.
		if r.InferImagesPerSec == nil || !(*r.InferImagesPerSec > 0) || r.InferSpeedupVsDense == nil || !(*r.InferSpeedupVsDense > 0) {
			t.Errorf("%s: inference speed %v, speed-up over dense %v", r.ID, r.InferImagesPerSec, r.InferSpeedupVsDense)
		}
	}
	// a2q hw on each point's checkpoint gives the point's LUT totals.
	for _, r := range rs {
		c, err := checkpoint.Load(filepath.Join(dir, "points", r.ID, "model.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := models.FromCheckpoint(c)
		if err != nil {
			t.Fatal(err)
		}
		cost, err := hw.EstimateModel(m, hw.DefaultPECap, hw.DefaultSIMDCap)
		if err != nil {
			t.Fatal(err)
		}
		if cost.TotalLUTEstimate != r.LUTEstimate || cost.TotalLUTEstimateP32 != r.LUTEstimateP32 {
			t.Errorf("%s: sweep totals %.0f LUTs (%.0f at P = 32), hw on its checkpoint %.0f (%.0f)",
				r.ID, r.LUTEstimate, r.LUTEstimateP32, cost.TotalLUTEstimate, cost.TotalLUTEstimateP32)
		}
	}
	// Every layer at P = 32, from the reference CNN's shapes: conv1 (K = 9,
	// 32 channels) and conv2 (K = 288, 64 channels) threshold into 8-bit
	// inputs, fc (K = 1600, 10 outputs) has no thresholds.
	var p32 float64
	for _, u := range []struct{ k, out, in, b int }{{9, 32, 8, 8}, {288, 64, 8, 8}, {1600, 10, 8, 0}} {
		pe, simd := hw.DefaultFolding(u.k, u.out, hw.DefaultPECap, hw.DefaultSIMDCap)
		e, err := hw.EstimateLUT(hw.MVU{MW: u.k, MH: u.out, PE: pe, SIMD: simd, WeightBits: 8, InputBits: u.in, OutputBits: u.b,
			AccBits: 32, WeightsInLUTRAM: true})
		if err != nil {
			t.Fatal(err)
		}
		p32 += e.LUT
	}
	if math.Abs(base.LUTEstimateP32-p32) > 1e-6*p32 || math.Abs(plus.LUTEstimateP32-p32) > 1e-6*p32 {
		t.Errorf("LUT estimate at P = 32: %.1f and %.1f, want %.1f", base.LUTEstimateP32, plus.LUTEstimateP32, p32)
	}
	if plus.LUTEstimate >= base.LUTEstimate {
		t.Errorf("a2q+ at P=16 estimated at %.0f LUTs, not below the baseline's %.0f", plus.LUTEstimate, base.LUTEstimate)
	}

	// Files: checkpoints, results and plots.
	for _, f := range []string{"float/model.ckpt", "points/baseline-w8a8/model.ckpt", "points/a2qplus-w8a8-p16/result.json", "sweep.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back []Result
	if err := json.Unmarshal(js, &back); err != nil || !reflect.DeepEqual(back, rs) {
		t.Errorf("results.json does not hold the results: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || !reflect.DeepEqual(rows[0], CSVHeader) || rows[2][0] != "a2qplus-w8a8-p16" ||
		rows[2][slices.Index(CSVHeader, "test_psnr")] != "" || rows[2][slices.Index(CSVHeader, "method")] != "qat" ||
		rows[2][slices.Index(CSVHeader, "infer_images_per_sec")] != fmtFloat(*plus.InferImagesPerSec) ||
		rows[2][slices.Index(CSVHeader, "infer_speedup_vs_dense")] != fmtFloat(*plus.InferSpeedupVsDense) {
		t.Errorf("results.csv: %v %q", err, rows)
	}
	for _, name := range []string{ScorePlot, ParetoPlot, SparsityPlot, ScoreSpeedPlot} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 560 {
			t.Errorf("%s: %dx%d", name, b.Dx(), b.Dy())
		}
	}

	// A second run skips the finished points (result files untouched, same
	// seconds) and the float model.
	st := func(p string) int64 {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UnixNano()
	}
	before := []int64{st("float/model.ckpt"), st("points/baseline-w8a8/result.json"), st("points/a2qplus-w8a8-p16/model.ckpt")}
	var log bytes.Buffer
	o.Progress = &log
	rs2, err := Run(ctx, tinyGrid(), o)
	if err != nil {
		t.Fatal(err)
	}
	after := []int64{st("float/model.ckpt"), st("points/baseline-w8a8/result.json"), st("points/a2qplus-w8a8-p16/model.ckpt")}
	if !reflect.DeepEqual(rs2, rs) || !reflect.DeepEqual(before, after) || strings.Count(log.String(), "skipped") != 2 {
		t.Errorf("second run redid work: files %v → %v\n%s", before, after, log.String())
	}

	// A point killed after its last checkpoint but before its result file
	// resumes from the checkpoint: no more training, the same score.
	if err := os.Remove(filepath.Join(dir, "points", "baseline-w8a8", "result.json")); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	rs3, err := Run(ctx, tinyGrid(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "baseline-w8a8: "+filepath.Join(dir, "points", "baseline-w8a8", "model.ckpt")+" has its 1 epoch(s) already") || *rs3[0].TestAccuracy != *base.TestAccuracy ||
		rs3[0].Sparsity != base.Sparsity {
		t.Errorf("resumed point: %+v, want %+v\n%s", rs3[0], base, log.String())
	}
	if err := WriteResults(dir, rs); err != nil { // restore the first run's seconds
		t.Fatal(err)
	}
	js, err = os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpointWrite(filepath.Join(dir, "points", "baseline-w8a8", "result.json"), base); err != nil {
		t.Fatal(err)
	}

	// Merge rebuilds results.json byte for byte.
	for _, f := range []string{"results.json", "results.csv", ScorePlot} {
		os.Remove(filepath.Join(dir, f))
	}
	if _, err := Merge(dir); err != nil {
		t.Fatal(err)
	}
	js2, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || !bytes.Equal(js, js2) {
		t.Errorf("merged results.json differs (%v):\n%s\nwant\n%s", err, js2, js)
	}
	if _, err := os.Stat(filepath.Join(dir, ScorePlot)); err != nil {
		t.Error(err)
	}

	// A different recipe in the same directory is refused; an unknown point too.
	g := tinyGrid()
	g.Epochs = 2
	if _, err := Run(ctx, g, o); err == nil || !strings.Contains(err.Error(), "sweep.json") {
		t.Errorf("another recipe in the same directory: %v", err)
	}
	// A directory of the recipe before folding and centring were the
	// command's defaults: the error says how to extend it.
	g = tinyGrid()
	g.FoldGain = false
	if g.withDefaults().FitGain {
		t.Error("a recipe without folding records a fitted gain")
	}
	g.FoldGain, g.CentreOnData, g.FitGain = false, false, false
	if _, err := Run(ctx, g, o); err == nil || !strings.Contains(err.Error(), "sweep.json") || strings.Contains(err.Error(), "=false") {
		t.Errorf("recipe without folding in a directory with it: %v", err)
	}
	old := t.TempDir()
	if err := checkRecipe(old, g.withDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := checkRecipe(old, tinyGrid().withDefaults()); err == nil || !strings.Contains(err.Error(), "--fold-gain=false --centre-on-data=false --fit-gain=false") {
		t.Errorf("new defaults in an old directory: %v", err)
	}
	g.FoldGain = true
	old = t.TempDir()
	if err := checkRecipe(old, g.withDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := checkRecipe(old, tinyGrid().withDefaults()); err == nil || !strings.Contains(err.Error(), "add --centre-on-data=false --fit-gain=false to extend") {
		t.Errorf("centring in a directory with folding only: %v", err)
	}
	g.CentreOnData = true
	old = t.TempDir()
	if err := checkRecipe(old, g.withDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := checkRecipe(old, tinyGrid().withDefaults()); err == nil || !strings.Contains(err.Error(), "add --fit-gain=false to extend") {
		t.Errorf("fitted gains in a directory with the L1 gain: %v", err)
	}
	g.FitGain, g.L1WhereFolds = true, false // every layer fitted: the default before L1WhereFolds
	old = t.TempDir()
	if err := checkRecipe(old, g.withDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := checkRecipe(old, tinyGrid().withDefaults()); err == nil || !strings.Contains(err.Error(), "add --fit-gain-all to extend") {
		t.Errorf("fitting where the L1 gain cannot reach in a directory fitting every layer: %v", err)
	}
	// The output-bias correction belongs to super-resolution recipes only:
	// a classifier's grid drops it, an image-to-image one made before it
	// existed is extended with --correct-bias=false.
	cl := tinyGrid()
	cl.CorrectBias = true
	if cl.withDefaults().CorrectBias {
		t.Error("a classifier's recipe records the output-bias correction")
	}
	sr, srOld := tinyGrid(), tinyGrid()
	sr.Model, srOld.Model, sr.CorrectBias = "espcn", "espcn", true
	old = t.TempDir()
	if err := checkRecipe(old, srOld.withDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := checkRecipe(old, sr.withDefaults()); err == nil || !strings.Contains(err.Error(), "add --correct-bias=false to extend") {
		t.Errorf("a corrected output bias in a super-resolution directory without it: %v", err)
	}
	if _, err := RunPoint(ctx, tinyGrid(), o, "a2q-w8a8-p16"); err == nil || !strings.Contains(err.Error(), "a2q-w8a8-p16") {
		t.Errorf("unknown point: %v", err)
	}
	// RunPoint needs the float model first.
	if _, err := RunPoint(ctx, tinyGrid(), Options{Dir: t.TempDir(), Train: tr, Test: te, InferTime: time.Millisecond}, "baseline-w8a8"); err == nil || !strings.Contains(err.Error(), `"float" first`) {
		t.Errorf("a point before the float model: %v", err)
	}
	// RunPoint on a finished point returns its result without training.
	r, err := RunPoint(ctx, tinyGrid(), o, "a2qplus-w8a8-p16")
	if err != nil || !reflect.DeepEqual(*r, plus) {
		t.Errorf("RunPoint on a finished point: %v %+v", err, r)
	}
}

func TestPoints(t *testing.T) {
	cases := []struct {
		name string
		g    Grid
		ids  []string
	}{
		{"full", Grid{Quants: []quant.Mode{quant.A2QPlus, quant.A2Q, quant.Baseline}, Bits: []int{8, 4}, AccBits: []int{14, 12}},
			[]string{"baseline-w4a4", "baseline-w8a8", "a2q-w4a4-p12", "a2q-w4a4-p14", "a2q-w8a8-p12", "a2q-w8a8-p14",
				"a2qplus-w4a4-p12", "a2qplus-w4a4-p14", "a2qplus-w8a8-p12", "a2qplus-w8a8-p14"}},
		{"baseline ignores P", Grid{Quants: []quant.Mode{quant.Baseline}, Bits: []int{8}, AccBits: []int{12, 13}}, []string{"baseline-w8a8"}},
		{"duplicates dropped", Grid{Quants: []quant.Mode{quant.A2Q, quant.A2Q}, Bits: []int{4, 4}, AccBits: []int{10, 10}}, []string{"a2q-w4a4-p10"}},
		{"methods", Grid{Quants: []quant.Mode{quant.A2QPlus, quant.Baseline}, Bits: []int{8}, AccBits: []int{14, 12},
			Methods: []Method{GPFQ, QAT, GPTQ}},
			[]string{"baseline-w8a8", "rtn-baseline-w8a8", "a2qplus-w8a8-p12", "a2qplus-w8a8-p14", "gptq-a2qplus-w8a8-p12",
				"gptq-a2qplus-w8a8-p14", "gpfq-a2qplus-w8a8-p12", "gpfq-a2qplus-w8a8-p14"}},
		{"post-training only", Grid{Quants: []quant.Mode{quant.Baseline, quant.A2Q}, Bits: []int{4}, AccBits: []int{12},
			Methods: []Method{GPTQ, RTN}}, []string{"rtn-baseline-w4a4", "rtn-a2q-w4a4-p12", "gptq-a2q-w4a4-p12"}},
	}
	for _, c := range cases {
		var ids []string
		for _, p := range c.g.Points() {
			ids = append(ids, p.ID)
			if q, ok := c.g.Find(p.ID); !ok || q != p {
				t.Errorf("%s: Find(%s) = %+v, %v", c.name, p.ID, q, ok)
			}
			if p.ID != PointID(p.Method, p.Quant, p.WeightBits, p.ActBits, p.AccBits) {
				t.Errorf("%s: point %+v: ID is not PointID's", c.name, p)
			}
		}
		if !reflect.DeepEqual(ids, c.ids) {
			t.Errorf("%s: points %v, want %v", c.name, ids, c.ids)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Grid{Model: "cnn", Quants: []quant.Mode{quant.A2Q}, Bits: []int{8}, AccBits: []int{16}}
	cases := []struct {
		name string
		edit func(*Grid)
		want string
	}{
		{"unknown model", func(g *Grid) { g.Model = "vgg" }, "vgg"},
		{"float quantizer", func(g *Grid) { g.Quants = []quant.Mode{quant.Float} }, "float"},
		{"no P", func(g *Grid) { g.AccBits = nil }, "accumulator"},
		{"bits", func(g *Grid) { g.Bits = []int{1} }, "bit width 1"},
		{"P range", func(g *Grid) { g.AccBits = []int{70} }, "70"},
		{"epochs", func(g *Grid) { g.Epochs = -1 }, "negative"},
		{"A2Q+ epochs", func(g *Grid) { g.PlusEpochs = -2 }, "negative"},
		{"unknown method", func(g *Grid) { g.Methods = []Method{QAT, "adaround"} }, `method "adaround"`},
		{"calibration size", func(g *Grid) { g.Methods, g.CalibSize = []Method{GPTQ}, -1 }, "negative"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		g := ok
		c.edit(&g)
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
}

// A P too small for the hidden layer fails before any training, naming
// the point and the layer.
func TestImpossibleP(t *testing.T) {
	tr, te := small(t)
	g := tinyGrid()
	g.Quants = []quant.Mode{quant.A2Q}
	g.AccBits = []int{8}
	_, err := Run(context.Background(), g, Options{Dir: t.TempDir(), Train: tr, Test: te})
	if err == nil || !strings.Contains(err.Error(), "a2q-w8a8-p8") || !strings.Contains(err.Error(), "conv2") {
		t.Errorf("P = 8 with 8-bit inputs: %v", err)
	}
}

func acc(v float64) *float64 { return &v }

func TestParetoLowest(t *testing.T) {
	rs := []Result{
		{ID: "a", Quant: "a2q", WeightBits: 4, ActBits: 4, AccBits: 12, TestAccuracy: acc(0.80), LUTEstimate: 100, ShareOfFloat: 0.90},
		{ID: "b", Quant: "a2q", WeightBits: 4, ActBits: 4, AccBits: 14, TestAccuracy: acc(0.88), LUTEstimate: 120, ShareOfFloat: 0.99},
		{ID: "c", Quant: "a2q", WeightBits: 4, ActBits: 4, AccBits: 16, TestAccuracy: acc(0.885), LUTEstimate: 140, ShareOfFloat: 0.995},
		{ID: "d", Quant: "a2q+", WeightBits: 4, ActBits: 4, AccBits: 12, TestAccuracy: acc(0.87), LUTEstimate: 100, ShareOfFloat: 0.989},
		{ID: "e", Quant: "a2q+", WeightBits: 4, ActBits: 4, AccBits: 13, TestAccuracy: acc(0.86), LUTEstimate: 110, ShareOfFloat: 0.99},
		{ID: "f", Quant: "baseline", WeightBits: 4, ActBits: 4, AccBits: 19, CertifiedAccBits: 17, TestAccuracy: acc(0.89), LUTEstimate: 200, ShareOfFloat: 1},
		{ID: "g", Quant: "a2q", WeightBits: 8, ActBits: 8, AccBits: 12, TestAccuracy: nil, LUTEstimate: 50},
		{ID: "h", Quant: "a2q", Method: "gptq", WeightBits: 4, ActBits: 4, AccBits: 12, TestAccuracy: acc(0.875), LUTEstimate: 100, ShareOfFloat: 0.99},
		{ID: "i", Quant: "a2q", Method: "gptq", WeightBits: 4, ActBits: 4, AccBits: 13, TestAccuracy: acc(0.70), LUTEstimate: 110, ShareOfFloat: 0.8},
		{ID: "j", Quant: "a2q", Method: "qat", WeightBits: 4, ActBits: 4, AccBits: 13, TestAccuracy: acc(0.70), LUTEstimate: 300, ShareOfFloat: 0.8},
	}
	var front []string
	for _, i := range Pareto(rs) {
		front = append(front, rs[i].ID)
	}
	// The front runs over every method: GPTQ's h beats A2Q+'s d at the same cost.
	if want := []string{"h", "b", "c", "f"}; !reflect.DeepEqual(front, want) {
		t.Errorf("Pareto front %v, want %v", front, want)
	}
	low := Lowest(rs, 0.99)
	// Lowest keeps methods apart ("qat" and no method alike are QAT).
	want := map[string]int{"a2q W4A4": 14, "a2q W4A4 gptq": 12, "a2q+ W4A4": 13, "baseline W4A4": 17, "a2q W8A8": 0}
	if !reflect.DeepEqual(low, want) {
		t.Errorf("Lowest = %v, want %v", low, want)
	}
}

func checkpointWrite(path string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func TestCharts(t *testing.T) {
	rs := []Result{
		{ID: "b", Model: "cnn", Quant: "baseline", WeightBits: 4, ActBits: 4, AccBits: 17, CertifiedAccBits: 15, TestAccuracy: acc(0.85), FloatScore: 0.85, Sparsity: 0.1, LUTEstimate: 200},
		{ID: "a12", Model: "cnn", Quant: "a2q", WeightBits: 4, ActBits: 4, AccBits: 12, CertifiedAccBits: 11, TestAccuracy: acc(0.8), FloatScore: 0.85, Sparsity: 0.8, LUTEstimate: 100},
		{ID: "a13", Model: "cnn", Quant: "a2q", WeightBits: 4, ActBits: 4, AccBits: 13, CertifiedAccBits: 13, TestAccuracy: acc(0.83), FloatScore: 0.85, Sparsity: 0.6, LUTEstimate: 120},
		{ID: "g12", Model: "cnn", Quant: "a2q", Method: "gptq", WeightBits: 4, ActBits: 4, AccBits: 12, CertifiedAccBits: 12, TestAccuracy: acc(0.75), FloatScore: 0.85, Sparsity: 0.7, LUTEstimate: 100},
		{ID: "g13", Model: "cnn", Quant: "a2q", Method: "gptq", WeightBits: 4, ActBits: 4, AccBits: 13, CertifiedAccBits: 13, TestAccuracy: acc(0.82), FloatScore: 0.85, Sparsity: 0.5, LUTEstimate: 120},
	}
	// Speeds for the A2Q QAT points; none for the others.
	rs[1].InferImagesPerSec, rs[1].InferSpeedupVsDense = acc(9000), acc(1.5)
	rs[2].InferImagesPerSec, rs[2].InferSpeedupVsDense = acc(7000), acc(1.2)
	cs, err := Charts(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 4 {
		t.Fatalf("%d charts", len(cs))
	}
	score, pareto, sparsity, speed := cs[0], cs[1], cs[2], cs[3]
	// Score against speed: the A2Q QAT series a line through its speeds in
	// P order, the baseline as markers, the points without a speed at NaN
	// (not drawn), the float score as a reference, the legend on the left.
	if len(speed.Series) != 3 || !reflect.DeepEqual(speed.Series[1].X, []float64{9000, 7000}) || !reflect.DeepEqual(speed.Series[1].Y, []float64{0.8, 0.83}) ||
		speed.Series[1].Markers || !speed.Series[0].Markers || !math.IsNaN(speed.Series[0].X[0]) || !math.IsNaN(speed.Series[2].X[1]) ||
		len(speed.Refs) != 1 || !speed.LegendLeft {
		t.Errorf("speed chart: %+v", speed)
	}
	if len(score.Series) != 3 || len(score.Refs) != 1 || score.Refs[0].Y != 0.85 {
		t.Fatalf("score chart: %+v", score)
	}
	base, a2q, gptq := score.Series[0], score.Series[1], score.Series[2]
	// The baseline is drawn as a marker at its certified P, A2Q as a line at its target P.
	if !base.Markers || !reflect.DeepEqual(base.X, []float64{15}) || a2q.Markers || !reflect.DeepEqual(a2q.X, []float64{12, 13}) ||
		!reflect.DeepEqual(a2q.Y, []float64{0.8, 0.83}) {
		t.Errorf("score series: %+v", score.Series)
	}
	// GPTQ is drawn beside A2Q's QAT: the same colour, its own dashes and
	// markers, its own label.
	if gptq.Label != "A2Q W4A4 GPTQ" || a2q.Label != "A2Q W4A4 QAT" || !reflect.DeepEqual(gptq.Y, []float64{0.75, 0.82}) ||
		gptq.Color != a2q.Color || gptq.Style == a2q.Style || base.Color == a2q.Color {
		t.Errorf("score series: %+v", score.Series)
	}
	if !reflect.DeepEqual(sparsity.Series[1].Y, []float64{0.8, 0.6}) {
		t.Errorf("sparsity series: %+v", sparsity.Series[1])
	}
	front := pareto.Series[len(pareto.Series)-1]
	if front.Label != "Pareto front" || !reflect.DeepEqual(front.X, []float64{100, 120, 200}) {
		t.Errorf("Pareto front: %+v", front)
	}
	if _, err := Charts(nil); err == nil {
		t.Error("Charts of no results: no error")
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, rs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(md.String()), "\n"); len(lines) != 7 || !strings.Contains(lines[2], "| baseline | qat | 4/4 | 17 (data type) | 15 | 0.8500 |") ||
		!strings.Contains(lines[5], "| a2q | gptq | 4/4 | 12 | 12 | 0.7500 |") || !strings.HasSuffix(lines[3], "| 9000 (1.50×) |") || !strings.HasSuffix(lines[2], "| — |") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// TestSweepPTQ extends a finished QAT sweep with GPTQ: only the new points
// run, from the same float model; they are certified at their P and land in
// the results, the table and a resumed run like the QAT points.
func TestSweepPTQ(t *testing.T) {
	tr, te := small(t)
	dir := t.TempDir()
	ctx := context.Background()
	g := Grid{Model: "cnn", Data: "embedded-1000", Quants: []quant.Mode{quant.Baseline, quant.A2Q}, Bits: []int{8}, AccBits: []int{14},
		Epochs: 1, FloatEpochs: 1, Batch: 32, Seed: 5, CalibSize: 200}
	o := Options{Dir: dir, Train: tr, Test: te, InferTime: time.Millisecond}
	qat, err := Run(ctx, g, o)
	if err != nil {
		t.Fatal(err)
	}
	recipeOf := func() Grid {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "sweep.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r Grid
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if c := recipeOf().CalibSize; c != 0 {
		t.Errorf("a QAT sweep's recipe has calibration size %d", c)
	}

	g.Methods = []Method{QAT, GPTQ}
	var log bytes.Buffer
	o.Progress = &log
	rs, err := Run(ctx, g, o)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	if want := []string{"baseline-w8a8", "rtn-baseline-w8a8", "a2q-w8a8-p14", "gptq-a2q-w8a8-p14"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("points %v, want %v", ids, want)
	}
	if strings.Count(log.String(), "skipped") != 2 || strings.Contains(log.String(), "float: training") ||
		!reflect.DeepEqual([]Result{rs[0], rs[2]}, qat) {
		t.Errorf("extending the sweep redid its float model or QAT points:\n%s", log.String())
	}
	if c := recipeOf().CalibSize; c != 200 {
		t.Errorf("recipe after adding gptq: calibration size %d, want 200", c)
	}
	base, gptq := rs[1], rs[3]
	if gptq.Method != "gptq" || gptq.Quant != "a2q" || gptq.AccBits != 14 || !gptq.Certified || gptq.CertifiedAccBits > 14 {
		t.Errorf("gptq point: method %q, quantizer %s, target P %d, certified P %d (%v)", gptq.Method, gptq.Quant, gptq.AccBits, gptq.CertifiedAccBits, gptq.Certified)
	}
	if base.Method != "rtn" || base.Quant != "baseline" || base.AccBits != qat[0].AccBits || !base.Certified {
		t.Errorf("baseline rtn point: method %q, target P %d (QAT's %d), certified %v", base.Method, base.AccBits, qat[0].AccBits, base.Certified)
	}
	for _, r := range []Result{base, gptq} {
		t.Logf("%s: accuracy %.4f (float %.4f), certified P %d, sparsity %.3f, %.1f s", r.ID, r.Score(), r.FloatScore, r.CertifiedAccBits, r.Sparsity, r.Seconds)
		if r.Epochs != 0 || r.CalibSize != 200 || r.FloatScore != qat[0].FloatScore || r.TestAccuracy == nil || !(*r.TestAccuracy > 0.2) ||
			!(r.LUTEstimate > 0 && r.LUTEstimate < r.LUTEstimateP32) {
			t.Errorf("%s: %+v", r.ID, r)
		}
		if _, err := os.Stat(filepath.Join(dir, "points", r.ID, "model.ckpt")); err != nil {
			t.Error(err)
		}
	}

	// results.csv and the table carry the method.
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	mi := slices.Index(CSVHeader, "method")
	if err != nil || len(rows) != 5 || rows[4][0] != "gptq-a2q-w8a8-p14" || rows[4][mi] != "gptq" || rows[2][mi] != "rtn" || rows[1][mi] != "qat" {
		t.Errorf("results.csv: %v %q", err, rows)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| a2q | gptq | 8/8 | 14 | ") || !strings.Contains(md.String(), "| baseline | rtn | 8/8 | ") {
		t.Errorf("markdown:\n%s", md.String())
	}

	// A second run skips every point, the post-training ones too.
	log.Reset()
	rs2, err := Run(ctx, g, o)
	if err != nil || !reflect.DeepEqual(rs2, rs) || strings.Count(log.String(), "skipped") != 4 {
		t.Errorf("second run: %v\n%s", err, log.String())
	}
	// QAT alone still runs on the directory; another calibration size is
	// refused, saying which flag extends the sweep.
	g2 := g
	g2.Methods = nil
	if _, err := Run(ctx, g2, o); err != nil {
		t.Errorf("QAT alone in a directory with gptq points: %v", err)
	}
	g2.Methods, g2.CalibSize = []Method{GPFQ}, 300
	if _, err := Run(ctx, g2, o); err == nil || !strings.Contains(err.Error(), "add --calib-size 200 to extend it") {
		t.Errorf("another calibration size: %v", err)
	}
	g2.Methods = []Method{"adaround"}
	if _, err := Run(ctx, g2, o); err == nil || !strings.Contains(err.Error(), `method "adaround"`) {
		t.Errorf("unknown method: %v", err)
	}

	// A result file from before methods reads as QAT.
	path := filepath.Join(dir, "points", "a2q-w8a8-p14", "result.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "method")
	if b, err = json.Marshal(fields); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(dir)
	if err != nil || !reflect.DeepEqual(merged, rs) {
		t.Errorf("merge with a result file without method: %v\n%+v\nwant %+v", err, merged, rs)
	}
}

// TestResultWithoutSpeed merges a result file from before the inference
// speed fields: it reads with none, the CSV leaves their cells empty, and
// every plot is written, the speed plot with only the float reference.
func TestResultWithoutSpeed(t *testing.T) {
	dir := t.TempDir()
	const old = `{"id": "a2q-w4a4-p12", "model": "cnn", "data": "fashion-mnist", "quant": "a2q", "weight_bits": 4, "act_bits": 4,
 "acc_bits": 12, "certified_acc_bits": 12, "certified": true, "test_accuracy": 0.81, "test_psnr": null, "float_score": 0.9,
 "share_of_float": 0.9, "sparsity": 0.8, "compression_rate": 3.1, "lut_estimate": 1000, "lut_estimate_p32": 2000,
 "epochs": 3, "seconds": 12.5}`
	if err := os.MkdirAll(filepath.Join(dir, "points", "a2q-w4a4-p12"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resultPath(dir, "a2q-w4a4-p12"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := Merge(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].InferImagesPerSec != nil || rs[0].InferSpeedupVsDense != nil || rs[0].Score() != 0.81 || rs[0].Method != "qat" {
		t.Fatalf("results %+v", rs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 2 || len(rows[1]) != len(CSVHeader) ||
		rows[1][slices.Index(CSVHeader, "infer_images_per_sec")] != "" || rows[1][slices.Index(CSVHeader, "infer_speedup_vs_dense")] != "" {
		t.Errorf("results.csv: %v %q", err, rows)
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || !strings.Contains(string(js), `"infer_images_per_sec": null`) {
		t.Errorf("results.json: %v\n%s", err, js)
	}
	for _, name := range []string{ScorePlot, ParetoPlot, SparsityPlot, ScoreSpeedPlot} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		_, err = png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
