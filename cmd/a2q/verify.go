package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/report"
)

// verifyReport is the JSON document of `a2q verify`: the report fields of
// docs/CLI.md (certificates, test score from integer inference, overflows,
// integer_matches_fake_quant) and the integer engine's details.
type verifyReport struct {
	*report.Model
	Mode string `json:"mode"`
	// HiddenAccBits is --acc-bits (0: each layer's own target).
	HiddenAccBits        int                         `json:"hidden_acc_bits"`
	Images               int                         `json:"images"`
	FakeQuantAccuracy    *float64                    `json:"fake_quant_accuracy"`
	FakeQuantPSNR        *float64                    `json:"fake_quant_psnr"`
	SamePredictions      int                         `json:"same_predictions"`
	OutputsEqual         bool                        `json:"outputs_equal"`
	MaxOutputDiff        float64                     `json:"max_output_diff"`
	IntegerLayers        []intinfer.LayerCheck       `json:"integer_layers"`
	Adversarial          []intinfer.AdversarialLayer `json:"adversarial,omitempty"`
	AdversarialOverflows *int64                      `json:"adversarial_overflows,omitempty"`
}

func runVerify(ctx context.Context, e *env, args []string) error {
	if path := onnxArg(args); isONNX(path) && isQONNX(path) {
		return verifyQONNX(ctx, e, args)
	}
	if intModelArg(args) != "" {
		return runIntModel(ctx, e, "verify", args)
	}
	fs := newFlags(e, "verify", "CKPT [--acc-bits P] [--mode exact|wrap|saturate] [--data D] [--adversarial] [--json]\n\n"+
		"A QONNX file takes other flags: a2q verify FILE.onnx -h")
	accBits := fs.Int("acc-bits", 0, "accumulator bits P of the hidden layers (0: each layer's own target; the first and last layers keep theirs)")
	dataSpec := fs.String("data", "", "data set (empty: the embedded default); the test split is used")
	adversarial := fs.Bool("adversarial", false, "also run each channel's extreme input vectors through the P-bit accumulator (wrap and saturate); their overflows fail the check too")
	rf := addRunFlags(fs, "verify on at most this many test images (0: all)", "threads", true)
	save := fs.String("save", "", "also write the integer model to this file")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "checkpoint")
	if err != nil {
		return err
	}
	if err := checkAccBitsFlag("--acc-bits", *accBits, true); err != nil {
		return err
	}
	mode, err := rf.check()
	if err != nil {
		return err
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	im, err := intinfer.FromModel(m)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	// The certificate at --acc-bits says each layer's P; the engine runs
	// every layer at it.
	rep, err := report.FromModel(m, *accBits)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	target := make(map[string]int, len(rep.Layers))
	for _, c := range rep.Layers {
		target[c.Name] = c.AccBitsTarget
	}
	bits := make(map[string]int)
	for _, l := range im.Layers() {
		if p, ok := target[l.Name]; ok {
			bits[l.Name] = p
		}
	}
	eng, err := intinfer.NewEngine(im, intinfer.Options{Mode: mode, AccBits: bits, Threads: *rf.threads})
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	_, testSet, err := openModelData(m, *dataSpec, m.Config.Seed)
	if err != nil {
		return err
	}
	if *save != "" {
		if err := intinfer.Save(*save, im); err != nil {
			return usageError{fmt.Errorf("--save: %w", err)}
		}
	}
	v, err := intinfer.Verify(ctx, m, eng, testSet, intinfer.VerifyOptions{Limit: *rf.limit, Threads: *rf.threads})
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	rep.SetScore(m, v.IntegerScore)
	rep.Overflows = &v.Overflows
	rep.IntegerMatchesFakeQuant = &v.IntegerMatchesFakeQuant
	out := verifyReport{Model: rep, Mode: mode.String(), HiddenAccBits: *accBits, Images: v.Images,
		SamePredictions: v.SamePredictions, OutputsEqual: v.OutputsEqual, MaxOutputDiff: v.MaxOutputDiff, IntegerLayers: v.Layers}
	fq := v.FakeQuantScore
	if m.Task == models.SuperResolve {
		out.FakeQuantPSNR = &fq
	} else {
		out.FakeQuantAccuracy = &fq
	}
	var advOverflows int64
	if *adversarial {
		if out.Adversarial, advOverflows, err = adversarialRun(im, bits, path); err != nil {
			return err
		}
		out.AdversarialOverflows = &advOverflows
	}
	if *asJSON {
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else if err := writeVerifyText(e.stdout, &out); err != nil {
		return err
	}
	switch {
	case !v.IntegerMatchesFakeQuant:
		return checkFailed{fmt.Errorf("integer activations differ from the fake-quantized model's (%d overflows in %s mode)", v.Overflows, mode)}
	case v.Overflows > 0:
		return checkFailed{fmt.Errorf("%d accumulator overflows in %s mode", v.Overflows, mode)}
	case advOverflows > 0:
		return checkFailed{fmt.Errorf("%d accumulator overflows on adversarial inputs", advOverflows)}
	}
	return nil
}

// adversarialRun runs intinfer.Adversarial on im (the model of the file
// path) with the accumulator widths bits and totals the overflows of both
// modes.
func adversarialRun(im *intinfer.Model, bits map[string]int, path string) ([]intinfer.AdversarialLayer, int64, error) {
	adv, err := intinfer.Adversarial(im, bits)
	if err != nil {
		return nil, 0, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	var overflows int64
	for _, a := range adv {
		overflows += a.WrapOverflows + a.SaturateOverflows
	}
	return adv, overflows, nil
}

// stageRow is one layer's overflow counts in a text report: inner (or
// single-stage) and, for a tiled layer, outer.
type stageRow struct {
	info  *intinfer.LayerInfo
	inner int64
	outer *int64 // nil: untiled
}

// total is the layer's overflow count over its stages.
func (s stageRow) total() int64 {
	if s.outer == nil {
		return s.inner
	}
	return s.inner + *s.outer
}

// writeStages prints the tiled layers' accumulator widths and overflow
// counts per stage, when there are any.
func writeStages(w io.Writer, rows []stageRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	n := 0
	for _, s := range rows {
		if s.info.Tile == 0 || s.outer == nil {
			continue
		}
		if n == 0 {
			fmt.Fprintln(w, "\nmulti-stage accumulation (each tile in the inner accumulator, the tile sums in the outer):")
			fmt.Fprintln(tw, "layer\ttile\tP_inner\tP_inner_exact\tP_outer\tcertified\tinner overflows\touter overflows")
		}
		n++
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%d\t%d\n", s.info.Name, s.info.Tile, s.info.AccBitsInner, s.info.AccBitsInnerExact,
			s.info.AccBitsOuter, s.info.Certified(), s.inner, *s.outer)
	}
	return tw.Flush()
}

func writeVerifyText(w io.Writer, r *verifyReport) error {
	if err := r.Model.WriteText(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ninteger inference, %s accumulators, %d test images:\n", r.Mode, r.Images)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tP\tP_exact\tkernel\toverflows\tactivation mismatches\tnote")
	var stages []stageRow
	for _, l := range r.IntegerLayers {
		st := stageRow{&l.LayerInfo, l.Overflows, l.OuterOverflows}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d/%d\t%s\n", l.Name, l.AccBits, l.AccBitsExact, l.Impl, st.total(), l.Mismatches, l.Values, l.Note)
		stages = append(stages, st)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeStages(w, stages); err != nil {
		return err
	}
	score := "accuracy"
	if r.FakeQuantPSNR != nil {
		score = "PSNR"
	}
	var intScore, fqScore float64
	if r.TestAccuracy != nil {
		intScore, fqScore = *r.TestAccuracy, *r.FakeQuantAccuracy
	} else if r.TestPSNR != nil {
		intScore, fqScore = *r.TestPSNR, *r.FakeQuantPSNR
	}
	same := "" // a class per image: classifiers only
	if r.TestAccuracy != nil {
		same = fmt.Sprintf("same predictions %d/%d; ", r.SamePredictions, r.Images)
	}
	fmt.Fprintf(w, "integer %s %.4f, fake-quantized %.4f; %sinteger matches fake-quant: %v; overflows %d\n",
		score, intScore, fqScore, same, *r.IntegerMatchesFakeQuant, *r.Overflows)
	if r.Adversarial != nil {
		fmt.Fprintln(w, "\nadversarial inputs (each channel's extreme vectors):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tP\tP_exact\twrap overflows\twrap max error\tsaturate overflows\tsaturate max error")
		for _, a := range r.Adversarial {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", a.Name, a.AccBits, a.AccBitsExact, a.WrapOverflows, a.WrapMaxError, a.SaturateOverflows, a.SaturateMaxError)
		}
		return tw.Flush()
	}
	return nil
}
