package main

// QONNX files (ONNX graphs with Quant nodes) in verify, eval, hw and
// inspect: the model is interpreted by package qonnx, fake-quantized in
// float and with its certifiable layers as exact integer dot products.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/hw"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/qonnx"
)

// isQONNX reports whether path is an ONNX file that decodes and has Quant
// nodes (a QONNX model). A file that does not decode is not: the command's
// own loader then names the problem. One that decodes to an impossible
// structure (qonnx.ErrInvalid) is, so that the QONNX flags parse and the
// QONNX loader names what is wrong.
func isQONNX(path string) bool {
	if !isONNX(path) {
		return false
	}
	m, err := qonnx.Load(path)
	return err == nil && m.HasQuant() || errors.Is(err, qonnx.ErrInvalid)
}

// onnxArg returns the first positional-looking argument naming an .onnx
// file, for commands that hand QONNX files to their own flag set.
func onnxArg(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && isONNX(a) {
			return a
		}
	}
	return ""
}

// loadQONNX loads a QONNX file for a command (bad input: exit 2).
func loadQONNX(path string) (*qonnx.Model, error) {
	m, err := qonnx.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	if !m.HasQuant() {
		return nil, usagef("%s has no Quant nodes: it is a float ONNX network, not a QONNX model", path)
	}
	return m, nil
}

// --- inputs ---------------------------------------------------------------

// qonnxInput returns the model's one graph input and its shape: the
// declared one with a symbolic batch dimension read as 1, or the --shape
// override (same rank).
func qonnxInput(m *qonnx.Model, override string) (string, []int, error) {
	ins := m.Graph.Inputs
	if len(ins) != 1 {
		return "", nil, usagef("%s has %d graph inputs; a2q feeds models with one input", m.Path, len(ins))
	}
	in := ins[0]
	if in.ElemType != 1 { // FLOAT
		return "", nil, usagef("%s: graph input %q has element type %d, a2q feeds float (1) inputs", m.Path, in.Name, in.ElemType)
	}
	if override != "" {
		var shape []int
		for _, f := range strings.Split(override, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 {
				return "", nil, usagef("--shape %q: want positive comma-separated dimensions such as 1,3,64,64", override)
			}
			shape = append(shape, v)
		}
		if in.Shape != nil && len(shape) != len(in.Shape) {
			return "", nil, usagef("--shape %q has rank %d, graph input %q has rank %d %v", override, len(shape), in.Name, len(in.Shape), in.Shape)
		}
		size := 1
		for _, d := range shape {
			if size > qonnx.MaxElements/d {
				return "", nil, usagef("--shape %q has more than %d elements", override, qonnx.MaxElements)
			}
			size *= d
		}
		return in.Name, shape, nil
	}
	if in.Shape == nil {
		return "", nil, usagef("%s: graph input %q declares no shape; give --shape", m.Path, in.Name)
	}
	shape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		switch {
		case d > 0:
			shape[i] = int(d)
		case i == 0:
			shape[i] = 1
		default:
			return "", nil, usagef("%s: graph input %q dimension %d is symbolic (%v); give --shape", m.Path, in.Name, i, in.Shape)
		}
	}
	return in.Name, shape, nil
}

// randomInputs draws n inputs of the given shape: integers uniform on the
// grid of the Quant node that quantizes the graph input (through Relu,
// reshapes, ...) when there is one, else values uniform in [0, 1). It
// returns them and a description of where they come from.
func randomInputs(m *qonnx.Model, name string, shape []int, n int, seed uint64) ([]map[string]*qonnx.Tensor, string, error) {
	size := 1
	for _, d := range shape {
		size *= d
	}
	if size > qonnx.MaxElements {
		return nil, "", usagef("input shape %v has more than %d elements", shape, qonnx.MaxElements)
	}
	rng := rand.New(rand.NewPCG(seed, 0xa2))
	var aq *qonnx.ActQuant
	source := "uniform random values in [0, 1)"
	if q := m.InputQuant(name); q != nil {
		a, err := m.ActQuant(q)
		if err == nil && a.Bits <= 24 {
			aq = &a
			sign := "unsigned"
			if a.Signed {
				sign = "signed"
			}
			source = fmt.Sprintf("uniform random integers on the grid of the input quantizer %s (%d-bit %s, scale %g)", q.Name, a.Bits, sign, a.Scale)
		}
	}
	inputs := make([]map[string]*qonnx.Tensor, n)
	for i := range inputs {
		x := make([]float32, size)
		if aq != nil {
			lo, hi := aq.Range()
			span := int64(hi-lo) + 1
			for j := range x {
				q := float64(int64(lo) + rng.Int64N(span))
				x[j] = float32((q - aq.ZeroPoint) * aq.Scale)
			}
		} else {
			for j := range x {
				x[j] = rng.Float32()
			}
		}
		inputs[i] = map[string]*qonnx.Tensor{name: qonnx.NewFloat(x, shape...)}
	}
	return inputs, source, nil
}

// qonnxTask is what a QONNX model computes, as its output tells: a class
// vector per image, or an image scale× its input.
type qonnxTask struct {
	classes int // classifier: number of outputs
	scale   int // super-resolution: upscaling factor
	out     []int
}

// probeTask runs m once on zeros of the input shape and reads the task from
// its first output's shape.
func probeTask(ctx context.Context, m *qonnx.Model, name string, shape []int) (qonnxTask, error) {
	size := 1
	for _, d := range shape {
		size *= d
	}
	res, err := m.Run(ctx, map[string]*qonnx.Tensor{name: qonnx.NewFloat(make([]float32, size), shape...)}, qonnx.RunOptions{})
	if err != nil {
		return qonnxTask{}, usageError{err}
	}
	out := res.Outputs[m.Graph.Outputs[0].Name].Shape
	t := qonnxTask{out: out}
	switch {
	case len(out) == 2 && out[0] == shape[0] && len(shape) == 4:
		t.classes = out[1]
	case len(out) == 4 && len(shape) == 4 && out[1] == shape[1] && out[2]%shape[2] == 0 && out[3]%shape[3] == 0 &&
		out[2]/shape[2] == out[3]/shape[3] && out[2]/shape[2] >= 2 && shape[2] == shape[3]:
		t.scale = out[2] / shape[2]
	}
	return t, nil
}

// qonnxTestSet opens the test split of data set spec as inputs of the
// given N×C×H×W shape: images with labels for a classifier, tiles of
// photographs (H·scale on a side, their downscaled versions as inputs) for
// a super-resolution network. A data set that does not fit the model is
// an error saying why.
func qonnxTestSet(t qonnxTask, spec string, shape []int) (*data.Set, error) {
	c, h, w := shape[1], shape[2], shape[3]
	switch {
	case t.classes > 0:
		_, test, err := data.Open(spec)
		if err != nil {
			return nil, usageError{err}
		}
		if test.C != c || test.H != h || test.W != w {
			return nil, usagef("--data: %s images are %d×%d×%d, the model takes %d×%d×%d", test.Name, test.C, test.H, test.W, c, h, w)
		}
		if test.Classes > t.classes {
			return nil, usagef("--data: %s has %d classes, the model outputs %d scores", test.Name, test.Classes, t.classes)
		}
		return test, nil
	case t.scale > 0:
		_, test, err := data.OpenSR(spec, data.SROptions{Scale: t.scale, Crop: h * t.scale, Luma: c == 1, Seed: 1, CropsPerImage: 1})
		if err != nil {
			return nil, usageError{err}
		}
		if test.C != c || test.TC != c {
			return nil, usagef("--data: %s images have %d channels, the model takes %d", test.Name, test.C, c)
		}
		if test.N == 0 {
			return nil, usagef("--data: no %d×%d tile fits in the test photographs of %s; give a smaller --shape", h*t.scale, h*t.scale, test.Name)
		}
		return test, nil
	}
	return nil, usagef("the model maps %v inputs to %v: neither one score vector per image (a classifier) nor an image an integer factor larger (super-resolution), so no data set fits it", shape, t.out)
}

// setInputs returns the first n examples of s (all if n is 0) as inputs.
// testInputs returns at most limit test images of the data set spec (all:
// 0) that fit m's image input name (shape N×C×H×W, set to N = 1: the
// images run one at a time), with the set and the task m's output shows.
func testInputs(ctx context.Context, m *qonnx.Model, name string, shape []int, spec string, limit int) ([]map[string]*qonnx.Tensor, *data.Set, qonnxTask, error) {
	if len(shape) != 4 {
		return nil, nil, qonnxTask{}, usagef("%s: the model's input %v is not an N×C×H×W image: test images do not fit it", m.Path, shape)
	}
	shape[0] = 1
	t, err := probeTask(ctx, m, name, shape)
	if err != nil {
		return nil, nil, t, err
	}
	set, err := qonnxTestSet(t, spec, shape)
	if err != nil {
		return nil, nil, t, err
	}
	return setInputs(set, name, limit), set, t, nil
}

func setInputs(s *data.Set, name string, n int) []map[string]*qonnx.Tensor {
	if n <= 0 || n > s.N {
		n = s.N
	}
	inputs := make([]map[string]*qonnx.Tensor, n)
	for i := range inputs {
		inputs[i] = map[string]*qonnx.Tensor{name: qonnx.NewFloat(append([]float32(nil), s.Example(i)...), 1, s.C, s.H, s.W)}
	}
	return inputs
}

// parallel calls f(i) for i in [0, n) on threads goroutines and returns
// the first error.
func parallel(ctx context.Context, n, threads int, f func(i int) error) error {
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	next := 0
	for range max(1, min(threads, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// --- verify ---------------------------------------------------------------

const qonnxVerifyUsage = `FILE.onnx [--acc-bits P] [--limit N] [--data D] [--shape N,C,H,W] [--seed S] [--json]

Runs a QONNX model on each input fake-quantized in float32, and with every certifiable layer
as exact int64 integer dot products whose partial sums are counted against a P-bit range. P
is --acc-bits for the hidden layers (a first or last layer that the file's a2q.certificates
metadata, written by 'a2q export', marks as an edge keeps the width it claims), else the width
the file claims for the layer, else the layer's exact width P_exact.
Inputs: random integers on the grid of the input's Quant node if the graph input is
quantized, else uniform random values in [0, 1); with --data, test images that fit the model.
Every quantized activation of the two runs is compared. The check passes when, with each
integer layer fed the fake-quantized run's own input, no activation differs by more than one
quantizer step and at most 0.1% differ: float32 accumulation may put a value on the other
side of a rounding tie. In the free integer run such a step propagates, and the report
counts it. Layers whose input is not quantized run in float and keep the model from being
certified; they fail no check.

Exit 1 when a partial sum overflows its P, a layer is not certified at --acc-bits, a claim in
the file does not hold for its weights, or the runs disagree beyond rounding ties.`

// qonnxVerifyLayer is one certifiable layer in `a2q verify FILE.onnx`: its
// certificate at the P it ran with, and the integer run's counts.
type qonnxVerifyLayer struct {
	accum.Certificate
	// AccBitsFrom says where P comes from: "--acc-bits", "claim" (the
	// file's metadata) or "exact" (the layer's exact width).
	AccBitsFrom          string            `json:"acc_bits_from"`
	Overflows            int64             `json:"overflows"`
	OverflowedOutputs    int64             `json:"overflowed_outputs"`
	Outputs              int64             `json:"outputs"`
	AccMinSeen           int64             `json:"acc_min_seen"`
	AccMaxSeen           int64             `json:"acc_max_seen"`
	ActivationValues     int64             `json:"activation_values"`
	ActivationMismatches int64             `json:"activation_mismatches"`
	ActivationMaxDiff    float64           `json:"activation_max_diff_steps"`
	OutputQuant          string            `json:"output_quant,omitempty"`
	IsolatedValues       int64             `json:"isolated_values"`
	IsolatedDiffer       int64             `json:"isolated_differ"`
	IsolatedMaxDiff      float64           `json:"isolated_max_diff_steps"`
	Claim                *qonnx.ClaimCheck `json:"claim,omitempty"`
}

// qonnxVerifyReport is the JSON document of `a2q verify FILE.onnx`.
type qonnxVerifyReport struct {
	File string `json:"file"`
	// AccBits is --acc-bits (0: each layer's own P).
	AccBits     int                `json:"acc_bits"`
	Inputs      int                `json:"inputs"`
	InputShape  []int              `json:"input_shape"`
	InputSource string             `json:"input_source"`
	Layers      []qonnxVerifyLayer `json:"layers"`
	// Uncertifiable layers run in float in both runs.
	Uncertifiable []qonnx.Uncertifiable      `json:"uncertifiable"`
	Claims        []qonnx.ClaimCheck         `json:"claims,omitempty"`
	Unclaimed     []string                   `json:"unclaimed,omitempty"`
	ClaimsHold    bool                       `json:"claims_hold"`
	Outputs       []qonnx.OutputVerification `json:"outputs"`
	Overflows     int64                      `json:"overflows"`
	// IntegerMatchesFakeQuant: every quantized activation is equal in the
	// integer and fake-quantized runs (Differ of QuantizedValues differ, by
	// up to MaxDiffSteps). WithinTies is the pass criterion: with every
	// integer layer fed the fake-quantized run's input, at most 0.1% of
	// the activations differ (IsolatedDiffer), by at most one step.
	IntegerMatchesFakeQuant bool    `json:"integer_matches_fake_quant"`
	QuantizedValues         int64   `json:"quantized_values"`
	Differ                  int64   `json:"differ"`
	MaxDiffSteps            float64 `json:"max_diff_steps"`
	IsolatedDiffer          int64   `json:"isolated_differ"`
	IsolatedMaxDiffSteps    float64 `json:"isolated_max_diff_steps"`
	WithinTies              bool    `json:"within_ties"`
	Sparsity                float64 `json:"sparsity"`
	CompressionRate         float64 `json:"compression_rate"`
	// Certified: every Conv/Gemm/MatMul layer is certifiable and certified
	// at its P. Verdict says it in words.
	Certified bool   `json:"certified"`
	Verdict   string `json:"verdict"`
}

func verifyQONNX(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify", qonnxVerifyUsage)
	accBits := fs.Int("acc-bits", 0, "accumulator bits P of the hidden integer layers (0: the file's claim for the layer, else its exact width; edge layers keep their claim)")
	rf := addRunFlags(fs, "number of inputs (0: 4 random inputs, or every test image of --data)", "inputs run at once", false)
	dataSpec := fs.String("data", "", "feed test images of this data set (they must fit the model) instead of random inputs")
	shapeSpec := fs.String("shape", "", "input shape N,C,H,W instead of the declared one (fully convolutional models accept other sizes)")
	seed := fs.Uint64("seed", 1, "seed of the random inputs")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "QONNX file")
	if err != nil {
		return err
	}
	if err := checkAccBitsFlag("--acc-bits", *accBits, true); err != nil {
		return err
	}
	if _, err := rf.check(); err != nil {
		return err
	}
	m, err := loadQONNX(path)
	if err != nil {
		return err
	}
	r, err := qonnx.Inspect(m, *accBits)
	if err != nil {
		return usageError{err}
	}
	name, shape, err := qonnxInput(m, *shapeSpec)
	if err != nil {
		return err
	}
	var inputs []map[string]*qonnx.Tensor
	var source string
	if *dataSpec != "" {
		in, set, _, err := testInputs(ctx, m, name, shape, *dataSpec, *rf.limit)
		if err != nil {
			return err
		}
		inputs, source = in, fmt.Sprintf("test images of %s", set.Name)
	} else {
		n := *rf.limit
		if n == 0 {
			n = 4
		}
		if inputs, source, err = randomInputs(m, name, shape, n, *seed); err != nil {
			return err
		}
	}
	// Each layer's P: --acc-bits, the file's claim, or its exact width.
	claimed := make(map[string]qonnx.ClaimCheck)
	for _, c := range r.Claims {
		if _, dup := claimed[c.Name]; !dup {
			claimed[c.Name] = c
		}
	}
	widths := make(map[string]int, len(r.Layers))
	if r.Uncertifiable == nil {
		r.Uncertifiable = []qonnx.Uncertifiable{}
	}
	rep := qonnxVerifyReport{File: path, AccBits: *accBits, Inputs: len(inputs), InputShape: shape, InputSource: source,
		Uncertifiable: r.Uncertifiable, Claims: r.Claims, Unclaimed: r.Unclaimed, ClaimsHold: r.ClaimsHold,
		Sparsity: r.Sparsity, CompressionRate: r.CompressionRate}
	for _, c := range r.Layers {
		cl, hasClaim := claimed[c.Name]
		validClaim := hasClaim && accum.CheckAccBits(cl.AccBits) == nil
		p, from := c.AccBitsTarget, "--acc-bits"
		switch {
		case *accBits > 0 && validClaim && cl.Edge:
			from = "claim" // Inspect keeps an edge layer's claimed P
		case *accBits > 0:
		case validClaim:
			p, from = cl.AccBits, "claim"
		default:
			p, from = max(c.NeededBits(), accum.MinAccBits), "exact"
		}
		l := qonnxVerifyLayer{Certificate: c.WithTarget(p), AccBitsFrom: from}
		if hasClaim {
			l.Claim = &cl
		}
		widths[c.Name] = l.AccBitsTarget
		rep.Layers = append(rep.Layers, l)
	}
	if len(rep.Layers) == 0 {
		return usagef("%s: no layer can run as integers: %s", path, uncertifiableList(r.Uncertifiable))
	}
	v, err := m.Verify(ctx, inputs, qonnx.VerifyOptions{LayerAccBits: widths, Threads: *rf.threads})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return usageError{err}
	}
	byName := make(map[string]qonnx.LayerVerification, len(v.Layers))
	for _, lv := range v.Layers {
		byName[lv.Name] = lv
	}
	var overflowed, uncertified []string
	for i := range rep.Layers {
		l := &rep.Layers[i]
		lv := byName[l.Name]
		l.Overflows, l.OverflowedOutputs, l.Outputs = lv.Overflows, lv.OverflowedOutputs, lv.Outputs
		l.AccMinSeen, l.AccMaxSeen = lv.AccMinSeen, lv.AccMaxSeen
		l.ActivationValues, l.ActivationMismatches, l.ActivationMaxDiff = lv.ActivationValues, lv.ActivationMismatches, lv.ActivationMaxDiff
		l.OutputQuant, l.IsolatedValues, l.IsolatedDiffer, l.IsolatedMaxDiff = lv.OutputQuant, lv.TieValues, lv.TieDiffer, lv.TieMaxDiff
		if l.Overflows > 0 {
			overflowed = append(overflowed, fmt.Sprintf("%s (%d at P = %d)", l.Name, l.Overflows, l.AccBitsTarget))
		}
		if !l.Certified {
			what := "P_exact"
			if l.Tile > 0 {
				what = "P_I (tiles of " + strconv.Itoa(l.Tile) + ")"
			}
			uncertified = append(uncertified, fmt.Sprintf("%s (%s %d > P = %d)", l.Name, what, l.NeededBits(), l.AccBitsTarget))
		}
	}
	rep.Outputs, rep.Overflows = v.Outputs, v.Overflows
	rep.IntegerMatchesFakeQuant, rep.QuantizedValues, rep.Differ, rep.MaxDiffSteps, rep.WithinTies =
		v.IntegerMatchesFakeQuant, v.QuantizedValues, v.Differ, v.MaxDiffSteps, v.WithinTies
	rep.IsolatedDiffer, rep.IsolatedMaxDiffSteps = v.IsolatedDiffer, v.IsolatedMaxDiffSteps
	rep.Certified = len(uncertified) == 0 && len(r.Uncertifiable) == 0
	switch {
	case len(uncertified) > 0:
		rep.Verdict = fmt.Sprintf("not certified: %s", strings.Join(uncertified, ", "))
	case len(r.Uncertifiable) > 0:
		rep.Verdict = fmt.Sprintf("not certified: %d of %d layers cannot be certified and run in float (%s); the other %d are certified at their P",
			len(r.Uncertifiable), len(r.Uncertifiable)+len(rep.Layers), uncertifiableList(r.Uncertifiable), len(rep.Layers))
	default:
		rep.Verdict = fmt.Sprintf("certified: every one of the %d layers fits its P", len(rep.Layers))
	}
	if !rep.ClaimsHold {
		rep.Verdict += fmt.Sprintf("; the file's claim does not hold for %s", strings.Join(r.FailedClaims(), ", "))
	}
	if *asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else if err := writeQONNXVerifyText(e.stdout, &rep); err != nil {
		return err
	}
	switch {
	case !rep.ClaimsHold:
		return checkFailed{fmt.Errorf("%s: the certificate the file claims does not hold for %s", path, strings.Join(r.FailedClaims(), ", "))}
	case rep.Overflows > 0:
		return checkFailed{fmt.Errorf("%s: %d accumulator overflows: %s", path, rep.Overflows, strings.Join(overflowed, ", "))}
	case *accBits > 0 && len(uncertified) > 0:
		return checkFailed{fmt.Errorf("%s: not certified at P = %d: %s", path, *accBits, strings.Join(uncertified, ", "))}
	case !rep.WithinTies:
		return checkFailed{fmt.Errorf("%s: integer layers fed the fake-quantized inputs differ beyond rounding ties: %d of %d quantized values, up to %.3g step(s)",
			path, rep.IsolatedDiffer, rep.QuantizedValues, rep.IsolatedMaxDiffSteps)}
	}
	return nil
}

// uncertifiableList names the layers with their reasons.
func uncertifiableList(us []qonnx.Uncertifiable) string {
	var s []string
	for _, u := range us {
		s = append(s, fmt.Sprintf("%s: %s", u.Name, u.Reason))
	}
	return strings.Join(s, "; ")
}

func writeQONNXVerifyText(w io.Writer, r *qonnxVerifyReport) error {
	fmt.Fprintf(w, "%s: %d inputs of shape %v, %s\n", r.File, r.Inputs, r.InputShape, r.InputSource)
	certs := make([]accum.Certificate, len(r.Layers))
	for i, l := range r.Layers {
		certs[i] = l.Certificate
	}
	if err := accum.WriteTable(w, certs); err != nil {
		return err
	}
	for _, u := range r.Uncertifiable {
		fmt.Fprintf(w, "not certifiable: %s (%s): %s; it runs in float\n", u.Name, u.Kind, u.Reason)
	}
	fmt.Fprintln(w, "\ninteger execution against fake-quant:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tP\tfrom\tP_exact\toverflows\toverflowed outputs\tpartial sums seen\tinput mismatches (steps)\tisolated: next Quant\tties (steps)")
	for _, l := range r.Layers {
		next, ties := "-", "-"
		if l.OutputQuant != "" {
			next, ties = l.OutputQuant, fmt.Sprintf("%d/%d (%.3g)", l.IsolatedDiffer, l.IsolatedValues, l.IsolatedMaxDiff)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d/%d\t[%d, %d]\t%d/%d (%.3g)\t%s\t%s\n", l.Name, l.AccBitsTarget, l.AccBitsFrom, l.AccBitsExact,
			l.Overflows, l.OverflowedOutputs, l.Outputs, l.AccMinSeen, l.AccMaxSeen, l.ActivationMismatches, l.ActivationValues, l.ActivationMaxDiff, next, ties)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Outputs {
		if o.Quant != "" {
			fmt.Fprintf(w, "output %s (from %s): %d of %d values differ, by at most %.3g step(s)\n", o.Name, o.Quant, o.Differ, o.Values, o.MaxDiffSteps)
		} else {
			fmt.Fprintf(w, "output %s (float): %d of %d values differ, by at most %.3g\n", o.Name, o.Differ, o.Values, o.MaxAbsDiff)
		}
	}
	if r.Claims != nil {
		fmt.Fprintln(w)
		if err := writeClaims(w, r.Claims, r.Unclaimed); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\noverflows %d; integer matches fake-quant: %v (%d of %d quantized activations differ, by at most %.3g step(s))\n",
		r.Overflows, r.IntegerMatchesFakeQuant, r.Differ, r.QuantizedValues, r.MaxDiffSteps)
	fmt.Fprintf(w, "each integer layer on the fake-quantized inputs: %d differ, by at most %.3g step(s); within rounding ties (≤ 1 step, ≤ 0.1%%): %v\n",
		r.IsolatedDiffer, r.IsolatedMaxDiffSteps, r.WithinTies)
	_, err := fmt.Fprintf(w, "verdict: %s\n", r.Verdict)
	return err
}

// writeClaims prints the file's claims against the recomputed certificates.
func writeClaims(w io.Writer, checks []qonnx.ClaimCheck, unclaimed []string) error {
	fmt.Fprintf(w, "certificates the file claims (%s), recomputed from its weights:\n", qonnx.CertificatesKey)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tclaimed P\tbound\tclaimed range\tP_exact\trange\tholds")
	for _, c := range checks {
		got, rng := "-", "-"
		if c.Recomputed {
			got, rng = strconv.Itoa(c.RecomputedAccBits), fmt.Sprintf("[%d, %d]", c.RecomputedAccMin, c.RecomputedAccMax)
		}
		holds := "yes"
		if !c.Holds {
			holds = "NO: " + c.Reason
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t[%d, %d]\t%s\t%s\t%s\n", c.Name, c.AccBits, c.Bound, c.AccMin, c.AccMax, got, rng, holds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unclaimed) > 0 {
		fmt.Fprintf(w, "no claim for: %s\n", strings.Join(unclaimed, ", "))
	}
	return nil
}

// --- inspect --------------------------------------------------------------

// --- hw -------------------------------------------------------------------

// qonnxThreshold says where a layer's thresholding stage gets its output
// bits B in `a2q hw FILE.onnx`.
type qonnxThreshold struct {
	Layer      string `json:"layer"`
	OutputBits int    `json:"output_bits"`
	// Quant is the Quant node whose bit width B is ("" for B = 0).
	Quant string `json:"quant,omitempty"`
}

// qonnxHWReport is the JSON document of `a2q hw FILE.onnx`.
type qonnxHWReport struct {
	File string `json:"file"`
	*hw.ModelCost
	Thresholds    []qonnxThreshold      `json:"thresholds"`
	Uncertifiable []qonnx.Uncertifiable `json:"uncertifiable"`
}

// qonnxSpecs describes the certifiable layers of m for hw.EstimateLayers:
// each layer's certificate, and B = the bit width of the Quant node its
// output reaches (through bias, batch norm, ReLU, pooling, reshapes) when
// that Quant is the input quantizer of another certifiable layer, else 0
// (the last layer outputs its accumulator, as for checkpoints).
func qonnxSpecs(m *qonnx.Model, r qonnx.Report) ([]hw.LayerSpec, []qonnxThreshold, error) {
	layers, err := m.Layers()
	if err != nil {
		return nil, nil, err
	}
	certs := make(map[string]accum.Certificate, len(r.Layers))
	for _, c := range r.Layers {
		certs[c.Name] = c
	}
	inputQuant := make(map[*qonnx.Node]bool)
	for i := range layers {
		if layers[i].Certifiable() {
			inputQuant[layers[i].InputQuant] = true
		}
	}
	var specs []hw.LayerSpec
	var thr []qonnxThreshold
	for i := range layers {
		l := &layers[i]
		c, ok := certs[l.Name]
		if !l.Certifiable() || !ok {
			continue
		}
		t := qonnxThreshold{Layer: l.Name}
		if q := m.OutputQuant(l); q != nil && inputQuant[q] {
			a, err := m.ActQuant(q)
			if err == nil && a.Bits <= hw.MaxOutputBits {
				t.OutputBits, t.Quant = a.Bits, q.Name
			}
		}
		specs = append(specs, hw.LayerSpec{Cert: c, OutputBits: t.OutputBits})
		thr = append(thr, t)
	}
	return specs, thr, nil
}

const qonnxHWUsage = `FILE.onnx [--pe N] [--simd N] [--plot FILE.png] [--json]

FINN's analytical LUT estimate of every certifiable layer of a QONNX file at its exact
accumulator width (acc_bits_exact) and at P = 32, folded as for checkpoints (the largest PE
dividing the output channels up to --pe, the largest SIMD dividing K up to --simd). A layer
ends in a thresholding stage of B = the bit width of the Quant node its output reaches through
bias, batch norm, ReLU, pooling and reshapes, when that Quant is the input quantizer of a
later layer; otherwise B = 0 (it outputs its accumulator). Layers with unquantized inputs have
no integer datapath and are left out. --synth needs a checkpoint.`

func hwQONNX(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "hw", qonnxHWUsage)
	pe := fs.Int("pe", hw.DefaultPECap, "largest PE (processing elements) per layer")
	simd := fs.Int("simd", hw.DefaultSIMDCap, "largest SIMD (lanes per PE) per layer")
	synth := fs.Bool("synth", false, "synthesise (checkpoints only)")
	plotFile := fs.String("plot", "", "write a PNG bar chart of the per-layer LUTs to this file")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "QONNX file")
	if err != nil {
		return err
	}
	if *synth {
		return usagef("--synth simulates layers on a checkpoint's captured activations; %s is a QONNX file", path)
	}
	if *pe < 1 || *simd < 1 {
		return usagef("--pe %d and --simd %d must be positive", *pe, *simd)
	}
	m, err := loadQONNX(path)
	if err != nil {
		return err
	}
	r, err := qonnx.Inspect(m, 0)
	if err != nil {
		return usageError{err}
	}
	specs, thr, err := qonnxSpecs(m, r)
	if err != nil {
		return usageError{err}
	}
	if len(specs) == 0 {
		return usagef("%s: no layer has an integer datapath: %s", path, uncertifiableList(r.Uncertifiable))
	}
	cost, err := hw.EstimateLayers(specs, *pe, *simd)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	if *plotFile != "" {
		var buf bytes.Buffer
		if err := cost.WritePlotPNG(&buf, fmt.Sprintf("%s: LUTs per layer", m.Path)); err != nil {
			return err
		}
		if err := fileio.WriteAtomic(*plotFile, buf.Bytes()); err != nil {
			return usageError{fmt.Errorf("--plot: %w", err)}
		}
	}
	if *asJSON {
		if r.Uncertifiable == nil {
			r.Uncertifiable = []qonnx.Uncertifiable{}
		}
		return writeJSON(e.stdout, qonnxHWReport{File: path, ModelCost: cost, Thresholds: thr, Uncertifiable: r.Uncertifiable})
	}
	writeHWText(e, cost, false)
	for _, t := range thr {
		if t.Quant != "" {
			fmt.Fprintf(e.stdout, "%s: B = %d from %s\n", t.Layer, t.OutputBits, t.Quant)
		} else {
			fmt.Fprintf(e.stdout, "%s: B = 0 (no later layer's input quantizer follows: it outputs its accumulator)\n", t.Layer)
		}
	}
	for _, u := range r.Uncertifiable {
		fmt.Fprintf(e.stdout, "left out: %s (%s): %s\n", u.Name, u.Kind, u.Reason)
	}
	return nil
}

// --- eval -----------------------------------------------------------------

// qonnxEvalReport is the JSON document of `a2q eval FILE.onnx`.
type qonnxEvalReport struct {
	File         string   `json:"file"`
	Task         string   `json:"task"`
	Data         string   `json:"data"`
	Images       int      `json:"images"`
	InputShape   []int    `json:"input_shape"`
	TestAccuracy *float64 `json:"test_accuracy"`
	TestPSNR     *float64 `json:"test_psnr"`
}

func evalQONNX(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "eval", "FILE.onnx [--data D] [--limit N] [--shape N,C,H,W] [--json]\n\nRuns a QONNX model fake-quantized on the test split of a data set that fits it: accuracy for\na classifier (one score vector per image), PSNR for a super-resolution network (tiles of\nphotographs H·scale on a side).")
	dataSpec := fs.String("data", "", "data set (empty: the embedded default)")
	rf := addRunFlags(fs, "evaluate at most this many test images (0: all)", "images run at once", false)
	shapeSpec := fs.String("shape", "", "input shape N,C,H,W instead of the declared one (fully convolutional models accept other sizes)")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "QONNX file")
	if err != nil {
		return err
	}
	if _, err := rf.check(); err != nil {
		return err
	}
	m, err := loadQONNX(path)
	if err != nil {
		return err
	}
	name, shape, err := qonnxInput(m, *shapeSpec)
	if err != nil {
		return err
	}
	inputs, set, t, err := testInputs(ctx, m, name, shape, *dataSpec, *rf.limit)
	if err != nil {
		return err
	}
	scores := make([]float64, len(inputs))
	out := m.Graph.Outputs[0].Name
	err = parallel(ctx, len(inputs), *rf.threads, func(i int) error {
		res, err := m.Run(ctx, inputs[i], qonnx.RunOptions{})
		if err != nil {
			return err
		}
		y := res.Outputs[out].Floats()
		if t.classes > 0 {
			if metrics.Argmax(y) == set.Labels[i] {
				scores[i] = 1
			}
			return nil
		}
		target := set.Target(i)
		if len(y) != len(target) {
			return fmt.Errorf("%s: output of %d values for a target of %d", path, len(y), len(target))
		}
		scores[i] = metrics.ImagePSNR(y, target)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return usageError{err}
	}
	var sum float64
	for _, s := range scores {
		sum += s
	}
	mean := sum / float64(len(scores))
	rep := qonnxEvalReport{File: path, Data: set.Name, Images: len(inputs), InputShape: shape}
	if t.classes > 0 {
		rep.Task, rep.TestAccuracy = "classify", &mean
	} else {
		rep.Task, rep.TestPSNR = "super-resolution", &mean
	}
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	if t.classes > 0 {
		_, err = fmt.Fprintf(e.stdout, "%s (fake-quant): test accuracy %.4f on %d images of %s\n", path, mean, len(inputs), set.Name)
	} else {
		_, err = fmt.Fprintf(e.stdout, "%s (fake-quant, ×%d): test PSNR %.2f dB on %d %d×%d tiles of %s\n", path, t.scale, mean, len(inputs), set.TH, set.TW, set.Name)
	}
	return err
}
