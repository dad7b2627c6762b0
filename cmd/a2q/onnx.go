package main

import (
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/onnx"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/quant"
)

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
		return nil, fmt.Errorf("%s is a QONNX model (it has Quant nodes): this command reads checkpoints and float ONNX networks (inspect, verify, eval and hw read QONNX files)", path)
	}
	m, _, err := importFloat(path, models.Config{Seed: 1})
	return m, err
}
