package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/a2qtoolkit/a2q/bench"
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
		model := fs.String("model", "cnn", "model (28×28 one-channel input)")
		batch := fs.Int("batch", 128, "batch size")
		pbits := fs.Int("acc-bits", 16, "hidden-layer accumulator bits")
		if err := parse(fs, args); err != nil {
			return err
		}
		if err := checkAccBitsFlag("--acc-bits", *pbits, false); err != nil {
			return err
		}
		if _, ok := models.TaskOf(*model); !ok {
			return usagef("--model %q: known models are %v", *model, models.Names())
		}
		threads := []int{1}
		if n := runtime.NumCPU(); n > 1 {
			threads = append(threads, n)
		}
		r, err := bench.Infer(ctx, bench.InferOptions{Model: *model, Batch: *batch, Threads: threads, AccBits: *pbits, MinTime: *minTime})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "%s %s, hidden layers at P = %d, batch %d; kernels: acc16 %s, acc32 %s\n", r.Model, r.Quant, r.AccBits, r.Batch, r.Acc16Impl, r.Acc32Impl)
		fmt.Fprintf(e.stdout, "%8s %14s %14s %14s\n", "threads", "acc16 img/s", "acc32 img/s", "float img/s")
		for _, t := range r.Threads {
			fmt.Fprintf(e.stdout, "%8d %14.0f %14.0f %14.0f\n", t.Threads, t.Acc16ImagesPerSec, t.Acc32ImagesPerSec, t.FloatImagesPerSec)
		}
		return nil
	}
	return usagef("unknown benchmark %q: want gemm, train or infer", what)
}
