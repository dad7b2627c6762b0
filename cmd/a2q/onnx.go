package main

import (
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/onnx"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/quant"
)

// inspectONNX prints the per-layer certificate of a QONNX model.
func inspectONNX(e *env, path string, accBits int, asJSON bool) error {
	m, err := qonnx.Load(path)
	if err != nil {
		return usageError{err}
	}
	r, err := qonnx.Inspect(m, accBits)
	if err != nil {
		return usageError{err}
	}
	if asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s: %d quantized layers\n", path, len(r.Layers))
		if err := accum.WriteTable(e.stdout, r.Layers); err != nil {
			return err
		}
		for _, u := range r.Uncertifiable {
			fmt.Fprintf(e.stdout, "not certifiable: %s (%s): %s\n", u.Name, u.Kind, u.Reason)
		}
		fmt.Fprintf(e.stdout, "sparsity %.4f", r.Sparsity)
		if r.CompressionRate > 0 {
			fmt.Fprintf(e.stdout, ", compression rate %.2f× (M/H(q))", r.CompressionRate)
		}
		if accBits > 0 {
			fmt.Fprintf(e.stdout, ", certified at P = %d: %v", accBits, r.Certified)
		}
		fmt.Fprintln(e.stdout)
	}
	if accBits > 0 && !r.Certified {
		return checkFailed{fmt.Errorf("%s: not every layer is certified at P = %d", path, accBits)}
	}
	return nil
}

// isONNX reports whether path names an ONNX file (float or QONNX).
func isONNX(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".onnx") }

// importFloat imports the float ONNX network at path as a model with the
// layer settings of cfg (its Model, Graph and input shape are filled in:
// the input shape from the file unless cfg gives one). It returns the
// model and, for initialising a quantized model from it, the float
// model's checkpoint.
func importFloat(path string, cfg models.Config) (*models.Model, *checkpoint.Checkpoint, error) {
	net, err := onnx.Import(path)
	if err != nil {
		return nil, nil, usageError{err}
	}
	cfg.Model, cfg.Graph = onnx.Base(path), net.Graph
	if cfg.InC == 0 {
		cfg.InH, cfg.InW, cfg.InC = shapeHWC(net.Graph.InShape)
	}
	task, out, err := models.GraphTask(net.Graph, nil)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	if task == models.SuperResolve {
		cfg.Scale, cfg.Classes = out[0]/net.Graph.InShape[0], 0
	} else {
		cfg.Classes = out[0]
	}
	float := quant.LayerConfig{Mode: quant.Float}
	for _, l := range []*quant.LayerConfig{&cfg.Hidden, &cfg.First, &cfg.Last} {
		if l.Mode == "" {
			*l = float
		}
	}
	fcfg := cfg
	fcfg.Hidden, fcfg.First, fcfg.Last = float, float, float
	fm, err := models.Build(fcfg)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	if err := fm.LoadParams(&checkpoint.Checkpoint{Tensors: net.Weights}, false); err != nil {
		return nil, nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	c, err := fm.Checkpoint(nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if fcfg.Hidden == cfg.Hidden && fcfg.First == cfg.First && fcfg.Last == cfg.Last {
		return fm, c, nil
	}
	m, err := models.Build(cfg)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return m, c, nil
}

// shapeHWC returns a graph input shape as height, width and channels (a
// vector of F features is 1×1×F).
func shapeHWC(s []int) (h, w, c int) {
	if len(s) == 3 {
		return s[0], s[1], s[2]
	}
	return 1, 1, s[0]
}

// loadONNX reads a float ONNX network for a command that takes a model
// file; QONNX files are named as such.
func loadONNX(path string) (*models.Model, error) {
	qm, err := qonnx.Load(path)
	if err != nil {
		return nil, err
	}
	if qm.HasQuant() {
		return nil, fmt.Errorf("%s is a QONNX model (it has Quant nodes): this command reads checkpoints and float ONNX networks; 'a2q inspect' reads QONNX files", path)
	}
	m, _, err := importFloat(path, models.Config{Seed: 1})
	return m, err
}
