package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/onnx"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
	"github.com/a2qtoolkit/a2q/report"
	"github.com/a2qtoolkit/a2q/train"
)

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "train", "--model M [--data D] [--quant float|baseline|a2q|a2q+] [--acc-bits P] [--init-from CKPT] --out DIR\n\n"+
		"A quantized model trained without --init-from (or an ONNX --model) starts from a float model that train\n"+
		"pre-trains first into DIR/float (--float-epochs), by projection initialisation: the recipe of a2q sweep.\n"+
		"--from-scratch trains it from random weights instead.")
	model := fs.String("model", "cnn", "model: one of "+fmt.Sprint(models.Names())+", or a float ONNX file (NAME.onnx) to start from its weights")
	dataSpec := fs.String("data", "", "data: empty for the embedded Fashion-MNIST subset, a directory of IDX files or CIFAR-10 batches, or 'fashion-mnist' for Debian's dataset-fashion-mnist. "+
		"Super-resolution (espcn): empty for the embedded photographs; '"+data.WallpapersName+"' for the "+fmt.Sprint(len(data.WallpaperPhotos()))+" photographs of Debian's "+strings.Join(data.WallpaperPackages(), ", ")+" (a quarter of each package's photographs held out for testing); "+
		"or a directory of PNG and JPEG photographs, with train/ and test/ subdirectories or else split by a hash of the file names, a quarter held out for testing. "+
		"Photographs are first shrunk by block averaging to at most "+fmt.Sprint(data.DefaultMaxSide)+" pixels on their longer side; an unreadable image, or one smaller than a crop, is an error naming it (no file is skipped)")
	epochs := fs.Int("epochs", 3, "training epochs")
	floatEpochs := fs.Int("float-epochs", -1, "epochs of the float pre-training of a quantized model trained without --init-from (-1: as many as --epochs)")
	floatLR := fs.Float64("float-lr", recipe.LR, "peak learning rate of the float pre-training")
	scratch := fs.Bool("from-scratch", false, "train a quantized model from random weights, without float pre-training")
	wbits := fs.Int("weight-bits", 8, "weight bits M of the hidden layers")
	abits := fs.Int("act-bits", 8, "activation bits N of the hidden layers' inputs")
	pbits := fs.Int("acc-bits", 16, "accumulator bits P of the hidden layers")
	mode := fs.String("quant", "a2q+", "weight quantizer: float, baseline, a2q or a2q+")
	initFrom := fs.String("init-from", "", "float checkpoint to start from instead of pre-training one (A2Q/A2Q+ use Euclidean-projection init)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output directory (required)")
	batch := fs.Int("batch", 128, "batch size")
	lr := fs.Float64("lr", 0, "peak learning rate (default 1e-3 from random weights, 1e-4 from float weights: --init-from, an ONNX --model or the float pre-training)")
	wd := fs.Float64("weight-decay", 0, "decoupled weight decay (never on biases, g, s)")
	schedule := fs.String("schedule", string(train.DefaultSchedule), "learning-rate schedule: flat-cosine (the peak for the first 3/4 of the run, then a cosine down to 1/100 of it), cosine (from the peak to 1/100 over the whole run) or constant")
	average := fs.Int("average", 0, "leave the mean of the weights at the ends of the last N epochs instead of the last epoch's (stochastic weight averaging; batch-norm statistics recomputed for it; 0: none)")
	correctBias := fs.Bool("correct-bias", true, fmt.Sprintf("super-resolution models: after the last epoch, shift the output layer's bias by each output channel's mean residual over the first %d training examples, kept if it lowers their mean squared error (--correct-bias=false to opt out)", train.BiasExamples))
	standardise := fs.Bool("standardise-input", true, "classifiers: step the layers that read the image as if it were standardised (each channel's training mean and std), and start fresh weights as drawn for standardised inputs; the model still reads [0, 1] pixels (--standardise-input=false to opt out)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	scale := fs.Int("scale", 2, "upscaling factor for super-resolution models")
	foldGain := fs.Bool("fold-gain", true, "starting from float weights: give each accumulator-aware layer back the gain the projection takes from it, through its own scale (--fold-gain=false to opt out)")
	fitGain := fs.Bool("fit-gain", true, "with --fold-gain: fit the gain and offset of each channel of the accumulator-aware layers the L1 gain cannot reach (not followed by another layer through ReLU and pooling) to the float model's channel on the first 1,024 training examples; the others get the L1 gain (--fit-gain=false: the L1 gain only)")
	fitAll := fs.Bool("fit-gain-all", false, "with --fit-gain: fit every accumulator-aware layer, also those the L1 gain reaches")
	centre := fs.Bool("centre-on-data", true, "starting from float weights: zero-centre each A2Q+ layer on the first 1,024 training examples, where that reproduces the float model's outputs better than subtracting each channel's mean (--centre-on-data=false to opt out)")
	restoreNorms := fs.Bool("restore-norms", true, "with an ONNX --model and --quant a2q or a2q+: insert a batch norm after each constrained layer whose projection gain cannot fold into the next layer (residual sums, clips), initialised on the first 1,024 training examples to the float model's statistics (--restore-norms=false to opt out)")
	augment := fs.Bool("augment", false, "random crops (4-pixel padding) and horizontal flips of training images (for CIFAR-10)")
	edgeQuant := fs.String("edge-quant", "baseline", "quantizer of the first and last layers (with a quantized --quant)")
	edgeBits := fs.Int("edge-bits", 8, "weight and activation bits of the first and last layers")
	edgeAcc := fs.Int("edge-acc-bits", 32, "accumulator bits of the first and last layers")
	tile := fs.Int("tile", 0, "multi-stage accumulation: sum the hidden layers' dot products in tiles of T terms, each in a P-bit inner accumulator (A2Q/A2Q+ budget each tile)")
	edgeTile := fs.Int("edge-tile", 0, "tile size T of the first and last layers (as --tile)")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	qm, ok := quant.ParseMode(*mode)
	if !ok {
		return usagef("--quant %q: want float, baseline, a2q or a2q+", *mode)
	}
	if err := checkAccBitsFlag("--acc-bits", *pbits, false); err != nil {
		return err
	}
	if err := checkAccBitsFlag("--edge-acc-bits", *edgeAcc, false); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range []struct {
		name   string
		v, min int
	}{{"--epochs", *epochs, 0}, {"--batch", *batch, 1}, {"--threads", *threads, 1}} {
		if f.v < f.min {
			return usagef("%s %d: want %d or more", f.name, f.v, f.min)
		}
	}
	if err := checkTileFlags(set, *tile, *edgeTile); err != nil {
		return err
	}
	if *floatEpochs < -1 {
		return usagef("--float-epochs %d: want a number of epochs, or -1 for as many as --epochs", *floatEpochs)
	}
	if *floatEpochs < 0 {
		*floatEpochs = *epochs
	}
	if set["lr"] {
		if err := positiveFlag("--lr", *lr); err != nil {
			return err
		}
	}
	if err := positiveFlag("--float-lr", *floatLR); err != nil {
		return err
	}
	if err := nonNegativeFlag("--weight-decay", *wd); err != nil {
		return err
	}
	if *average < 0 || *average > *epochs {
		return usagef("--average %d: want 0 (none) to --epochs (%d)", *average, *epochs)
	}
	sched, ok := train.ParseSchedule(*schedule)
	if !ok {
		return usagef("--schedule %q: want flat-cosine, cosine or constant", *schedule)
	}
	if qm != quant.Float {
		// The ranges of quant.LayerConfig.Validate, checked at the flags.
		for _, b := range []struct {
			name  string
			v, lo int
		}{{"--weight-bits", *wbits, 2}, {"--act-bits", *abits, 1}, {"--edge-bits", *edgeBits, 2}} {
			if b.v < b.lo || b.v > 16 {
				return usagef("%s %d: outside [%d, 16]", b.name, b.v, b.lo)
			}
		}
	}
	if *scratch && *initFrom != "" {
		return usagef("--from-scratch and --init-from: use one")
	}
	if err := fileio.CheckWritableDir(*out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	var (
		trainSet, testSet *data.Set
		imported          *onnx.Network
		err               error
	)
	if isONNX(*model) {
		if *initFrom != "" {
			return usagef("--init-from and an ONNX --model both give the starting weights: use one")
		}
		if imported, err = onnx.Import(*model); err != nil {
			return usageError{fmt.Errorf("--model: %w", err)}
		}
		task, _, upscale, err := models.GraphOutput(imported.Graph)
		if err != nil {
			return usageError{fmt.Errorf("--model %s: %w", *model, err)}
		}
		if task == models.SuperResolve {
			*scale = upscale
		}
		trainSet, testSet, err = train.OpenDataFor(task, *dataSpec, *scale, *seed)
		if err != nil {
			return usageError{fmt.Errorf("--data: %w", err)}
		}
	} else if trainSet, testSet, err = openData(*model, *dataSpec, *scale, *seed); err != nil {
		return err
	}
	cfg := models.Config{Model: *model, InC: trainSet.C, InH: trainSet.H, InW: trainSet.W, Classes: trainSet.Classes,
		Scale: *scale, Seed: *seed,
		Hidden: quant.LayerConfig{Mode: qm, WeightBits: *wbits, ActBits: *abits, AccBits: *pbits, Tile: *tile},
		First:  models.DefaultEdge(qm), Last: models.DefaultEdge(qm)}
	if qm == quant.Float {
		cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	} else {
		em, ok := quant.ParseMode(*edgeQuant)
		if !ok || em == quant.Float {
			return usagef("--edge-quant %q: want baseline, a2q or a2q+ (integer inference needs every layer quantized)", *edgeQuant)
		}
		edge := quant.LayerConfig{Mode: em, WeightBits: *edgeBits, ActBits: *edgeBits, AccBits: *edgeAcc, Tile: *edgeTile}
		cfg.First, cfg.Last = edge, edge
	}
	o := recipe.Options{Config: cfg, FoldGain: *foldGain, CentreOnData: *centre, FitGain: *fitGain, L1WhereFolds: !*fitAll, RestoreNorms: *restoreNorms,
		Train: trainSet, Test: testSet, Epochs: *epochs, Batch: *batch, LR: *lr, WeightDecay: *wd,
		Schedule: sched, RawInput: !*standardise, Average: *average, KeepOutputBias: !*correctBias,
		Threads: *threads, Dir: *out, WriteReport: true, Progress: e.stderr, Log: e.stderr}
	if *augment {
		o.Augment = data.Augment{Pad: 4, Flip: true, Seed: *seed}
	}
	switch {
	case imported != nil:
		o.Config.Model, o.Config.Graph, o.Weights = onnx.Base(*model), imported.Graph, imported.Weights
	case *initFrom != "":
		if o.InitFrom, err = checkpoint.Load(*initFrom); err != nil {
			return usageError{fmt.Errorf("--init-from: %w", err)}
		}
	case !*scratch:
		o.Float = &recipe.Float{Epochs: *floatEpochs, LR: *floatLR}
	}
	res, err := recipe.Run(ctx, o)
	if te := tileFlagError(err); te != nil {
		return te
	}
	if se := (*recipe.SetupError)(nil); errors.As(err, &se) {
		switch se.Field {
		case "Weights", "Config":
			if imported != nil {
				return usageError{fmt.Errorf("--model %s: %w", *model, se.Err)}
			}
		case "InitFrom":
			return usageError{fmt.Errorf("--init-from: %w", se.Err)}
		}
		return usageError{se.Err}
	}
	if errors.Is(err, train.ErrDiverged) || errors.Is(err, train.ErrNonFinite) {
		return fmt.Errorf("%w\nrerun with a lower learning rate (--lr; --float-lr if the float pre-training diverged): the same --out resumes after the last good epoch", err)
	}
	if err != nil {
		return err
	}
	rep := res.Report
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if *asJSON {
		err = writeJSON(e.stdout, rep)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if qm != quant.Float && !rep.Certified {
		if qm.AccumulatorAware() {
			// The quantizer's budget makes this impossible: a bug, not a
			// setting to change.
			return checkFailed{fmt.Errorf("%s guarantees the hidden layers' certificate at P = %d, yet they are not certified: please report this", qm, *pbits)}
		}
		note := e.stdout
		if *asJSON {
			note = e.stderr
		}
		fmt.Fprintf(note, "note: %s is not accumulator-aware, so \"certified false\" is expected: its hidden layers need more than P = %d bits; train is not a check and exits 0. "+
			"'a2q inspect %s --acc-bits P' checks a width (exit 1 if a layer does not fit); --quant a2q or a2q+ trains within P.\n", qm, *pbits, filepath.Join(*out, "model.ckpt"))
	}
	if qm != quant.Float && !*asJSON {
		next := "a2q verify " + filepath.Join(*out, "model.ckpt") + " --adversarial"
		if *dataSpec != "" {
			next += " --data " + *dataSpec
		}
		fmt.Fprintf(e.stderr, "next: %s   # run it as integers and check the certificate\n", next)
	}
	return nil
}

// openModelData opens the data set a built model trains on.
func openModelData(m *models.Model, spec string, seed uint64) (trainSet, testSet *data.Set, err error) {
	if m.Config.Graph == nil {
		return openData(m.Config.Model, spec, max(m.Config.Scale, 2), seed)
	}
	trainSet, testSet, err = train.OpenDataFor(m.Task, spec, m.Config.Scale, seed)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--data: %w", err)}
	}
	return trainSet, testSet, nil
}

// openData is train.OpenData with the command's errors: an unknown model
// names --model, a data set that will not load names --data.
func openData(model, spec string, scale int, seed uint64) (trainSet, testSet *data.Set, err error) {
	if _, ok := models.TaskOf(model); !ok {
		return nil, nil, usagef("--model %q: known models are %v", model, models.Names())
	}
	trainSet, testSet, err = train.OpenData(model, spec, scale, seed)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--data: %w", err)}
	}
	return trainSet, testSet, nil
}

func loadModel(path string) (*models.Model, error) {
	if isONNX(path) {
		return loadONNX(path)
	}
	c, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	m, err := models.FromCheckpoint(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func runEval(ctx context.Context, e *env, args []string) error {
	if path := onnxArg(args); isONNX(path) && isQONNX(path) {
		return evalQONNX(ctx, e, args)
	}
	if intModelArg(args) != "" {
		return runIntModel(ctx, e, "eval", args)
	}
	fs := newFlags(e, "eval", "CKPT [--data D]")
	dataSpec := fs.String("data", "", "data set (empty: the embedded default)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "checkpoint")
	if err != nil {
		return err
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	_, testSet, err := openModelData(m, *dataSpec, 1)
	if err != nil {
		return err
	}
	score, err := train.Evaluate(ctx, m, testSet, *threads)
	if err != nil {
		return err
	}
	rep, err := report.FromModel(m, 0)
	if err != nil {
		return err
	}
	rep.SetScore(m, score)
	if m.Task == models.SuperResolve {
		if flat, bicubic, err := train.SRBaselines(testSet); err == nil {
			rep.CompareSR(flat, bicubic)
		}
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	return rep.WriteText(e.stdout)
}

// positiveFlag refuses a value of a flag (a learning rate) that is not a
// positive finite number: NaN, ±Inf, 0 and negative values are bad usage.
func positiveFlag(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return usagef("%s %g: want a positive finite number", name, v)
	}
	return nil
}

// nonNegativeFlag refuses a value of a flag (a weight decay) that is not
// a finite number >= 0.
func nonNegativeFlag(name string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return usagef("%s %g: want a finite number >= 0", name, v)
	}
	return nil
}
