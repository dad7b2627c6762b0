package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
	"github.com/a2qtoolkit/a2q/sweep"
	"github.com/a2qtoolkit/a2q/train"
)

const sweepUsage = `--model M --quant baseline,a2q,a2q+ --bits 4,8 --acc-bits 12,14,16 [--methods qat,rtn,gptq,gpfq]
	[--epochs E] [--plus-epochs E+] [--float-epochs F] [--calib-size N] [--data D] [--parallel J] --out DIR
   or: a2q sweep ... --print-commands   (one 'a2q sweep ... --point ID' per grid point)
   or: a2q sweep ... --point ID         (run one point into the shared DIR)
   or: a2q sweep --merge --out DIR      (collect DIR/points into results and plots)

Trains one float model, then every point of quantizer × method × bit width × P from it: method qat
fine-tunes it for --epochs (quantization-aware training); rtn, gptq and gpfq quantize it after training
(as 'a2q quantize' does) on --calib-size examples of the training split. The baseline quantizer runs at
its data-type P, and with any post-training method once more as rtn (rtn, gptq and gpfq only differ on
accumulator-aware layers). Writes DIR/results.json, results.csv and plots of score against P, method
beside method. Adding quantizers, widths, P values or methods to a finished sweep runs only the new points.`

func runSweep(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sweep", sweepUsage)
	model := fs.String("model", "cnn", "model")
	quants := fs.String("quant", "baseline,a2q,a2q+", "comma-separated weight quantizers: baseline, a2q, a2q+")
	bits := fs.String("bits", "8", "comma-separated weight and activation bit widths of the hidden layers")
	accBits := fs.String("acc-bits", "12,13,14,16", "comma-separated accumulator widths P of the A2Q and A2Q+ points")
	methods := fs.String("methods", string(sweep.QAT), "comma-separated methods: qat (fine-tuning), rtn, gptq, gpfq (post-training quantization)")
	calibSize := fs.Int("calib-size", recipe.DefaultCalibSize, "calibration examples of the post-training points, spread over the training split")
	epochs := fs.Int("epochs", 3, "fine-tuning epochs per point")
	floatEpochs := fs.Int("float-epochs", 5, "epochs of the float model every point starts from")
	plusEpochs := fs.Int("plus-epochs", 0, "fine-tuning epochs of the A2Q+ points (0: as --epochs)")
	dataSpec := fs.String("data", "", "data set (empty: the embedded default of the model's task)")
	parallel := fs.Int("parallel", 1, "points trained at once (threads are divided among them)")
	threads := fs.Int("threads", runtime.NumCPU(), "total threads")
	batch := fs.Int("batch", 128, "batch size")
	lr := fs.Float64("lr", 1e-3, "peak learning rate of the float model")
	ftLR := fs.Float64("fine-tune-lr", 1e-4, "peak learning rate of the points' fine-tuning")
	foldGain := fs.Bool("fold-gain", true, "give each accumulator-aware layer back the gain the projection takes from it, through its own scale (--fold-gain=false: the recipe of sweeps run before it was the default)")
	fitGain := fs.Bool("fit-gain", true, "with --fold-gain: fit the gain and offset of each channel of the accumulator-aware layers the L1 gain cannot reach (not followed by another layer through ReLU and pooling) to the float model's channel on the first 1,024 training examples (--fit-gain=false: the recipe of sweeps run before it was the default)")
	correctBias := fs.Bool("correct-bias", true, fmt.Sprintf("super-resolution models: after the last epoch of each training (float and fine-tuned), shift the output layer's bias by each output channel's mean residual over the first %d training examples, kept if it lowers their mean squared error (--correct-bias=false: the recipe of sweeps run before it existed)", train.BiasExamples))
	fitAll := fs.Bool("fit-gain-all", false, "with --fit-gain: fit every accumulator-aware layer, also those the L1 gain reaches (the recipe of sweeps run with --fit-gain before --fit-gain-all existed)")
	centre := fs.Bool("centre-on-data", true, "zero-centre each A2Q+ layer on the first 1,024 training examples, where that reproduces the float model's outputs better than subtracting each channel's mean (--centre-on-data=false: the plain A2Q+ recipe)")
	seed := fs.Uint64("seed", 1, "random seed")
	scale := fs.Int("scale", 2, "upscaling factor for super-resolution models")
	trainLimit := fs.Int("train-limit", 0, "use only this many training images, spread evenly over the set (0: all)")
	testLimit := fs.Int("test-limit", 0, "use only this many test images, spread evenly over the set (0: all)")
	out := fs.String("out", "", "sweep directory (required)")
	point := fs.String("point", "", "run only this grid point ('"+sweep.FloatID+"' for the float model)")
	printCmds := fs.Bool("print-commands", false, "print one command per grid point instead of running")
	merge := fs.Bool("merge", false, "merge DIR/points into DIR/results.{json,csv} and plots")
	asJSON := fs.Bool("json", false, "print JSON on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	if *merge {
		rs, err := sweep.Merge(*out)
		if err != nil {
			return usageError{err} // no sweep in --out (a failed write is still a run failure)
		}
		return printResults(e, rs, *asJSON)
	}
	g := sweep.Grid{Model: *model, Data: *dataSpec, Epochs: *epochs, FloatEpochs: *floatEpochs, PlusEpochs: *plusEpochs, Batch: *batch,
		LR: *lr, FineTuneLR: *ftLR, Seed: *seed, Scale: *scale, FoldGain: *foldGain,
		CentreOnData: *centre, FitGain: *fitGain, L1WhereFolds: !*fitAll, CorrectBias: *correctBias}
	for _, q := range splitList(*quants) {
		m, ok := quant.ParseMode(q)
		if !ok || m == quant.Float {
			return usagef("--quant %q: want baseline, a2q or a2q+", q)
		}
		g.Quants = append(g.Quants, m)
	}
	for _, name := range splitList(*methods) {
		m, ok := sweep.ParseMethod(name)
		if !ok {
			return usagef("--methods %q: want qat, rtn, gptq or gpfq", name)
		}
		g.Methods = append(g.Methods, m)
	}
	if len(g.Methods) == 0 {
		return usagef("--methods: want at least one of qat, rtn, gptq, gpfq")
	}
	if *calibSize < 1 {
		return usagef("--calib-size %d: want 1 or more", *calibSize)
	}
	g.CalibSize = *calibSize
	var err error
	if g.Bits, err = intList("--bits", *bits); err != nil {
		return err
	}
	if g.AccBits, err = intList("--acc-bits", *accBits); err != nil {
		return err
	}
	for _, p := range g.AccBits {
		if err := checkAccBitsFlag("--acc-bits", p, false); err != nil {
			return err
		}
	}
	if *batch < 1 || *threads < 1 || *parallel < 1 || *trainLimit < 0 || *testLimit < 0 {
		return usagef("--batch, --threads and --parallel must be positive, the limits not negative")
	}
	if err := positiveFlag("--lr", *lr); err != nil {
		return err
	}
	if err := positiveFlag("--fine-tune-lr", *ftLR); err != nil {
		return err
	}
	if *trainLimit > 0 || *testLimit > 0 {
		name := *dataSpec
		if name == "" {
			name = "default"
		}
		g.Data = fmt.Sprintf("%s (train-limit %d, test-limit %d)", name, *trainLimit, *testLimit)
	}
	if err := g.Validate(); err != nil {
		return usageError{err}
	}
	if *printCmds {
		return printCommands(e, fs, g, *asJSON)
	}
	o := sweep.Options{Dir: *out, Parallel: *parallel, Threads: *threads, Progress: e.stderr}
	if *trainLimit > 0 || *testLimit > 0 {
		tr, te, err := train.OpenData(*model, *dataSpec, *scale, *seed)
		if err != nil {
			return usageError{err}
		}
		o.Train, o.Test = tr.Spread(*trainLimit), te.Spread(*testLimit)
	}
	if *point != "" {
		if _, ok := g.Find(*point); !ok && *point != sweep.FloatID {
			return usagef("--point %q is not in the grid (see --print-commands)", *point)
		}
		r, err := sweep.RunPoint(ctx, g, o, *point)
		if err != nil || r == nil {
			return err
		}
		return printResults(e, []sweep.Result{*r}, *asJSON)
	}
	rs, err := sweep.Run(ctx, g, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s/results.json, results.csv, %s, %s, %s, %s\n", *out, sweep.ScorePlot, sweep.ParetoPlot, sweep.SparsityPlot, sweep.ScoreSpeedPlot)
	return printResults(e, rs, *asJSON)
}

func printResults(e *env, rs []sweep.Result, asJSON bool) error {
	if asJSON {
		return writeJSON(e.stdout, rs)
	}
	return sweep.WriteMarkdown(e.stdout, rs)
}

// printCommands prints the float command and one command per point, each
// repeating the flags given on this command line.
func printCommands(e *env, fs *flag.FlagSet, g sweep.Grid, asJSON bool) error {
	var base []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "print-commands", "point", "merge", "json", "parallel":
			return
		}
		base = append(base, shellQuote("--"+f.Name+"="+f.Value.String()))
	})
	type cmd struct {
		ID      string `json:"id"`
		Command string `json:"command"`
	}
	cmds := []cmd{{sweep.FloatID, ""}}
	for _, p := range g.Points() {
		cmds = append(cmds, cmd{ID: p.ID})
	}
	for i := range cmds {
		cmds[i].Command = "a2q sweep " + strings.Join(base, " ") + " --point " + cmds[i].ID
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"commands": cmds,
			"note": "run the float command first; then the points, in any order or at once; then 'a2q sweep --merge --out DIR'"})
	}
	fmt.Fprintln(e.stderr, "# run the first command (the float model) before the others; then merge with: a2q sweep --merge --out DIR")
	for _, c := range cmds {
		fmt.Fprintln(e.stdout, c.Command)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=+,./:@%", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func intList(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, usagef("%s: %q is not an integer", flagName, f)
		}
		out = append(out, v)
	}
	return out, nil
}
