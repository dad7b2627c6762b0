package hw

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/tensor"
)

// DefaultFamily is the Yosys flow SynthesizeModel uses unless told otherwise: 7-series LUTs
// with the multipliers in LUTs, the configuration FINN's LUT model describes.
const DefaultFamily = "xilinx-nodsp"

// DefaultSimRows is the number of input rows (output pixels) per layer simulated by default.
const DefaultSimRows = 16

// SynthOptions configures SynthesizeModel.
type SynthOptions struct {
	// Family is a Yosys flow from Families(); empty means DefaultFamily.
	Family string
	// Layers names the layers to synthesise; empty means every quantized layer. Synthesis of
	// a large layer (thousands of weights, a thresholding stage of 255 comparators) takes
	// minutes per width.
	Layers []string
	// Dir is the work directory; each layer and width gets a subdirectory named after its
	// module (e.g. conv2_p16) holding the Verilog, testbench, Yosys script, log and statistics.
	Dir string
	// Images are the test images (NHWC, values in [0, 1]) whose activations feed the
	// simulation; Rows is the number of input rows simulated per layer (0: DefaultSimRows).
	Images *tensor.Tensor
	Rows   int
	// DatapathOnly leaves out the thresholding stage, synthesising the dot-product datapath
	// alone.
	DatapathOnly bool
	// Threads for the forward pass; Progress, when not nil, receives one line per step.
	Threads  int
	Progress io.Writer
}

// SimMismatchError reports a layer whose simulated accumulators (or activations) differ
// from Go's int64 dot products: a bug in the generated RTL or a too narrow accumulator.
type SimMismatchError struct {
	Layer          string
	Passed, Failed int
	Dir            string
}

func (e SimMismatchError) Error() string {
	return fmt.Sprintf("hw: layer %s: %d of %d simulated outputs differ from Go's int64 dot products (see %s)",
		e.Layer, e.Failed, e.Passed+e.Failed, e.Dir)
}

// CheckTools returns ErrToolMissing for the first of yosys, iverilog and vvp not in PATH.
func CheckTools() error {
	for _, t := range [][2]string{{"yosys", "yosys"}, {"iverilog", "iverilog"}, {"vvp", "iverilog"}} {
		if _, err := lookTool(t[0], t[1]); err != nil {
			return err
		}
	}
	return nil
}

// SynthesizeModel synthesises the selected layers of mc (from EstimateModel on m) with Yosys
// at their certified width and at ReferenceAccBits, filling LUTSynth, LUTSynthP32, Synth and
// SynthP32. Each unit holds the layer's real integer weights and, unless DatapathOnly, the
// thresholds LayerThresholds derives (layers before the last); it has one PE of the layer's
// SIMD lanes, so compare its LUTs with an estimate at PE = 1. Before synthesis at the
// certified width, the unit is simulated with Icarus Verilog on im2col rows of the layer's
// real integer inputs (CaptureInputs on o.Images, InputRows), and the testbench checks every
// accumulator against Go's int64 dot product; Sim holds the result. A simulated mismatch gives
// a SimMismatchError after the remaining layers are done; a missing tool gives ErrToolMissing
// before anything runs. The generator builds one-stage units only: a selected tiled layer is
// an error naming it, before anything runs.
func SynthesizeModel(ctx context.Context, m *models.Model, mc *ModelCost, o SynthOptions) error {
	// The request is checked before the tools are looked for: an
	// impossible one gets its own error whether or not they are installed.
	if o.Family == "" {
		o.Family = DefaultFamily
	}
	if _, ok := families[o.Family]; !ok {
		return fmt.Errorf("hw: unknown synthesis family %q (have %v)", o.Family, Families())
	}
	if o.Dir == "" {
		return fmt.Errorf("hw: SynthesizeModel needs a work directory")
	}
	if o.Images == nil || len(o.Images.Shape) != 4 || o.Images.Shape[0] < 1 {
		return fmt.Errorf("hw: SynthesizeModel needs at least one NHWC test image")
	}
	rows := o.Rows
	if rows <= 0 {
		rows = DefaultSimRows
	}
	selected := map[string]bool{}
	for _, name := range o.Layers {
		if !slices.ContainsFunc(mc.Layers, func(l LayerCost) bool { return l.Name == name }) {
			var have []string
			for _, l := range mc.Layers {
				have = append(have, l.Name)
			}
			return fmt.Errorf("hw: no quantized layer %q (have %v)", name, have)
		}
		selected[name] = true
	}
	for _, l := range mc.Layers {
		if l.Unit.Tiled() && (len(selected) == 0 || selected[l.Name]) {
			return fmt.Errorf("hw: layer %s accumulates in tiles of %d terms: the RTL generator builds one-stage units only (leave it out with --layer)", l.Name, l.Tile)
		}
	}
	if err := CheckTools(); err != nil {
		return err
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	inputs, err := CaptureInputs(m, o.Images, o.Threads)
	if err != nil {
		return err
	}
	var mismatch error
	for i := range mc.Layers {
		lc := &mc.Layers[i]
		if len(selected) > 0 && !selected[lc.Name] {
			continue
		}
		_, l, err := findLayer(m, lc.Name)
		if err != nil {
			return err
		}
		for _, p := range []int{lc.AccBits, ReferenceAccBits} {
			if p == ReferenceAccBits && lc.SynthP32 != nil {
				break // the certified width is 32 itself
			}
			u, err := LayerUnit(m, lc.Name, p, lc.Unit.SIMD, !o.DatapathOnly)
			if err != nil {
				return err
			}
			dir := filepath.Join(o.Dir, u.Name)
			if _, err := WriteFiles(dir, u, nil); err != nil {
				return err
			}
			if p == lc.AccBits {
				x, err := InputRows(l, inputs[lc.Name], rows)
				if err != nil {
					return err
				}
				sim := u
				if g := max(l.Options.Groups, 1); g > 1 { // the rows feed the first group's channels
					sim.Name += "_group0"
					sim.OutChannels = l.OutC / g
					sim.Weights = u.Weights[:sim.OutChannels*u.K]
					if sim.Thresholds != nil {
						sim.Thresholds = u.Thresholds[:sim.OutChannels*u.numThresholds()]
					}
				}
				simDir := filepath.Join(dir, "sim")
				if _, err := WriteFiles(simDir, sim, x); err != nil {
					return err
				}
				res, err := Simulate(ctx, simDir, sim.Name+".v", sim.Name+"_tb.v")
				if err != nil {
					return fmt.Errorf("hw: layer %s: %w", lc.Name, err)
				}
				lc.Sim = &res
				progress("%s: P=%d simulation of %d input rows of real activations: %d passed, %d failed (%.1f s)",
					lc.Name, p, len(x), res.Passed, res.Failed, res.Duration.Seconds())
				if (res.Failed > 0 || res.Passed == 0) && mismatch == nil {
					mismatch = SimMismatchError{Layer: lc.Name, Passed: res.Passed, Failed: res.Failed, Dir: simDir}
				}
			}
			progress("%s: P=%d synthesising with yosys (%s)...", lc.Name, p, o.Family)
			res, err := Synthesize(ctx, dir, u.Name, o.Family)
			if err != nil {
				return fmt.Errorf("hw: layer %s at P = %d: %w", lc.Name, p, err)
			}
			luts := res.LUT + res.LUTRAM
			progress("%s: P=%d %d LUT + %d LUTRAM, %d FF, %d carry, %d DSP, %d BRAM (%.1f s)",
				lc.Name, p, res.LUT, res.LUTRAM, res.FF, res.Carry, res.DSP, res.BRAM, res.Duration.Seconds())
			if p == lc.AccBits {
				lc.Synth, lc.LUTSynth = &res, &luts
			}
			if p == ReferenceAccBits {
				lc.SynthP32, lc.LUTSynthP32 = &res, &luts
			}
		}
	}
	return mismatch
}
