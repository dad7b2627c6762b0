package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/a2qtoolkit/a2q/bench"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a benchmark: gemm, train or infer")
	}
	what, args := args[0], args[1:]
	fs := newFlags(e, "bench "+what, "[flags]")
	asJSON := fs.Bool("json", false, "print JSON")
	minTime := fs.Duration("time", 3*time.Second, "minimum measuring time per figure")
	switch what {
	case "gemm":
		if err := parse(fs, args); err != nil {
			return err
		}
		r, err := bench.GEMM(ctx, nil, *minTime)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "FMA peak (one core): %.1f GFLOP/s\n", r.FMAPeakGFLOPS)
		fmt.Fprintf(e.stdout, "%6s %8s %12s %12s %8s\n", "size", "threads", "a2q GFLOP/s", "gonum", "ratio")
		for _, g := range r.GEMM {
			fmt.Fprintf(e.stdout, "%6d %8d %12.1f %12.1f %7.1f×\n", g.Size, g.Threads, g.A2QGFLOPS, g.GonumGFLOPS, g.A2QGFLOPS/g.GonumGFLOPS)
		}
		return nil
	case "train":
		model := fs.String("model", "cnn", "model (28×28 one-channel input)")
		mode := fs.String("quant", "float", "quantizer")
		batch := fs.Int("batch", 128, "batch size")
		threads := fs.Int("threads", runtime.NumCPU(), "threads")
		pbits := fs.Int("acc-bits", 16, "hidden-layer accumulator bits")
		if err := parse(fs, args); err != nil {
			return err
		}
		if err := checkAccBitsFlag("--acc-bits", *pbits, false); err != nil {
			return err
		}
		qm, ok := quant.ParseMode(*mode)
		if !ok {
			return usagef("--quant %q: want float, baseline, a2q or a2q+", *mode)
		}
		if _, ok := models.TaskOf(*model); !ok {
			return usagef("--model %q: known models are %v", *model, models.Names())
		}
		r, err := bench.Train(ctx, bench.TrainOptions{Model: *model, Quant: qm, Batch: *batch, Threads: *threads,
			MinTime: *minTime, AccBits: *pbits, WeightBits: 8, ActBits: 8})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "%s %s, batch %d, %d threads: %.0f images/s", r.Model, r.Quant, r.Batch, r.Threads, r.ImagesPerSec)
		if r.FloatImagesPerSec != nil {
			fmt.Fprintf(e.stdout, " (float %.0f images/s, quantized/float %.2f)", *r.FloatImagesPerSec, r.ImagesPerSec / *r.FloatImagesPerSec)
		}
		fmt.Fprintf(e.stdout, ", peak RSS %.0f MB\n", r.PeakRSSMB)
		return nil
	case "infer":
		return benchInfer(ctx, e, fs, args, asJSON, minTime)
	}
	return usagef("unknown benchmark %q: want gemm, train or infer", what)
}

// benchInfer runs `a2q bench infer [CKPT]`: the checkpoint's model on its
// test images, or without one a random A2Q+ network.
func benchInfer(ctx context.Context, e *env, fs *flag.FlagSet, args []string, asJSON *bool, minTime *time.Duration) error {
	model := fs.String("model", "cnn", "model of the random A2Q+ network measured without CKPT (28×28 one-channel input)")
	batch := fs.Int("batch", 128, "batch size")
	pbits := fs.Int("acc-bits", 16, "hidden-layer accumulator bits of the random network (not with CKPT, which has its own P)")
	dataSpec := fs.String("data", "", "with CKPT: the data set whose test images are run (empty: the embedded default)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: a2q bench infer [CKPT] [--time 3s] [--batch 128] [--data D] [--json]\n"+
			"       a2q bench infer [--model cnn] [--acc-bits 16] [--time 3s] [--batch 128] [--json]   (a random A2Q+ network)")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want at most one checkpoint, got %d arguments %q", len(pos), pos)
	}
	if err := checkAccBitsFlag("--acc-bits", *pbits, false); err != nil {
		return err
	}
	if *batch < 1 || *minTime < 0 {
		return usagef("--batch must be positive and --time not negative")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	threads := []int{1}
	if n := runtime.NumCPU(); n > 1 {
		threads = append(threads, n)
	}
	o := bench.InferOptions{Model: *model, Batch: *batch, Threads: threads, AccBits: *pbits, MinTime: *minTime}
	var (
		r    *bench.InferResult
		what string
	)
	if len(pos) == 0 {
		if set["data"] {
			return usagef("--data needs a checkpoint: the random network runs on the embedded test images")
		}
		if _, ok := models.TaskOf(*model); !ok {
			return usagef("--model %q: known models are %v", *model, models.Names())
		}
		if r, err = bench.Infer(ctx, o); err != nil {
			return err
		}
		what = fmt.Sprintf("random %s %s network, hidden layers at P = %d", r.Model, r.Quant, r.AccBits)
	} else {
		path := pos[0]
		for _, f := range []string{"acc-bits", "model"} {
			if set[f] {
				return usagef("--%s with checkpoint %s: the checkpoint is the model, with its own P; --%s sets up the random network measured without one", f, path, f)
			}
		}
		m, err := loadModel(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) && pe.Path == path {
				return usagef("checkpoint %q: %v", path, pe.Err)
			}
			return usageError{err}
		}
		_, test, err := openModelData(m, *dataSpec, m.Config.Seed)
		if err != nil {
			return err
		}
		r, err = bench.InferModel(ctx, m, test, o)
		var ie *bench.InputError
		if errors.As(err, &ie) {
			hint := ""
			if *dataSpec == "" && errors.Is(err, bench.ErrShape) {
				hint = "; pass --data with its data set"
			}
			return usageError{fmt.Errorf("%s: %w%s", path, err, hint)}
		}
		if errors.Is(err, bench.ErrPlansDisagree) || errors.Is(err, bench.ErrFloatDisagrees) {
			return checkFailed{fmt.Errorf("%s: %w", path, err)}
		}
		if err != nil {
			return err
		}
		what = fmt.Sprintf("%s (%s %s, hidden layers at P = %d)", path, r.Model, r.Quant, r.AccBits)
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	return writeBenchInferText(e.stdout, what, r)
}

// writeBenchInferText prints the per-layer plan and the per-thread rates
// of `a2q bench infer`.
func writeBenchInferText(w io.Writer, what string, r *bench.InferResult) error {
	vnni := "no AVX-512 VNNI"
	if intgemm.HasVNNI() {
		vnni = "AVX-512 VNNI"
	}
	fmt.Fprintf(w, "%s, batch %d of %s test images; this CPU: %s\n\nchosen plan:\n", what, r.Batch, r.Data, vnni)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tsparsity\texact P\tkernel\treason")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%s\t%.1f %%\t%d\t%s\t%s\n", l.Name, 100*l.Sparsity, l.AccBitsExact, l.Kernel, l.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nimages/s (ratios: chosen plan over each dense plan):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threads\tchosen\tdense-vnni\tdense-acc32-avx2\tdense16\tfloat\tchosen/dense-vnni\tchosen/dense-acc32-avx2\tchosen/dense16\t")
	for _, t := range r.Threads {
		vnniRate, vnniRatio := "—", "—"
		if t.DenseVNNIImagesPerSec != nil {
			vnniRate, vnniRatio = fmt.Sprintf("%.0f", *t.DenseVNNIImagesPerSec), fmt.Sprintf("%.2f×", t.ChosenImagesPerSec / *t.DenseVNNIImagesPerSec)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%.0f\t%.0f\t%.0f\t%s\t%.2f×\t%.2f×\t\n", t.Threads, t.ChosenImagesPerSec, vnniRate,
			t.DenseAcc32AVX2ImagesPerSec, t.Dense16ImagesPerSec, t.FloatImagesPerSec, vnniRatio,
			t.ChosenImagesPerSec/t.DenseAcc32AVX2ImagesPerSec, t.ChosenImagesPerSec/t.Dense16ImagesPerSec)
	}
	return tw.Flush()
}
