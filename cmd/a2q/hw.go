package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/hw"
	"github.com/a2qtoolkit/a2q/tensor"
)

const hwUsage = `CKPT [--pe N] [--simd N] [--synth [--layer NAME,...] [--family F] [--work DIR]] [--plot FILE.png] [--json]
(a QONNX FILE.onnx: a2q hw FILE.onnx -h)

FINN's analytical LUT estimate of every quantized layer at its certified accumulator
width (acc_bits_exact) and at P = 32. A tiled layer is estimated with two accumulators, the
inner one at its certified inner width (acc_bits_inner) and the outer one of
P_O = P_I + ceil(log2 tiles) bits, whose sum the thresholds compare (SIMD also divides the
tile); --synth builds one-stage units only and refuses a tiled layer. Each layer is folded with the largest PE dividing
its output channels that is at most --pe and the largest SIMD dividing K that is at
most --simd; multipliers in LUTs, weights and thresholds in LUTRAM; every layer but the
last ends in a thresholding stage of B = the next layer's input bits, the last outputs
its accumulator (B = 0).

--synth also writes each layer's Verilog unit (real weights and thresholds, one PE of
SIMD lanes: compare with --pe 1), simulates it with Icarus Verilog on real activations
of embedded test images (every accumulator checked against Go's int64 dot products) and
synthesises it with Yosys at both widths. Large layers take minutes each; --layer
selects some. Needs the Debian packages yosys and iverilog; nothing is installed.`

func runHW(ctx context.Context, e *env, args []string) error {
	if path := onnxArg(args); isONNX(path) && isQONNX(path) {
		return hwQONNX(ctx, e, args)
	}
	fs := newFlags(e, "hw", hwUsage)
	pe := fs.Int("pe", hw.DefaultPECap, "largest PE (processing elements) per layer")
	simd := fs.Int("simd", hw.DefaultSIMDCap, "largest SIMD (lanes per PE) per layer")
	synth := fs.Bool("synth", false, "synthesise with Yosys and simulate with Icarus Verilog")
	layers := fs.String("layer", "", "with --synth: comma-separated layers to synthesise (default: all)")
	family := fs.String("family", hw.DefaultFamily, "with --synth: Yosys flow, one of "+strings.Join(hw.Families(), ", "))
	work := fs.String("work", "", "with --synth: keep the Verilog, logs and statistics in this directory (default: a temporary one, removed)")
	images := fs.Int("images", 4, "with --synth: embedded test images whose activations drive the simulation")
	rows := fs.Int("rows", hw.DefaultSimRows, "with --synth: input rows (output pixels) simulated per layer")
	datapath := fs.Bool("datapath-only", false, "with --synth: leave the thresholding stage out of the synthesised units")
	threads := fs.Int("threads", runtime.NumCPU(), "threads")
	plotFile := fs.String("plot", "", "write a PNG bar chart of the per-layer LUTs to this file")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "checkpoint")
	if err != nil {
		return err
	}
	if *pe < 1 || *simd < 1 {
		return usagef("--pe %d and --simd %d must be positive", *pe, *simd)
	}
	if *images < 1 || *rows < 1 || *threads < 1 {
		return usagef("--images, --rows and --threads must be positive")
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	cost, err := hw.EstimateModel(m, *pe, *simd)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	var simErr error
	if *synth {
		if !slicesContain(hw.Families(), *family) {
			return usagef("--family %q: want one of %s", *family, strings.Join(hw.Families(), ", "))
		}
		x, err := testImages(m.Config.InC, m.Config.InH, m.Config.InW, *images)
		if err != nil {
			return usageError{err}
		}
		dir := *work
		if dir == "" {
			if dir, err = os.MkdirTemp("", "a2q-hw"); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
		} else {
			// A synthesis runs for minutes: hold the directory.
			unlock, err := fileio.Lock(dir)
			if err != nil {
				return usageError{fmt.Errorf("--work: %w", err)}
			}
			defer unlock()
		}
		// After the lock: a held --work directory is reported whether or
		// not the tools are installed.
		if err := hw.CheckTools(); err != nil {
			return usageError{err}
		}
		var names []string
		if *layers != "" {
			names = splitList(*layers)
		}
		err = hw.SynthesizeModel(ctx, m, cost, hw.SynthOptions{Family: *family, Layers: names, Dir: dir, Images: x,
			Rows: *rows, DatapathOnly: *datapath, Threads: *threads, Progress: e.stderr})
		var mismatch hw.SimMismatchError
		switch {
		case errors.As(err, &mismatch):
			simErr = checkFailed{err}
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			return usageError{err}
		}
	}
	if *plotFile != "" {
		var buf bytes.Buffer
		title := fmt.Sprintf("%s, %s hidden layers at P = %d: LUTs per layer", m.Config.Model, m.Config.Hidden.Mode, m.Config.Hidden.AccBits)
		if err := cost.WritePlotPNG(&buf, title); err != nil {
			return err
		}
		if err := fileio.WriteAtomic(*plotFile, buf.Bytes()); err != nil {
			return usageError{fmt.Errorf("--plot: %w", err)}
		}
	}
	if *asJSON {
		if err := writeJSON(e.stdout, cost); err != nil {
			return err
		}
	} else {
		writeHWText(e, cost, *synth)
	}
	return simErr
}

// testImages returns the first n embedded Fashion-MNIST test images in NHWC, or an error if
// the model's input is not their shape.
func testImages(c, h, w, n int) (*tensor.Tensor, error) {
	_, test, err := data.Default()
	if err != nil {
		return nil, err
	}
	if test.C != c || test.H != h || test.W != w {
		return nil, fmt.Errorf("--synth simulates on the embedded %s images (%d×%d×%d), which do not fit this model's %d×%d×%d input",
			test.Name, test.C, test.H, test.W, c, h, w)
	}
	n = min(n, test.N)
	x := tensor.New(n, h, w, c)
	tensor.NCHWToNHWC(x.Data, test.X[:n*test.Size()], n, c, h, w)
	return x, nil
}

func slicesContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeHWText(e *env, c *hw.ModelCost, synth bool) {
	w := e.stdout
	fmt.Fprintf(w, "%-8s %6s %5s %3s %3s %3s %3s %4s %4s %10s %10s %6s", "layer", "K", "out", "M", "N", "B", "PE", "SIMD", "P",
		"LUT est P", "est P=32", "ratio")
	if synth {
		fmt.Fprintf(w, " %10s %10s %6s %9s", "synth P", "synth 32", "ratio", "sim")
	}
	fmt.Fprintln(w)
	for _, l := range c.Layers {
		u := l.Unit
		fmt.Fprintf(w, "%-8s %6d %5d %3d %3d %3d %3d %4d %4d %10.0f %10.0f %5.2f×", l.Name, u.MW, u.MH, u.WeightBits, u.InputBits,
			u.OutputBits, u.PE, u.SIMD, l.AccBits, l.LUTEstimate, l.LUTEstimateP32, l.LUTEstimateP32/l.LUTEstimate)
		if synth {
			if l.LUTSynth != nil && l.LUTSynthP32 != nil {
				fmt.Fprintf(w, " %10d %10d %5.2f×", *l.LUTSynth, *l.LUTSynthP32, float64(*l.LUTSynthP32)/float64(*l.LUTSynth))
			} else {
				fmt.Fprintf(w, " %10s %10s %6s", "-", "-", "")
			}
			if l.Sim != nil {
				fmt.Fprintf(w, " %4d/%-4d", l.Sim.Passed, l.Sim.Passed+l.Sim.Failed)
			}
		}
		fmt.Fprintln(w)
	}
	for _, l := range c.Layers {
		if l.Tile > 0 {
			fmt.Fprintf(w, "%s: tiles of %d terms: P is the inner accumulators' width; the outer accumulator has P_O = %d bits (thresholds and comparators at %d)\n",
				l.Name, l.Tile, l.AccBitsOuter, l.AccBitsOuter)
		}
	}
	fmt.Fprintf(w, "total: %.0f LUTs at the certified widths, %.0f at P = 32: %.2f× fewer\n",
		c.TotalLUTEstimate, c.TotalLUTEstimateP32, c.Reduction)
}
