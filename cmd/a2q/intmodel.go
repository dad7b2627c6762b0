package main

// Integer model files (the format of package intinfer, written by `a2q
// verify --save`): `a2q verify` and `a2q eval` run them with the integer
// engine alone, without the checkpoint they were made from.

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/train"
)

// isIntModel reports whether path is a regular file that starts like an
// integer model file (it reads no more than the magic, and never waits on
// a device or a named pipe).
func isIntModel(path string) bool {
	f, _, err := fileio.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(intinfer.Magic))
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == intinfer.Magic
}

// intModelArg returns the first positional argument that names an integer
// model file, or "".
func intModelArg(args []string) string {
	for _, a := range args {
		if len(a) > 0 && a[0] != '-' && isIntModel(a) {
			return a
		}
	}
	return ""
}

// intModelReport is the JSON document of `a2q verify` and `a2q eval` on an
// integer model file.
type intModelReport struct {
	File                 string                      `json:"file"`
	Model                string                      `json:"model"`
	Task                 string                      `json:"task"`
	TestAccuracy         *float64                    `json:"test_accuracy,omitempty"`
	TestPSNR             *float64                    `json:"test_psnr,omitempty"`
	Certified            bool                        `json:"certified"`
	*intinfer.Evaluation                             // images, mode, integer_layers, overflows, score
	Adversarial          []intinfer.AdversarialLayer `json:"adversarial,omitempty"`
	AdversarialOverflows *int64                      `json:"adversarial_overflows,omitempty"`
}

// runIntModel runs the integer model file named in args on the test split
// of --data. cmd is "verify" or "eval"; verify also offers --adversarial
// and fails (exit 1) on any overflow (of either stage of a tiled layer) or
// a layer whose exact width (a tiled layer's: of its tiles) exceeds the P
// it runs at.
func runIntModel(ctx context.Context, e *env, cmd string, args []string) error {
	fs := newFlags(e, cmd, "FILE [--mode exact|wrap|saturate] [--data D] [--limit N] [--json]   (FILE: an integer model written by a2q verify --save)")
	dataSpec := fs.String("data", "", "data set (empty: the embedded default); the test split is used")
	rf := addRunFlags(fs, "run at most this many test images (0: all)", "threads", true)
	asJSON := fs.Bool("json", false, "print JSON")
	var adversarial *bool
	if cmd == "verify" {
		adversarial = fs.Bool("adversarial", false, "also run each channel's extreme input vectors through its P-bit accumulator (wrap and saturate)")
	}
	path, err := parseOne(fs, args, "integer model file")
	if err != nil {
		return err
	}
	mode, err := rf.check()
	if err != nil {
		return err
	}
	im, err := intinfer.Load(path)
	if err != nil {
		return usageError{err}
	}
	eng, err := intinfer.NewEngine(im, intinfer.Options{Mode: mode, Threads: *rf.threads})
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	// As for a checkpoint: a zoo model's own data, an imported one's by
	// its task.
	open := func() (*data.Set, *data.Set, error) {
		return train.OpenDataFor(models.Task(im.Task), *dataSpec, im.Upscale(), 1)
	}
	if _, ok := models.TaskOf(im.Name); ok {
		open = func() (*data.Set, *data.Set, error) { return train.OpenData(im.Name, *dataSpec, im.Upscale(), 1) }
	}
	_, testSet, err := open()
	if err != nil {
		return usageError{fmt.Errorf("--data: %w", err)}
	}
	ev, err := intinfer.Evaluate(ctx, eng, testSet, intinfer.VerifyOptions{Limit: *rf.limit})
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	r := intModelReport{File: path, Model: im.Name, Task: im.Task, Certified: true, Evaluation: ev}
	score := ev.Score
	if im.Task == intinfer.TaskSuperResolve {
		r.TestPSNR = &score
	} else {
		r.TestAccuracy = &score
	}
	for _, l := range ev.Layers {
		r.Certified = r.Certified && l.Certified()
	}
	var advOverflows int64
	if adversarial != nil && *adversarial {
		if r.Adversarial, advOverflows, err = adversarialRun(im, nil, path); err != nil {
			return err
		}
		r.AdversarialOverflows = &advOverflows
	}
	if *asJSON {
		err = writeJSON(e.stdout, r)
	} else {
		err = writeIntModelText(e.stdout, &r)
	}
	if err != nil || cmd != "verify" {
		return err
	}
	switch {
	case ev.Overflows > 0:
		return checkFailed{fmt.Errorf("%d accumulator overflows in %s mode", ev.Overflows, mode)}
	case advOverflows > 0:
		return checkFailed{fmt.Errorf("%d accumulator overflows on adversarial inputs", advOverflows)}
	case !r.Certified:
		return checkFailed{fmt.Errorf("%s: a layer's exact accumulator width exceeds its P", path)}
	}
	return nil
}

func writeIntModelText(w io.Writer, r *intModelReport) error {
	fmt.Fprintf(w, "integer model %s (%s, %s), %s accumulators, %d test images:\n", r.File, r.Model, r.Task, r.Mode, r.Images)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tP\tP_exact\tcertified\tkernel\toverflows")
	var stages []stageRow
	for _, l := range r.Layers {
		st := stageRow{&l.LayerInfo, l.Overflows, l.OuterOverflows}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%s\t%d\n", l.Name, l.AccBits, l.AccBitsExact, l.Certified(), l.Impl, st.total())
		stages = append(stages, st)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeStages(w, stages); err != nil {
		return err
	}
	if r.TestPSNR != nil {
		fmt.Fprintf(w, "integer PSNR %.2f dB; overflows %d\n", *r.TestPSNR, r.Overflows)
	} else {
		fmt.Fprintf(w, "integer accuracy %.4f; overflows %d\n", *r.TestAccuracy, r.Overflows)
	}
	if r.Adversarial != nil {
		fmt.Fprintln(w, "\nadversarial inputs (each channel's extreme vectors):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tP\tP_exact\twrap overflows\tsaturate overflows")
		for _, a := range r.Adversarial {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", a.Name, a.AccBits, a.AccBitsExact, a.WrapOverflows, a.SaturateOverflows)
		}
		return tw.Flush()
	}
	return nil
}
