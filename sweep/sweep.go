// Package sweep runs a2q's evaluation: a grid of quantizer × method × bit
// width × accumulator width P for one model and data set, answering "how
// low can P go for my network, and what does it cost?", with
// quantization-aware training and post-training quantization side by side.
//
// # Recipe
//
// One float model is trained first (DIR/float/model.ckpt) and reused by
// every point. A point of method QAT then fine-tunes a quantized copy of it
// (models.InitFromFloatWith, which applies the Euclidean-projection
// initialisation to A2Q and A2Q+ layers, and with Grid.FoldGain and
// Grid.CentreOnData folds the projection's gain into the next layer and
// zero-centres A2Q+ layers on data) for Grid.Epochs epochs (an A2Q+ point
// for Grid.PlusEpochs where that is set). A point of a
// post-training method (RTN, GPTQ, GPFQ) instead quantizes the float model
// with recipe.Quantize, calibrated on Grid.CalibSize examples of the
// training split, without training (recipe.Quantize makes its own choices
// of gain folding and centring; Grid.FoldGain and Grid.CentreOnData are
// QAT's). Both kinds are measured alike (Measure). A2Q and A2Q+ run once
// per (method, bit width, P); the baseline quantizer does not constrain
// the accumulator, so it runs once per bit width, at its data-type P (the
// widest data-type bound of its hidden layers, docs/MATH.md, “Data-type
// bound”), and reports the P its weights actually need. With any
// post-training method the baseline also gets one post-training point,
// of method RTN: recipe.Quantize rounds only accumulator-aware layers, so
// for the baseline RTN, GPTQ and GPFQ are the same model (its quantizer's
// own rounding at the calibrated scales), the plain reference the
// accumulator-aware methods are compared with.
//
// # Files
//
// Under the sweep directory DIR:
//
//	DIR/sweep.json              the recipe (model, data, epochs, learning rates, seed, calibration size)
//	DIR/float/model.ckpt        the float model; DIR/float/result.json its score
//	DIR/points/<id>/model.ckpt  a point's quantized model (QAT: resumable)
//	DIR/points/<id>/result.json a point's Result; its presence marks the point done
//	DIR/results.json, .csv      one row per point (see Result)
//	DIR/*.png                   the plots (see WritePlots)
//
// A killed sweep resumes: finished points are skipped, unfinished QAT
// points resume from their last checkpoint and unfinished post-training
// points run again. Points are independent, so they can run as separate
// processes sharing DIR (RunPoint, then Merge).
//
// # Conventions
//
// Scores are test accuracy in [0, 1] for classifiers and mean PSNR in dB for
// super-resolution. A point's inference speed is the integer engine's on
// one thread, timed for Options.InferTime per plan after the point is
// trained: a rate measured while other points train (Options.Parallel > 1)
// is lower, but its ratio to the dense plan, timed alternately with it,
// holds. The certified P of a layer is its exact accumulator
// width (accum.Certificate.NeededBits: the inner width of a tiled layer);
// a point's certified P is the largest over its hidden (constrained)
// layers. Sparsity and compression
// rate cover the hidden layers (report.FromModel). The LUT estimates are
// the totals of the hw command (hw.EstimateModel with hw's default
// folding): FINN's analytical model summed over every layer at its
// certified width and at 32 bits.
//
// Bad input (an unknown model, quantizer or method, a P too small for any
// non-zero weight, a result file that does not decode) returns an error
// naming the point, layer or file.
package sweep

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
)

// Method is how a point's quantized model comes from the float model:
// fine-tuning (QAT) or a post-training rounding method (the names of
// ptq.Method).
type Method string

// The methods, in canonical order.
const (
	QAT  Method = "qat"            // quantization-aware fine-tuning (A2Q, A2Q+, baseline)
	RTN  Method = Method(ptq.RTN)  // recipe.Quantize with ptq.RTN
	GPTQ Method = Method(ptq.GPTQ) // recipe.Quantize with ptq.GPTQ
	GPFQ Method = Method(ptq.GPFQ) // recipe.Quantize with ptq.GPFQ
)

// methods lists the methods in canonical order.
var methods = []Method{QAT, RTN, GPTQ, GPFQ}

// ParseMethod parses a --methods element: "qat" or a ptq.ParseMethod name.
func ParseMethod(s string) (Method, bool) {
	if Method(s) == QAT {
		return QAT, true
	}
	m, ok := ptq.ParseMethod(s)
	return Method(m), ok
}

// PostTraining reports whether m quantizes after training (recipe.Quantize).
func (m Method) PostTraining() bool {
	_, ok := ptq.ParseMethod(string(m))
	return ok
}

// methodRank orders methods in tables; "" (results from before methods)
// is QAT.
func methodRank(m Method) int {
	if m == "" {
		return 0
	}
	if i := slices.Index(methods, m); i >= 0 {
		return i
	}
	return len(methods)
}

// Grid is a sweep: the recipe shared by every point and the lists whose
// product gives the points.
type Grid struct {
	Model string `json:"model"`
	// Data is the --data argument ("" for the embedded default), or a label
	// for data sets given in Options.
	Data string `json:"data"`
	// Quants lists the weight quantizers (baseline, a2q, a2q+).
	Quants []quant.Mode `json:"-"`
	// Bits lists the weight and activation bit widths (M = N).
	Bits []int `json:"-"`
	// AccBits lists the accumulator widths P of the A2Q and A2Q+ points.
	AccBits []int `json:"-"`
	// Methods lists how points are obtained from the float model (QAT,
	// RTN, GPTQ, GPFQ); empty means QAT alone.
	Methods []Method `json:"-"`
	// Epochs of fine-tuning per point, FloatEpochs of float training.
	Epochs      int `json:"epochs"`
	FloatEpochs int `json:"float_epochs"`
	// PlusEpochs, when positive, is the fine-tuning epochs of the A2Q+
	// points instead of Epochs: A2Q+ at low bit widths needs about twice
	// A2Q's fine-tuning to keep as much of float.
	PlusEpochs int `json:"plus_epochs,omitempty"`
	// Batch size; LR the float model's peak learning rate, FineTuneLR the
	// points' (zero selects 1e-3 and 1e-4).
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	FineTuneLR float64 `json:"fine_tune_lr"`
	Seed       uint64  `json:"seed"`
	// Scale is the upscaling factor of super-resolution models (default 2).
	Scale int `json:"scale"`
	// FoldGain folds the gain the projection initialisation takes from
	// each accumulator-aware layer into the next layer
	// (models.FoldProjectionGain). The a2q sweep command sets it unless
	// told --fold-gain=false.
	FoldGain bool `json:"fold_gain,omitempty"`
	// CentreOnData zero-centres each A2Q+ layer on the first
	// models.CentringExamples training examples (quant.Layer.CentreOnInputs)
	// where that reproduces the float model's outputs better than
	// subtracting each channel's mean (models.InitFromFloatWith). The a2q
	// sweep command sets it unless told --centre-on-data=false.
	CentreOnData bool `json:"centre_on_data,omitempty"`
	// FitGain, with FoldGain, fits each accumulator-aware layer's gains
	// and offsets to the float model on the first models.CentringExamples
	// training examples (quant.Layer.FitGain) instead of restoring the L1
	// norm the projection took. The a2q sweep command sets it unless told
	// --fit-gain=false.
	FitGain bool `json:"fit_gain,omitempty"`
	// L1WhereFolds, with FitGain, fits only the layers the L1 gain cannot
	// reach; the others keep it (models.InitOptions.L1WhereFolds). The a2q
	// sweep command sets it unless told --fit-gain-all.
	L1WhereFolds bool `json:"l1_where_folds,omitempty"`
	// CorrectBias corrects the output bias of super-resolution models
	// after their last epoch, float and fine-tuned
	// (train.Options.KeepOutputBias); it is no part of a classifier's
	// recipe. The a2q sweep command sets it unless told
	// --correct-bias=false.
	CorrectBias bool `json:"correct_bias,omitempty"`
	// CalibSize is the number of training examples the post-training
	// points calibrate on (0: recipe.DefaultCalibSize). It is part of the
	// recipe only with a post-training method: a grid of QAT points alone
	// has none.
	CalibSize int `json:"calib_size,omitempty"`
}

// postTraining reports whether the grid has post-training points.
func (g Grid) postTraining() bool {
	return slices.ContainsFunc(g.Methods, Method.PostTraining)
}

// withDefaults fills in zero fields.
func (g Grid) withDefaults() Grid {
	if g.Batch == 0 {
		g.Batch = 128
	}
	if g.LR == 0 {
		g.LR = 1e-3
	}
	if g.FineTuneLR == 0 {
		g.FineTuneLR = 1e-4
	}
	if g.Scale == 0 {
		g.Scale = 2
	}
	// The gain is fitted only where it is given back at all.
	g.FitGain = g.FitGain && g.FoldGain
	g.L1WhereFolds = g.L1WhereFolds && g.FitGain
	if t, _ := models.TaskOf(g.Model); t != models.SuperResolve {
		g.CorrectBias = false
	}
	switch {
	case !g.postTraining():
		g.CalibSize = 0
	case g.CalibSize == 0:
		g.CalibSize = recipe.DefaultCalibSize
	}
	return g
}

// Point is one grid point.
type Point struct {
	ID         string     `json:"id"`
	Method     Method     `json:"method"`
	Quant      quant.Mode `json:"quant"`
	WeightBits int        `json:"weight_bits"`
	ActBits    int        `json:"act_bits"`
	// AccBits is the target P; 0 for the baseline, which runs at its
	// data-type P.
	AccBits int `json:"acc_bits"`
}

// FloatID names the float model in RunPoint.
const FloatID = "float"

// PointID returns the identifier of a point: for QAT "a2q-w8a8-p16",
// "a2qplus-w4a4-p13" ("+" is spelled "plus" so that IDs are plain file
// names), "baseline-w8a8"; for a post-training method the same prefixed
// with the method, "gptq-a2qplus-w4a4-p13", "rtn-baseline-w8a8".
func PointID(m Method, q quant.Mode, weightBits, actBits, accBits int) string {
	name := strings.ReplaceAll(string(q), "+", "plus")
	if m.PostTraining() {
		name = string(m) + "-" + name
	}
	if q == quant.Baseline || accBits == 0 {
		return fmt.Sprintf("%s-w%da%d", name, weightBits, actBits)
	}
	return fmt.Sprintf("%s-w%da%d-p%d", name, weightBits, actBits, accBits)
}

// Validate checks the grid's lists and recipe.
func (g Grid) Validate() error {
	if _, ok := models.TaskOf(g.Model); !ok {
		return fmt.Errorf("sweep: unknown model %q (known: %s)", g.Model, strings.Join(models.Names(), ", "))
	}
	if len(g.Quants) == 0 || len(g.Bits) == 0 {
		return fmt.Errorf("sweep: need at least one quantizer and one bit width")
	}
	aware := false
	for _, q := range g.Quants {
		switch q {
		case quant.Baseline:
		case quant.A2Q, quant.A2QPlus:
			aware = true
		default:
			return fmt.Errorf("sweep: quantizer %q: want baseline, a2q or a2q+", q)
		}
	}
	for _, m := range g.Methods {
		if _, ok := ParseMethod(string(m)); !ok {
			return fmt.Errorf("sweep: method %q: want qat, rtn, gptq or gpfq", m)
		}
	}
	if aware && len(g.AccBits) == 0 {
		return fmt.Errorf("sweep: a2q and a2q+ need at least one accumulator width P")
	}
	for _, b := range g.Bits {
		if b < 2 || b > 16 {
			return fmt.Errorf("sweep: bit width %d outside [2, 16]", b)
		}
	}
	for _, p := range g.AccBits {
		if err := accum.CheckAccBits(p); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	if g.Epochs < 0 || g.FloatEpochs < 0 || g.PlusEpochs < 0 || g.Batch < 0 || g.LR < 0 || g.FineTuneLR < 0 || g.Scale < 0 || g.CalibSize < 0 {
		return fmt.Errorf("sweep: epochs, batch, learning rates, scale and calibration size must not be negative")
	}
	return nil
}

// epochs returns the fine-tuning epochs of a QAT point of quantizer q.
func (g Grid) epochs(q quant.Mode) int {
	if q == quant.A2QPlus && g.PlusEpochs > 0 {
		return g.PlusEpochs
	}
	return g.Epochs
}

// Points lists the grid's points in canonical order: quantizer (baseline,
// a2q, a2q+), then bit width, then method (qat, rtn, gptq, gpfq), then P,
// each ascending; duplicates in the lists are dropped. The baseline has one
// post-training point per bit width, of method RTN, if the grid has any
// post-training method (see the package documentation).
func (g Grid) Points() []Point {
	var ps []Point
	seen := map[string]bool{}
	bits := slices.Sorted(slices.Values(g.Bits))
	acc := slices.Sorted(slices.Values(g.AccBits))
	ms := g.Methods
	if len(ms) == 0 {
		ms = []Method{QAT}
	}
	for _, q := range []quant.Mode{quant.Baseline, quant.A2Q, quant.A2QPlus} {
		if !slices.Contains(g.Quants, q) {
			continue
		}
		for _, b := range bits {
			for _, m := range methods {
				use := slices.Contains(ms, m)
				if q == quant.Baseline && m.PostTraining() {
					use = m == RTN && g.postTraining()
				}
				if !use {
					continue
				}
				ps1 := acc
				if q == quant.Baseline {
					ps1 = []int{0}
				}
				for _, p := range ps1 {
					pt := Point{ID: PointID(m, q, b, b, p), Method: m, Quant: q, WeightBits: b, ActBits: b, AccBits: p}
					if !seen[pt.ID] {
						seen[pt.ID] = true
						ps = append(ps, pt)
					}
				}
			}
		}
	}
	return ps
}

// Find returns the grid point with the given ID.
func (g Grid) Find(id string) (Point, bool) {
	for _, p := range g.Points() {
		if p.ID == id {
			return p, true
		}
	}
	return Point{}, false
}

// Result is one row of results.json and results.csv.
type Result struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	// Data is Grid.Data, or the training set's name for the default data.
	Data  string `json:"data"`
	Quant string `json:"quant"`
	// Method is how the point was obtained (qat, rtn, gptq, gpfq); result
	// files from before methods have none, which reads as qat.
	Method     string `json:"method"`
	WeightBits int    `json:"weight_bits"`
	ActBits    int    `json:"act_bits"`
	// AccBits is the target P (the data-type P for the baseline).
	AccBits int `json:"acc_bits"`
	// CertifiedAccBits is the largest exact accumulator width of the hidden
	// layers; Certified reports that it is at most AccBits.
	CertifiedAccBits int  `json:"certified_acc_bits"`
	Certified        bool `json:"certified"`
	// TestAccuracy (classifiers) or TestPSNR (super-resolution, dB).
	TestAccuracy *float64 `json:"test_accuracy"`
	TestPSNR     *float64 `json:"test_psnr"`
	// FloatScore is the float model's score, ShareOfFloat the ratio.
	FloatScore   float64 `json:"float_score"`
	ShareOfFloat float64 `json:"share_of_float"`
	// Sparsity and CompressionRate (M/H(q)) of the hidden layers.
	Sparsity        float64  `json:"sparsity"`
	CompressionRate *float64 `json:"compression_rate"`
	// LUTEstimate and LUTEstimateP32 are hw.EstimateModel's totals: every
	// layer at its certified P, and every layer at P = 32.
	LUTEstimate    float64 `json:"lut_estimate"`
	LUTEstimateP32 float64 `json:"lut_estimate_p32"`
	// Epochs of fine-tuning (0 for a post-training point); CalibSize the
	// calibration examples of a post-training point (0 for QAT).
	Epochs    int `json:"epochs"`
	CalibSize int `json:"calib_size,omitempty"`
	// Seconds is the wall time of the point's training and evaluation (of
	// the last run only, if it was resumed).
	Seconds  float64  `json:"seconds"`
	Warnings []string `json:"warnings,omitempty"`
	// InferImagesPerSec is the integer engine's throughput on the point's
	// model, in images per second: its chosen plan
	// (intinfer.PathPreferred), one thread, batches of InferBatch test
	// images. InferSpeedupVsDense is its ratio to the dense plan
	// (intinfer.PathDense) timed alternately in the same run
	// (bench.InferSpeed). Both are nil for a model without an integer form
	// and in result files from before them.
	InferImagesPerSec   *float64 `json:"infer_images_per_sec"`
	InferSpeedupVsDense *float64 `json:"infer_speedup_vs_dense"`
}

// Score returns the test accuracy or PSNR, NaN if neither is set.
func (r Result) Score() float64 {
	switch {
	case r.TestAccuracy != nil:
		return *r.TestAccuracy
	case r.TestPSNR != nil:
		return *r.TestPSNR
	}
	return math.NaN()
}

// decodeResult parses a result file, naming it in errors.
func decodeResult(b []byte, name string) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("sweep: %s: %w", name, err)
	}
	if r.ID == "" || r.Quant == "" || r.Model == "" {
		return r, fmt.Errorf("sweep: %s: not a point result (no id, quant or model)", name)
	}
	if r.Method == "" {
		r.Method = string(QAT)
	}
	return r, nil
}

// quantRank orders quantizers in tables.
func quantRank(q string) int {
	switch quant.Mode(q) {
	case quant.Baseline:
		return 0
	case quant.A2Q:
		return 1
	case quant.A2QPlus:
		return 2
	}
	return 3
}

// sortResults puts results in canonical order: model, quantizer, bits,
// method, P.
func sortResults(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		if c := quantRank(a.Quant) - quantRank(b.Quant); c != 0 {
			return c
		}
		if c := a.WeightBits - b.WeightBits; c != 0 {
			return c
		}
		if c := a.ActBits - b.ActBits; c != 0 {
			return c
		}
		if c := methodRank(Method(a.Method)) - methodRank(Method(b.Method)); c != 0 {
			return c
		}
		if c := a.AccBits - b.AccBits; c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
