// Package recipe trains a model the way a2q recommends, in one call: build
// the model, start it from float weights (an imported network's, a float
// checkpoint, or a float model it pre-trains itself), initialise the
// quantized layers from them by Euclidean projection, fold the projection's
// gain into the next layer and zero-centre A2Q+ layers on data, train,
// evaluate and certify. The train command and the sweep package both run
// it.
//
// Every stage that trains writes its checkpoint to a directory and resumes
// from it: run the same Options again and training continues where it
// stopped.
package recipe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/report"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

// Default learning rates: LR trains a model from random weights,
// FineTuneLR one started from float weights.
const (
	LR         = 1e-3
	FineTuneLR = 1e-4
)

// FloatDir is the subdirectory of Options.Dir that holds the float model
// the recipe pre-trains.
const FloatDir = "float"

// Options describe one run of the recipe.
type Options struct {
	// Config is the model to train: a zoo model or an imported graph
	// (Config.Graph). Config.Hidden.Mode selects float, baseline, A2Q or
	// A2Q+; Config.Seed draws the initial weights and the batch order.
	Config models.Config
	// Weights, if set, are float weights of Config.Graph to start from (an
	// imported network's, onnx.Network.Weights).
	Weights map[string]*tensor.Tensor
	// InitFrom, if set, is a float checkpoint to start from.
	InitFrom *checkpoint.Checkpoint
	// Float, if set, pre-trains a float model for a quantized Config that
	// has neither Weights nor InitFrom, and starts from it.
	Float *Float

	// FoldGain gives back the gain the projection initialisation takes
	// from each accumulator-aware layer (through the layer's own scale;
	// models.FoldProjectionGain); CentreOnData zero-centres A2Q+ layers on
	// the first models.CentringExamples training examples
	// (models.InitOptions). Both apply only to a model started from float
	// weights. FitGain, with FoldGain, fits each accumulator-aware layer's
	// gains and offsets to the float model on those examples instead
	// (models.InitOptions.FitGainOn); with L1WhereFolds, only the layers
	// the L1 gain cannot reach (models.InitOptions.L1WhereFolds).
	FoldGain, CentreOnData, FitGain, L1WhereFolds bool
	// EarlierInit starts accumulator-aware layers as earlier versions did:
	// the projected float weights kept at the projection's norm and the
	// gain folded into the next layer (models.InitOptions.GainToNextLayer
	// and KeepProjectedNorm). Post-training RTN rounds the stored float
	// weights and needs it.
	EarlierInit bool
	// RestoreNorms, with Weights and an accumulator-aware quantizer,
	// inserts a batch norm after each constrained layer whose projection
	// gain cannot fold into the next layer (models.WithRestoredNorms),
	// set to the float model's statistics on the first
	// models.CentringExamples training examples.
	RestoreNorms bool

	// Train and Test are the data sets (Test may be nil: no score).
	Train, Test *data.Set
	// Epochs of training (0: none, the model is evaluated as initialised).
	Epochs int
	// Batch size (default 128).
	Batch int
	// LR is the peak learning rate; 0 selects FineTuneLR for a model
	// started from float weights and LR otherwise.
	LR float64
	// WeightDecay is train.Options.WeightDecay; Augment train.Options.Augment.
	WeightDecay float64
	Augment     data.Augment
	// Schedule is train.Options.Schedule and RawInput
	// train.Options.RawInput, for every stage. A model trained from its
	// fresh weights has them folded for standardised inputs
	// (train.Options.FreshWeights) unless RawInput.
	Schedule train.Schedule
	RawInput bool
	// Average is train.Options.Average for the main stage (not the float
	// pre-training).
	Average int
	// KeepOutputBias is train.Options.KeepOutputBias, for every stage.
	KeepOutputBias bool
	// Threads (default 1).
	Threads int
	// Dir receives the checkpoint, Dir/model.ckpt, and resumes from it;
	// empty for none. Run holds its lock (fileio.Lock) while it runs.
	Dir string
	// WriteReport writes the report to Dir/report.json (and the float
	// model's to its directory).
	WriteReport bool
	// Progress receives the trainer's progress; Log one line for each
	// stage and for what the initialisation changed. Nil for none.
	Progress, Log io.Writer
}

// Float configures the float pre-training.
type Float struct {
	// Epochs of float training.
	Epochs int
	// LR is its peak learning rate (0: LR).
	LR float64
	// Dir receives the float checkpoint (default Options.Dir/FloatDir,
	// or none without Options.Dir).
	Dir string
}

// Result is a trained model, its score and its report.
type Result struct {
	Model *models.Model
	// Score is the test accuracy (classifiers) or mean PSNR in dB, 0
	// without a test set.
	Score  float64
	Report *report.Model
	// Init says what the initialisation from float weights changed.
	Init models.InitResult
	// Float is the pre-trained float model's result, if one was trained.
	Float *Result
	// ResumedAt is the epoch the training resumed after (0: it started
	// afresh).
	ResumedAt int
}

// A SetupError reports a model or starting weights that do not fit
// together, found before any training.
type SetupError struct {
	// Field names the Options field at fault: "Config", "Weights",
	// "InitFrom" or "Dir" (a checkpoint there of another model, or of the
	// same model that does not load, or a directory another run holds:
	// then Err is a *fileio.LockedError).
	Field string
	Err   error
}

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// FloatConfig returns the float model of cfg: its hidden layers float, its
// first and last layers as a float model has them.
func FloatConfig(cfg models.Config) models.Config {
	cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	cfg.First, cfg.Last = models.DefaultEdge(quant.Float), models.DefaultEdge(quant.Float)
	return cfg
}

// Run runs the recipe o describes. The model is built first, so that a
// configuration that cannot be built (a P too small for a layer) fails
// before any training; such errors, and starting weights that do not fit
// the model, are *SetupError.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Train == nil {
		return nil, errors.New("recipe: no training data")
	}
	if o.Weights != nil && o.InitFrom != nil {
		return nil, &SetupError{"InitFrom", errors.New("both Weights and InitFrom give the starting weights: use one")}
	}
	if o.Epochs < 0 || o.Batch < 0 || o.LR < 0 || o.Float != nil && (o.Float.Epochs < 0 || o.Float.LR < 0) {
		return nil, fmt.Errorf("recipe: epochs, batch size and learning rates must not be negative")
	}
	o.Threads = max(o.Threads, 1)
	if o.Batch == 0 {
		o.Batch = 128
	}
	cfg := o.Config
	var restored []string
	if o.Weights != nil && o.RestoreNorms && cfg.Hidden.Mode.AccumulatorAware() {
		var err error
		if cfg.Graph, restored, err = models.WithRestoredNorms(cfg.Graph); err != nil {
			return nil, &SetupError{"Config", err}
		}
	}
	m, err := models.Build(cfg)
	if err != nil {
		return nil, &SetupError{"Config", err}
	}
	if o.Dir != "" {
		unlock, err := lockDir(o.Dir, o.Log)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	res := &Result{Model: m}
	start, field := o.InitFrom, "InitFrom"
	switch {
	case o.Weights != nil:
		field = "Weights"
		fm, err := models.FloatFromWeights(cfg, o.Weights)
		if err != nil {
			return nil, &SetupError{field, err}
		}
		if start, err = fm.Checkpoint(nil, nil); err != nil {
			return nil, err
		}
	case start == nil && o.Float != nil && cfg.Hidden.Mode != quant.Float:
		if res.Float, err = runFloat(ctx, o); err != nil {
			return nil, err
		}
		if start, err = res.Float.Model.Checkpoint(nil, nil); err != nil {
			return nil, err
		}
		field = "Float"
	}
	lr := o.LR
	if start != nil {
		if res.Init, err = initialise(m, start, restored, o); err != nil {
			if field == "Float" {
				return nil, fmt.Errorf("starting from the float model: %w", err)
			}
			return nil, &SetupError{field, err}
		}
		if lr == 0 {
			lr = FineTuneLR
		}
	}
	if lr == 0 {
		lr = LR
	}
	tr, err := train.New(m, train.Options{Epochs: o.Epochs, Batch: o.Batch, LR: lr, WeightDecay: o.WeightDecay,
		Threads: o.Threads, Seed: cfg.Seed, Dir: o.Dir, Progress: o.Progress, Augment: o.Augment,
		Schedule: o.Schedule, RawInput: o.RawInput, FreshWeights: start == nil, Average: o.Average, KeepOutputBias: o.KeepOutputBias})
	if err != nil {
		return nil, &SetupError{"Dir", err}
	}
	switch res.ResumedAt = tr.State.Epoch; {
	case res.ResumedAt >= o.Epochs && res.ResumedAt > 0:
		logf(o.Log, "%s has its %d epoch(s) already", tr.CheckpointPath(), res.ResumedAt)
	case res.ResumedAt > 0:
		logf(o.Log, "resuming %s after epoch %d", tr.CheckpointPath(), res.ResumedAt)
	}
	if err := tr.Run(ctx, o.Train, o.Test); err != nil {
		return nil, err
	}
	if res.Report, res.Score, err = evaluate(ctx, m, o.Test, o.Threads); err != nil {
		return nil, err
	}
	if o.WriteReport && o.Dir != "" {
		if err := writeReport(o.Dir, res.Report); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// evaluate builds m's report and, with a test set, scores m on it: the
// score in the report, its warnings (chance level; for super-resolution,
// against a flat image and bicubic upscaling) and returned.
func evaluate(ctx context.Context, m *models.Model, test *data.Set, threads int) (*report.Model, float64, error) {
	rep, err := report.FromModel(m, 0)
	if err != nil || test == nil {
		return rep, 0, err
	}
	score, err := train.Evaluate(ctx, m, test, threads)
	if err != nil {
		return nil, 0, err
	}
	rep.SetScore(m, score)
	if m.Task == models.SuperResolve {
		if flat, bicubic, err := train.SRBaselines(test); err == nil {
			rep.CompareSR(flat, bicubic)
		}
	}
	return rep, score, nil
}

// writeReport writes rep as DIR/report.json.
func writeReport(dir string, rep *report.Model) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return fileio.WriteAtomic(filepath.Join(dir, "report.json"), append(b, '\n'))
}

// lockDir takes the lock of dir for this run and removes the temporary
// files a killed run left there. Another run holding dir is a *SetupError.
func lockDir(dir string, log io.Writer) (unlock func() error, err error) {
	unlock, err = fileio.Lock(dir)
	if le := (*fileio.LockedError)(nil); errors.As(err, &le) {
		return nil, &SetupError{"Dir", err}
	}
	if err != nil {
		return nil, err
	}
	removed, err := fileio.RemoveOrphans(dir)
	if len(removed) > 0 {
		logf(log, "removed %s in %s, left by an interrupted run", strings.Join(removed, ", "), dir)
	}
	if err != nil {
		logf(log, "warning: %v", err)
	}
	return unlock, nil
}

// runFloat pre-trains the float model of o.Config.
func runFloat(ctx context.Context, o Options) (*Result, error) {
	f := o.Float
	fo := o
	fo.Config, fo.Float, fo.Epochs, fo.LR, fo.Dir = FloatConfig(o.Config), nil, f.Epochs, f.LR, f.Dir
	fo.Average = 0 // the main stage's
	if fo.LR == 0 {
		fo.LR = LR
	}
	if fo.Dir == "" && o.Dir != "" {
		fo.Dir = filepath.Join(o.Dir, FloatDir)
	}
	where := ""
	if fo.Dir != "" {
		where = " into " + fo.Dir
	}
	logf(o.Log, "float pre-training: %d epoch(s)%s", f.Epochs, where)
	r, err := Run(ctx, fo)
	if err != nil {
		return nil, fmt.Errorf("float pre-training: %w", err)
	}
	if o.Test != nil {
		logf(o.Log, "float model: test %s %.4f; fine-tuning the %s model from it", train.ScoreName(r.Model.Task), r.Score, o.Config.Hidden.Mode)
	}
	return r, nil
}

// initialise starts m from the float checkpoint start with the refinements
// o asks for, and logs what they changed.
func initialise(m *models.Model, start *checkpoint.Checkpoint, restored []string, o Options) (models.InitResult, error) {
	opt := models.InitOptions{FoldGain: o.FoldGain, Threads: o.Threads,
		GainToNextLayer: o.EarlierInit, KeepProjectedNorm: o.EarlierInit}
	var examples *tensor.Tensor
	if o.CentreOnData || o.FitGain || len(restored) > 0 {
		examples = train.FirstInputs(o.Train, models.CentringExamples)
	}
	if o.CentreOnData {
		opt.CentreOn = examples
	}
	if o.FitGain {
		opt.FitGainOn, opt.L1WhereFolds = examples, o.L1WhereFolds
	}
	if len(restored) > 0 {
		opt.RestoredNorms, opt.NormsOn = restored, examples
	}
	r, err := models.InitFromCheckpoint(m, start, opt)
	if err != nil {
		return r, err
	}
	if r.Centred > 0 {
		logf(o.Log, "zero-centred %d A2Q+ layer(s) on %d training examples (plain mean subtraction kept in %d of %d channels)",
			r.Centred, opt.CentreOn.Shape[0], r.PlainChannels, r.Channels)
	}
	if r.PlainLayers > 0 {
		logf(o.Log, "kept the plain mean subtraction in %d A2Q+ layer(s): it reproduces the float model's outputs better there", r.PlainLayers)
	}
	if r.Fitted > 0 {
		logf(o.Log, "fitted each channel's gain and offset of %d layer(s) to the float model on %d training examples", r.Fitted, opt.FitGainOn.Shape[0])
	}
	if r.Folded > 0 {
		where := "its own scale"
		if o.EarlierInit {
			where = "the next layer"
		}
		logf(o.Log, "gave the projection gain of %d layer(s) back through %s", r.Folded, where)
	}
	if r.Restored > 0 {
		logf(o.Log, "inserted %d batch norm(s) where the projection gain cannot fold (%s), set to the float model's statistics", r.Restored, strings.Join(restored, ", "))
	}
	return r, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
