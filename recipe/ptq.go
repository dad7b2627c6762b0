package recipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
	"github.com/a2qtoolkit/a2q/train"
)

// DefaultCalibSize is how many calibration examples Quantize uses unless
// told otherwise.
const DefaultCalibSize = 512

// maxStatRows caps the dot-product input rows one layer's statistics
// sample from the calibration data (per group).
const maxStatRows = 8192

// PTQOptions describe one post-training quantization.
type PTQOptions struct {
	// Float is the float model: a float checkpoint, or an imported
	// network's (models.FloatFromWeights, then Model.Checkpoint).
	Float *checkpoint.Checkpoint
	// Hidden, First and Last configure the quantized model's layers, as
	// models.Config's fields do; the rest of the configuration is Float's.
	Hidden, First, Last quant.LayerConfig
	// Method rounds the accumulator-aware layers' weights; Options tune it.
	Method  ptq.Method
	Options ptq.Options
	// Calib holds the calibration data, of which CalibSize examples
	// (default DefaultCalibSize) spread over the set are used; Test, if
	// set, scores the result.
	Calib, Test *data.Set
	CalibSize   int
	// Threads (default 1).
	Threads int
	// Dir receives Dir/model.ckpt and, with WriteReport, Dir/report.json;
	// empty for none. Quantize holds its lock while it runs.
	Dir         string
	WriteReport bool
	// NoCorrection skips the batch-norm re-estimation after GPTQ or GPFQ
	// round a layer that a batch norm alone reads (correctOutputs: each
	// channel's mean and spread matched to the float model's on the
	// calibration data, by a gain on its scale and an offset in its bias
	// or the norm's running mean). RTN, the baseline the accumulator-aware
	// methods are measured against, is never corrected.
	NoCorrection bool
	// Log receives one line per stage and per layer; nil for none.
	Log io.Writer
}

// PTQResult is a model quantized after training.
type PTQResult struct {
	Result
	// FloatScore is the float model's score on Test (0 without one).
	FloatScore float64
	// Quantized names the layers whose integers Method chose (the
	// accumulator-aware ones); the others keep their quantizer's rounding.
	Quantized []string
	// Corrected names the layers whose outputs were matched to the float
	// model's for the batch norm that reads them (see NoCorrection).
	Corrected []string
}

// Quantize quantizes the float model o.Float after training: it builds the
// quantized model, starts it from the float weights as Run does
// (projection initialisation, gain folding, A2Q+ centring on the
// calibration data), calibrates the activation scales on the calibration
// data, then rounds the weights of each accumulator-aware layer in network
// order with o.Method, within the layer's accumulator budget, on the inputs
// the layers before it (already rounded) produce. A float model that is in
// fact quantized, a configuration that cannot be built and calibration
// data that do not fit the model are *SetupError (Field "Float", "Config",
// "Calib", or "Dir").
func Quantize(ctx context.Context, o PTQOptions) (*PTQResult, error) {
	start := time.Now()
	if o.Float == nil {
		return nil, &SetupError{"Float", errors.New("no float model")}
	}
	if o.Calib == nil {
		return nil, &SetupError{"Calib", errors.New("no calibration data")}
	}
	if _, ok := ptq.ParseMethod(string(o.Method)); !ok {
		return nil, &SetupError{"Config", fmt.Errorf("unknown method %q (want rtn, gptq or gpfq)", o.Method)}
	}
	if o.CalibSize < 0 {
		return nil, &SetupError{"Calib", fmt.Errorf("calibration size %d is negative", o.CalibSize)}
	}
	if o.CalibSize == 0 {
		o.CalibSize = DefaultCalibSize
	}
	o.Threads = max(o.Threads, 1)
	fm, err := models.FromCheckpoint(o.Float)
	if err != nil {
		return nil, &SetupError{"Float", err}
	}
	for _, l := range fm.Layers {
		if l.W != nil || l.In != nil {
			return nil, &SetupError{"Float", fmt.Errorf("the model is already quantized (%s layers, layer %s): post-training quantization starts from a float model", fm.Config.Hidden.Mode, l.Name)}
		}
	}
	cfg := fm.Config
	cfg.Hidden, cfg.First, cfg.Last = o.Hidden, o.First, o.Last
	if cfg.Hidden.Mode == quant.Float {
		return nil, &SetupError{"Config", errors.New("post-training quantization needs a quantizer (baseline, a2q or a2q+), not float")}
	}
	m, err := models.Build(cfg)
	if err != nil {
		return nil, &SetupError{"Config", err}
	}
	c := o.Calib
	if c.C != cfg.InC || c.H != cfg.InH || c.W != cfg.InW {
		return nil, &SetupError{"Calib", fmt.Errorf("calibration examples are %d×%d×%d (C×H×W), the model takes %d×%d×%d", c.C, c.H, c.W, cfg.InC, cfg.InH, cfg.InW)}
	}
	if c.N == 0 {
		return nil, &SetupError{"Calib", errors.New("no calibration examples")}
	}
	if o.Test != nil && (o.Test.C != cfg.InC || o.Test.H != cfg.InH || o.Test.W != cfg.InW) {
		return nil, &SetupError{"Calib", fmt.Errorf("test examples are %d×%d×%d (C×H×W), the model takes %d×%d×%d", o.Test.C, o.Test.H, o.Test.W, cfg.InC, cfg.InH, cfg.InW)}
	}
	if o.Dir != "" {
		unlock, err := lockDir(o.Dir, o.Log)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	calib := c.Spread(o.CalibSize)
	res := &PTQResult{Result: Result{Model: m}}
	// The projection's gain is folded into the next layer for RTN, which is
	// the projection and rounds the float weights the initialisation
	// stores (so it takes the earlier initialisation, which keeps them at
	// the projection's norm); GPTQ and GPFQ fit each layer's outputs
	// themselves, then correctOutputs re-estimates the batch norms after
	// them.
	fold := o.Method == ptq.RTN
	if res.Init, err = initialise(m, o.Float, nil, Options{FoldGain: fold, EarlierInit: fold, CentreOnData: true, Train: calib, Threads: o.Threads, Log: o.Log}); err != nil {
		return nil, &SetupError{"Float", err}
	}
	x := train.FirstInputs(calib, calib.N)
	logf(o.Log, "calibrating activation scales on %d examples", x.Shape[0])
	if err := forChunks(ctx, m, nil, x, o.Threads); err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if l.W == nil || !l.W.Mode.AccumulatorAware() {
			continue
		}
		t0 := time.Now()
		if err := quantizeLayer(ctx, m, fm, i, x, o); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Name, err)
		}
		res.Quantized = append(res.Quantized, l.Name)
		if o.Method != ptq.RTN && !o.NoCorrection {
			kept, err := correctOutputs(ctx, m, fm, i, x, o.Threads)
			if err != nil {
				return nil, fmt.Errorf("layer %s: output correction: %w", l.Name, err)
			}
			if kept {
				res.Corrected = append(res.Corrected, l.Name)
			}
		}
		// The layers after this one now see its rounded outputs: their
		// input quantizers calibrate again on them, on the next pass over
		// the calibration data (the next layer's statistics, or the pass
		// below). Quantizers only calibrate when marked, on a pass's first
		// chunk, and rounding a layer does not change what the layers
		// before it produce, so one pass serves them all.
		recalibrateAfter(m, i)
		logf(o.Log, "layer %s: %s, %d channels of K = %d, budget T = %.4g (%s)", l.Name, o.Method, l.OutC, l.K(), l.W.Budget(), time.Since(t0).Round(time.Millisecond))
	}
	if err := forChunks(ctx, m, nil, x, o.Threads); err != nil {
		return nil, err
	}
	if res.Report, res.Score, err = evaluate(ctx, m, o.Test, o.Threads); err != nil {
		return nil, err
	}
	if o.Test != nil {
		if res.FloatScore, err = train.Evaluate(ctx, fm, o.Test, o.Threads); err != nil {
			return nil, err
		}
		logf(o.Log, "test %s %.4f (float %.4f)", train.ScoreName(m.Task), res.Score, res.FloatScore)
	}
	if o.Dir != "" {
		ck, err := m.Checkpoint(map[string]string{"ptq_method": string(o.Method)}, nil)
		if err != nil {
			return nil, err
		}
		if err := checkpoint.Save(filepath.Join(o.Dir, "model.ckpt"), ck); err != nil {
			return nil, err
		}
		if o.WriteReport {
			if err := writeReport(o.Dir, res.Report); err != nil {
				return nil, err
			}
		}
	}
	if len(res.Corrected) > 0 {
		logf(o.Log, "batch norms re-estimated after %d layer(s): %s", len(res.Corrected), strings.Join(res.Corrected, ", "))
	}
	logf(o.Log, "quantized %d layer(s) with %s in %s", len(res.Quantized), o.Method, time.Since(start).Round(time.Millisecond))
	return res, nil
}

// recalibrateAfter marks the activation quantizers that read layer i's
// outputs, directly or further on (the input quantizers of the layers after
// it and the model's grid quantizers), for calibration on the next forward
// pass. Grid quantizers before the layer calibrate again to the same scale,
// their inputs being unchanged.
func recalibrateAfter(m *models.Model, i int) {
	for _, l := range m.Layers[i+1:] {
		if l.In != nil {
			l.In.Calibrated.Value.Data[0] = 0
		}
	}
	for _, q := range m.Grids {
		q.Calibrated.Value.Data[0] = 0
	}
}

// forChunks runs m and, if fm is not nil, fm in evaluation mode on x, 256
// examples at a time: the layers' Observe hooks see each chunk from both
// models before the next one.
func forChunks(ctx context.Context, m, fm *models.Model, x *tensor.Tensor, threads int) error {
	tp := autodiff.NewTape(threads)
	n := x.Shape[0]
	per := x.Len() / n
	for lo := 0; lo < n; lo += 256 {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+256)
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		for _, mm := range []*models.Model{m, fm} {
			if mm == nil {
				continue
			}
			mm.Forward(tp, tp.Constant(tensor.FromData(x.Data[lo*per:hi*per], shape...)), false)
			tp.Reset()
		}
	}
	return nil
}

// quantizeLayer rounds the weights of m.Layers[i] with o.Method and writes
// the integers into its weight quantizer.
func quantizeLayer(ctx context.Context, m, fm *models.Model, i int, x *tensor.Tensor, o PTQOptions) error {
	l := m.Layers[i]
	w := l.W
	groups := 1
	if l.Kind == "conv" {
		groups = max(l.Options.Groups, 1)
	}
	var stats []*ptq.Stats
	if o.Method != ptq.RTN {
		var err error
		if stats, err = layerStats(ctx, m, fm, i, x, o); err != nil {
			return err
		}
	}
	_, log2s0 := w.Integers()
	// RTN rounds the projected weights the initialisation left in the
	// quantizer; GPTQ and GPFQ start from the float model's weights, before
	// any projection, with the scale the initialisation gives them
	// (max|w|/qmax per channel, after centring for A2Q+).
	v := slices.Clone(w.V.Value.Data)
	if o.Method != ptq.RTN {
		v = fm.Layers[i].Weight.Value.Data
	}
	if w.Mode != quant.A2QPlus {
		return roundLayer(l, fm.Layers[i], v, slices.Clone(log2s0), groups, stats, false, o)
	}
	// A2Q+'s quantizer holds integers whose sum (per channel or tile) is
	// near zero, not only exactly zero: round without forcing the sum first,
	// which costs less accuracy (at 4 bits, 0.848 against 0.866 on the CNN),
	// and balance exactly only if the quantizer cannot hold the result.
	if err := roundLayer(l, fm.Layers[i], v, slices.Clone(log2s0), groups, stats, false, o); err == nil {
		return nil
	}
	return roundLayer(l, fm.Layers[i], v, slices.Clone(log2s0), groups, stats, true, o)
}

// roundLayer rounds layer l's weights v (group by group, with the scales
// log2s to start from; stats nil for RTN) under its budget, A2Q+'s integers
// summing exactly to zero with balanced, and writes them into l's
// quantizer.
func roundLayer(l, fl *quant.Layer, v []float32, log2s []float32, groups int, stats []*ptq.Stats, balanced bool, o PTQOptions) error {
	w := l.W
	cout, k := w.Channels()
	per := cout / groups
	q := make([]int32, 0, cout*k)
	for g := 0; g < groups; g++ {
		pl := ptq.Layer{Name: l.Name, OutC: per, K: k, Bits: w.Bits, W: make([]float32, per*k), Scale: make([]float32, per)}
		if groups > 1 {
			pl.Name = fmt.Sprintf("%s group %d", l.Name, g)
		}
		var dirs *centring
		if w.Mode == quant.A2QPlus && o.Method != ptq.RTN {
			dirs = newCentring(stats[g], w.Tile())
		}
		for c := 0; c < per; c++ {
			src := v[(g*per+c)*k : (g*per+c+1)*k]
			dst := pl.W[c*k : (c+1)*k]
			copy(dst, src)
			if w.Mode == quant.A2QPlus {
				centre(dst, src, l, fl, g*per+c, dirs)
			}
			pl.Scale[c] = quant.Exp2(log2s[g*per+c])
		}
		// The budgets the layer's quantizer can hold exactly (SetIntegers).
		switch l1, half := w.SettableBudget(); w.Mode {
		case quant.A2Q:
			pl.Budget = ptq.Budget{L1: l1, Tile: w.Tile()}
		case quant.A2QPlus:
			pl.Budget = ptq.Budget{Half: half, Balanced: balanced, Tile: w.Tile()}
		}
		var (
			qg  []int32
			err error
		)
		if stats == nil {
			qg, err = ptq.Quantize(pl, o.Method, nil, o.Options)
		} else {
			// GPTQ and GPFQ fit the layer's outputs, at the scales whose
			// rounding fits them best under the budget.
			qg, err = ptq.SearchScales(&pl, o.Method, stats[g], o.Options)
			for c, s := range pl.Scale {
				log2s[g*per+c] = float32(math.Log2(float64(s)))
			}
		}
		if err != nil {
			return err
		}
		q = append(q, qg...)
	}
	return w.SetIntegers(q, log2s)
}

// centring is how GPTQ and GPFQ zero-centre an A2Q+ layer's float weights
// (the quantizer only holds zero-sum channels): along the direction z =
// (Σ + ρ·tr(Σ)/K·I)⁻¹·1 of quant.CentringDirection, with Σ the covariance
// of the layer's calibration inputs, which changes the layer's output least;
// the mean of what it changes moves into the bias.
type centring struct {
	c    *quant.Centring
	mean []float64 // the inputs' means
}

// centringRidge is the ρ of the centring direction.
const centringRidge = 1

func newCentring(st *ptq.Stats, tile int) *centring {
	k, n := st.K, float64(st.Rows)
	m := make([]float64, k)
	for i, v := range st.Sum {
		m[i] = v / n
	}
	cov := mat.NewSymDense(k, nil)
	var tr float64
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			cov.SetSym(i, j, st.H[i*k+j]/n-m[i]*m[j])
		}
		tr += cov.At(i, i)
	}
	c := quant.NewCentring(cov, tr, centringRidge, tile)
	if c == nil {
		c = quant.PlainCentring(k, tile)
	}
	return &centring{c: c, mean: m}
}

// centre writes into dst the zero-sum channel c of an A2Q+ layer l from its
// weights src (zero-sum in every tile, for a tiled layer): for RTN (cz nil)
// what the quantizer itself rounds (src less its mean, or each tile's: the
// initialisation has centred and projected it); for GPTQ and GPFQ (src the
// float model's weights) src less the correction of quant.Centring, and l's
// bias becomes the float layer fl's plus the mean of the change.
func centre(dst, src []float32, l, fl *quant.Layer, c int, cz *centring) {
	if cz == nil {
		if tile := l.W.Tile(); tile > 0 {
			// The initialisation centred each tile already.
			quant.PlainCentring(len(src), tile).Centre(dst, src, nil)
			return
		}
		var mu float64
		for _, a := range src {
			mu += float64(a)
		}
		mu /= float64(len(src))
		for j, a := range src {
			dst[j] = a - float32(mu)
		}
		return
	}
	db := cz.c.Centre(dst, src, cz.mean)
	if l.Bias != nil && fl.Bias != nil {
		l.Bias.Value.Data[c] = fl.Bias.Value.Data[c] + float32(db)
	}
}

// layerStats accumulates the statistics of m.Layers[i]'s dot-product
// inputs on x: the inputs the (partly rounded) quantized model feeds it,
// after its input quantizer, and for GPFQ the float model fm's inputs to
// the same layer.
func layerStats(ctx context.Context, m, fm *models.Model, i int, x *tensor.Tensor, o PTQOptions) ([]*ptq.Stats, error) {
	l := m.Layers[i]
	if l.Kind == "conv_transpose" {
		return nil, fmt.Errorf("%s needs input statistics, not yet gathered for transposed convolutions (use rtn)", o.Method)
	}
	groups := 1
	if l.Kind == "conv" {
		groups = max(l.Options.Groups, 1)
	}
	k := l.K()
	stats := make([]*ptq.Stats, groups)
	for g := range stats {
		stats[g] = ptq.NewStats(k)
	}
	chunks := (x.Shape[0] + 255) / 256
	var qx, fx *tensor.Tensor
	l.Observe = func(t *tensor.Tensor) { qx = t.Clone() }
	defer func() { l.Observe = nil }()
	var fl *quant.Layer
	if o.Method == ptq.GPFQ {
		fl = fm.Layers[i]
		fl.Observe = func(t *tensor.Tensor) { fx = t.Clone() }
		defer func() { fl.Observe = nil }()
	} else {
		fm = nil
	}
	tp := autodiff.NewTape(o.Threads)
	n := x.Shape[0]
	per := x.Len() / n
	for lo := 0; lo < n; lo += 256 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(n, lo+256)
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		in := tensor.FromData(x.Data[lo*per:hi*per], shape...)
		m.Forward(tp, tp.Constant(in), false)
		tp.Reset()
		if fm != nil {
			fm.Forward(tp, tp.Constant(in), false)
			tp.Reset()
		}
		// The layer multiplies the quantized input s·x_int.
		s := l.In.Scale()
		lo8, hi8 := l.In.Range()
		for j, a := range qx.Data {
			qx.Data[j] = thresh.Quantize(a, s, lo8, hi8) * s
		}
		if err := addRows(stats, l, qx, fx, chunks); err != nil {
			return nil, err
		}
	}
	return stats, nil
}

// addRows adds the dot-product rows of one chunk of inputs (and of the
// float model's, if xf is not nil) to stats, sampling at most
// maxStatRows/chunks rows per group.
func addRows(stats []*ptq.Stats, l *quant.Layer, x, xf *tensor.Tensor, chunks int) error {
	k := l.K()
	limit := max(1, maxStatRows/chunks)
	if l.Kind != "conv" {
		rows := x.Shape[0]
		stride := max(1, (rows+limit-1)/limit)
		sel, self := sampleRowsFrom(x.Data, k, rows, stride, 0), []float32(nil)
		if xf != nil {
			self = sampleRowsFrom(xf.Data, k, rows, stride, 0)
		}
		return stats[0].Add(sel, self, len(sel)/k)
	}
	if len(x.Shape) != 4 {
		return fmt.Errorf("want an NHWC input, got shape %v", x.Shape)
	}
	g := tensor.ConvGeom{N: x.Shape[0], H: x.Shape[1], W: x.Shape[2], C: x.Shape[3], KH: l.Kernel, KW: l.Kernel,
		Stride: l.Options.Stride, Pad: l.Options.Pad, Groups: l.Options.Groups, Cout: l.OutC}
	if err := g.Validate(); err != nil || g.KPerGroup != k {
		return fmt.Errorf("input of shape %v does not fit K = %d", x.Shape, k)
	}
	perImg := g.OH * g.OW
	stride := max(1, (g.N*perImg+limit-1)/limit)
	one := g
	one.N = 1
	col := make([]float32, perImg*k)
	colf := make([]float32, perImg*k)
	img := g.H * g.W * g.C
	for n := 0; n < g.N; n++ {
		for grp := range stats {
			tensor.Im2col(1, &one, x.Data[n*img:(n+1)*img], grp, col)
			sel := sampleRowsFrom(col, k, perImg, stride, n*perImg)
			var self []float32
			if xf != nil {
				tensor.Im2col(1, &one, xf.Data[n*img:(n+1)*img], grp, colf)
				self = sampleRowsFrom(colf, k, perImg, stride, n*perImg)
			}
			if err := stats[grp].Add(sel, self, len(sel)/k); err != nil {
				return err
			}
		}
	}
	return nil
}

// sampleRowsFrom returns the rows r of x (rows×k) whose index first+r is
// a multiple of stride.
func sampleRowsFrom(x []float32, k, rows, stride, first int) []float32 {
	out := make([]float32, 0, (rows/stride+1)*k)
	for r := 0; r < rows; r++ {
		if (first+r)%stride == 0 {
			out = append(out, x[r*k:(r+1)*k]...)
		}
	}
	return out
}
