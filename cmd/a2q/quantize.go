package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
)

func runQuantize(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "quantize", "MODEL --method rtn|gptq|gpfq [--quant a2q|a2q+|baseline] --acc-bits P --out DIR\n\n"+
		"Post-training quantization of a float checkpoint or float ONNX network: calibrate the activation scales,\n"+
		"then round each accumulator-aware layer's weights within its P-bit budget, in network order, on the\n"+
		"calibration data as the layers before it (already rounded) produce it. Writes DIR/model.ckpt and DIR/report.json.")
	method := fs.String("method", "", "rounding method: rtn, gptq or gpfq (required)")
	mode := fs.String("quant", "a2q+", "weight quantizer of the hidden layers: a2q, a2q+ or baseline")
	pbits := fs.Int("acc-bits", 16, "accumulator bits P of the hidden layers")
	wbits := fs.Int("weight-bits", 8, "weight bits M of the hidden layers")
	abits := fs.Int("act-bits", 8, "activation bits N of the hidden layers' inputs")
	edgeQuant := fs.String("edge-quant", "baseline", "quantizer of the first and last layers")
	edgeBits := fs.Int("edge-bits", 8, "weight and activation bits of the first and last layers")
	edgeAcc := fs.Int("edge-acc-bits", 32, "accumulator bits of the first and last layers")
	dataSpec := fs.String("data", "", "data the model was trained on, for the test score (empty: the embedded Fashion-MNIST subset, as train chooses)")
	calibSpec := fs.String("calib", "", "calibration data (default: the training split of --data)")
	calibSize := fs.Int("calib-size", recipe.DefaultCalibSize, "calibration examples, spread over the set")
	tile := fs.Int("tile", 0, "multi-stage accumulation: sum the hidden layers' dot products in tiles of T terms, each in a P-bit inner accumulator (the budget holds per tile)")
	edgeTile := fs.Int("edge-tile", 0, "tile size T of the first and last layers (as --tile)")
	noCorrect := fs.Bool("no-correction", false, "skip re-estimating the batch norms that read layers GPTQ/GPFQ rounded (the integers are the same either way)")
	export := fs.String("export", "", "also write the result as QONNX to FILE.onnx")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	out := fs.String("out", "", "output directory (required)")
	path, err := parseOne(fs, args, "model")
	if err != nil {
		return err
	}
	m, ok := ptq.ParseMethod(*method)
	if !ok {
		return usagef("--method %q: want rtn, gptq or gpfq", *method)
	}
	qm, ok := quant.ParseMode(*mode)
	if !ok || qm == quant.Float {
		return usagef("--quant %q: want a2q, a2q+ or baseline", *mode)
	}
	em, ok := quant.ParseMode(*edgeQuant)
	if !ok || em == quant.Float {
		return usagef("--edge-quant %q: want baseline, a2q or a2q+ (integer inference needs every layer quantized)", *edgeQuant)
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkTileFlags(set, *tile, *edgeTile); err != nil {
		return err
	}
	for _, b := range []struct {
		name  string
		v, lo int
	}{{"--weight-bits", *wbits, 2}, {"--act-bits", *abits, 1}, {"--edge-bits", *edgeBits, 2}} {
		if b.v < b.lo || b.v > 16 {
			return usagef("%s %d: outside [%d, 16]", b.name, b.v, b.lo)
		}
	}
	if err := checkAccBitsFlag("--acc-bits", *pbits, false); err != nil {
		return err
	}
	if err := checkAccBitsFlag("--edge-acc-bits", *edgeAcc, false); err != nil {
		return err
	}
	if qm.AccumulatorAware() {
		// Signed inputs give the larger budget: below their minimum no
		// layer can hold a non-zero weight, whatever its input.
		if need := accum.MinBitsForNonzero(*abits, true, qm == quant.A2QPlus); *pbits < need {
			return usagef("--acc-bits %d: with %d-bit activations %s leaves no room for any non-zero weight (need P >= %d)", *pbits, *abits, qm, need)
		}
	}
	if *calibSize < 1 {
		return usagef("--calib-size %d: want 1 or more", *calibSize)
	}
	if *threads < 1 {
		return usagef("--threads %d: want 1 or more", *threads)
	}
	if err := fileio.CheckWritableDir(*out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	var start *checkpoint.Checkpoint
	var fm *models.Model
	if isONNX(path) {
		if fm, err = loadONNX(path); err != nil {
			return usageError{err}
		}
		if start, err = fm.Checkpoint(nil, nil); err != nil {
			return err
		}
	} else {
		if start, err = checkpoint.Load(path); err != nil {
			return usageError{err}
		}
		if fm, err = models.FromCheckpoint(start); err != nil {
			return usageError{fmt.Errorf("%s: %w", path, err)}
		}
	}
	trainSet, testSet, err := openModelData(fm, *dataSpec, fm.Config.Seed)
	if err != nil {
		return err
	}
	calib := trainSet
	if *calibSpec != "" {
		if calib, _, err = openModelData(fm, *calibSpec, fm.Config.Seed); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return usageError{fmt.Errorf("--calib: %w", errors.Unwrap(ue.error))}
			}
			return err
		}
	}
	edge := quant.LayerConfig{Mode: em, WeightBits: *edgeBits, ActBits: *edgeBits, AccBits: *edgeAcc, Tile: *edgeTile}
	o := recipe.PTQOptions{Float: start, Method: m,
		Hidden: quant.LayerConfig{Mode: qm, WeightBits: *wbits, ActBits: *abits, AccBits: *pbits, Tile: *tile},
		First:  edge, Last: edge,
		Calib: calib, Test: testSet, CalibSize: *calibSize,
		Threads: *threads, Dir: *out, WriteReport: true, NoCorrection: *noCorrect, Log: e.stderr}
	res, err := recipe.Quantize(ctx, o)
	if te := tileFlagError(err); te != nil {
		return te
	}
	if se := (*recipe.SetupError)(nil); errors.As(err, &se) {
		switch se.Field {
		case "Float":
			return usageError{fmt.Errorf("%s: %w", path, se.Err)}
		case "Calib":
			flag := "--data"
			if *calibSpec != "" {
				flag = "--calib"
			}
			return usageError{fmt.Errorf("%s: %w", flag, se.Err)}
		}
		return usageError{se.Err}
	}
	if err != nil {
		return err
	}
	rep := res.Report
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if *export != "" {
		eargs := []string{filepath.Join(*out, "model.ckpt"), "--format", "qonnx", "-o", *export}
		if *asJSON {
			eargs = append(eargs, "--json")
		}
		// The export's own output goes to stderr: stdout holds the report.
		if err := runExport(ctx, &env{stdout: e.stderr, stderr: e.stderr}, eargs); err != nil {
			return fmt.Errorf("--export: %w", err)
		}
	}
	if *asJSON {
		err = writeJSON(e.stdout, rep)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if qm.AccumulatorAware() && !rep.Certified {
		return checkFailed{fmt.Errorf("%s guarantees the hidden layers' certificate at P = %d, yet they are not certified: please report this", qm, *pbits)}
	}
	return nil
}
