package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/onnx"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/report"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "train", "--model M [--data D] [--quant float|baseline|a2q|a2q+] [--acc-bits P] --out DIR")
	model := fs.String("model", "cnn", "model: one of "+fmt.Sprint(models.Names())+", or a float ONNX file (NAME.onnx) to start from its weights")
	dataSpec := fs.String("data", "", "data: empty for the embedded Fashion-MNIST subset, a directory of IDX files or CIFAR-10 batches, or 'fashion-mnist' for Debian's dataset-fashion-mnist")
	epochs := fs.Int("epochs", 3, "training epochs")
	wbits := fs.Int("weight-bits", 8, "weight bits M of the hidden layers")
	abits := fs.Int("act-bits", 8, "activation bits N of the hidden layers' inputs")
	pbits := fs.Int("acc-bits", 16, "accumulator bits P of the hidden layers")
	mode := fs.String("quant", "float", "weight quantizer: float, baseline, a2q or a2q+")
	initFrom := fs.String("init-from", "", "float checkpoint to start from (A2Q/A2Q+ use Euclidean-projection init)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output directory (required)")
	batch := fs.Int("batch", 128, "batch size")
	lr := fs.Float64("lr", 0, "peak learning rate (default 1e-3, 1e-4 with --init-from)")
	wd := fs.Float64("weight-decay", 0, "decoupled weight decay (never on biases, g, s)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	scale := fs.Int("scale", 2, "upscaling factor for super-resolution models")
	foldGain := fs.Bool("fold-gain", true, "with --init-from: fold the gain the projection takes from each accumulator-aware layer into the next layer (--fold-gain=false to opt out)")
	centre := fs.Bool("centre-on-data", true, "with --init-from: zero-centre each A2Q+ layer on the first 1,024 training examples, where that reproduces the float model's outputs better than subtracting each channel's mean (--centre-on-data=false to opt out)")
	restoreNorms := fs.Bool("restore-norms", true, "with an ONNX --model and --quant a2q or a2q+: insert a batch norm after each constrained layer whose projection gain cannot fold into the next layer (residual sums, clips), initialised on the first 1,024 training examples to the float model's statistics (--restore-norms=false to opt out)")
	augment := fs.Bool("augment", false, "random crops (4-pixel padding) and horizontal flips of training images (for CIFAR-10)")
	edgeQuant := fs.String("edge-quant", "baseline", "quantizer of the first and last layers (with a quantized --quant)")
	edgeBits := fs.Int("edge-bits", 8, "weight and activation bits of the first and last layers")
	edgeAcc := fs.Int("edge-acc-bits", 32, "accumulator bits of the first and last layers")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	if _, err := parse(fs, args); err != nil {
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
	if *epochs < 0 || *batch < 1 || *threads < 1 {
		return usagef("--epochs, --batch and --threads must be positive")
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
		Hidden: quant.LayerConfig{Mode: qm, WeightBits: *wbits, ActBits: *abits, AccBits: *pbits},
		First:  models.DefaultEdge(qm), Last: models.DefaultEdge(qm)}
	if qm == quant.Float {
		cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	} else {
		em, ok := quant.ParseMode(*edgeQuant)
		if !ok || em == quant.Float {
			return usagef("--edge-quant %q: want baseline, a2q or a2q+ (integer inference needs every layer quantized)", *edgeQuant)
		}
		edge := quant.LayerConfig{Mode: em, WeightBits: *edgeBits, ActBits: *edgeBits, AccBits: *edgeAcc}
		cfg.First, cfg.Last = edge, edge
	}
	var start *checkpoint.Checkpoint // float weights to start from
	var restored []string
	if imported != nil {
		cfg.Model, cfg.Graph = onnx.Base(*model), imported.Graph
		if *restoreNorms && qm.AccumulatorAware() {
			if cfg.Graph, restored, err = models.WithRestoredNorms(cfg.Graph); err != nil {
				return usageError{fmt.Errorf("--model %s: %w", *model, err)}
			}
		}
		fm, err := models.FloatFromWeights(cfg, imported.Weights)
		if err != nil {
			return usageError{fmt.Errorf("--model %s: %w", *model, err)}
		}
		if start, err = fm.Checkpoint(nil, nil); err != nil {
			return err
		}
	} else if *initFrom != "" {
		if start, err = checkpoint.Load(*initFrom); err != nil {
			return usageError{fmt.Errorf("--init-from: %w", err)}
		}
	}
	m, err := models.Build(cfg)
	if err != nil {
		return usageError{err}
	}
	if start != nil {
		o := models.InitOptions{FoldGain: *foldGain, Threads: *threads}
		var examples *tensor.Tensor
		if *centre || len(restored) > 0 {
			examples = firstInputs(trainSet, models.CentringExamples)
		}
		if *centre {
			o.CentreOn = examples
		}
		if len(restored) > 0 {
			o.RestoredNorms, o.NormsOn = restored, examples
		}
		r, err := models.InitFromCheckpoint(m, start, o)
		if err != nil {
			what := "--init-from"
			if imported != nil {
				what = "--model"
			}
			return usageError{fmt.Errorf("%s: %w", what, err)}
		}
		if r.Centred > 0 {
			fmt.Fprintf(e.stderr, "zero-centred %d A2Q+ layer(s) on %d training examples (plain mean subtraction kept in %d of %d channels)\n",
				r.Centred, o.CentreOn.Shape[0], r.PlainChannels, r.Channels)
		}
		if r.PlainLayers > 0 {
			fmt.Fprintf(e.stderr, "kept the plain mean subtraction in %d A2Q+ layer(s): it reproduces the float model's outputs better there\n", r.PlainLayers)
		}
		if r.Folded > 0 {
			fmt.Fprintf(e.stderr, "folded the projection gain of %d layer(s) into the next layer\n", r.Folded)
		}
		if r.Restored > 0 {
			fmt.Fprintf(e.stderr, "inserted %d batch norm(s) where the projection gain cannot fold (%s), set to the float model's statistics\n", r.Restored, strings.Join(restored, ", "))
		}
		if *lr == 0 {
			*lr = 1e-4
		}
	}
	rate := *lr
	if rate == 0 {
		rate = 1e-3
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usageError{fmt.Errorf("--out: %w", err)}
	}
	opts := train.Options{Epochs: *epochs, Batch: *batch, LR: rate, WeightDecay: *wd,
		Threads: *threads, Seed: *seed, Dir: *out, Progress: e.stderr}
	if *augment {
		opts.Augment = data.Augment{Pad: 4, Flip: true, Seed: *seed}
	}
	tr, err := train.New(m, opts)
	if err != nil {
		return usageError{err}
	}
	if tr.State.Epoch > 0 {
		fmt.Fprintf(e.stderr, "resuming %s after epoch %d\n", tr.CheckpointPath(), tr.State.Epoch)
	}
	if err := tr.Run(ctx, trainSet, testSet); err != nil {
		return err
	}
	if *epochs == 0 {
		if err := tr.Save(tr.CheckpointPath()); err != nil {
			return err
		}
	}
	rep, err := report.FromModel(m, 0)
	if err != nil {
		return err
	}
	score, err := train.Evaluate(ctx, m, testSet, *threads)
	if err != nil {
		return err
	}
	rep.SetScore(m, score)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(*out, "report.json"), append(b, '\n')); err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	return rep.WriteText(e.stdout)
}

// firstInputs returns the first n examples of s (all of them if fewer) as
// one N×H×W×C batch.
func firstInputs(s *data.Set, n int) *tensor.Tensor {
	n = min(n, s.N)
	b := train.NewBatch(s, n)
	got, _ := b.Next(data.NewBatcher(s, n, nil, data.Augment{}))
	return b.X(got)
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
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	return rep.WriteText(e.stdout)
}
