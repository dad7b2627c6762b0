// Package models is a2q's model zoo: the networks users train, built from
// quantized layers (package quant) and stateless layers (package nn) for a
// chosen quantizer, bit widths and accumulator width.
//
// Every model follows the A2Q recipe for which layers are constrained: the
// hidden layers use the chosen quantizer at the chosen P; the first layer
// (whose input is the image) and the last layer (whose output is the
// logits or the image) keep their own settings, by default 8-bit baseline
// quantization with a 32-bit accumulator.
package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Config selects and configures a model. It is stored in checkpoints.
type Config struct {
	Model string `json:"model"` // "cnn", "mlp", "espcn"
	// Hidden configures the constrained hidden layers; First and Last the
	// input and output layers.
	Hidden quant.LayerConfig `json:"hidden"`
	First  quant.LayerConfig `json:"first"`
	Last   quant.LayerConfig `json:"last"`
	// InC, InH, InW are the input image's channels and size; Classes the
	// number of classes (classification) and Scale the upscaling factor
	// (super-resolution).
	InC     int    `json:"in_c"`
	InH     int    `json:"in_h"`
	InW     int    `json:"in_w"`
	Classes int    `json:"classes,omitempty"`
	Scale   int    `json:"scale,omitempty"`
	Seed    uint64 `json:"seed"`
	// Graph, if set, is the network (an imported one); Model then only
	// names it.
	Graph *graph.Graph `json:"graph,omitempty"`
}

// Task names what a model predicts.
type Task string

// Tasks.
const (
	Classify     Task = "classify"
	SuperResolve Task = "super-resolution"
)

// Model is a built network.
type Model struct {
	Config Config
	Task   Task
	Net    nn.Sequential
	// Layers lists the convolution and linear layers in order.
	Layers []*quant.Layer
	// roles gives each layer's role for graph models (nil: the first and
	// last of Layers are the edges).
	roles []Role
}

// Names lists the models Build knows.
func Names() []string {
	n := make([]string, 0, len(builders))
	for k := range builders {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// TaskOf returns what the named model predicts.
func TaskOf(name string) (Task, bool) {
	b, ok := builders[name]
	return b.task, ok
}

type builder struct {
	task  Task
	build func(b *build) error
}

var builders = map[string]builder{
	"cnn":   {Classify, buildCNN},
	"mlp":   {Classify, buildMLP},
	"espcn": {SuperResolve, buildESPCN},
}

// build accumulates layers while a model is assembled.
type build struct {
	cfg   Config
	rng   *rand.Rand
	net   nn.Sequential
	ls    []*quant.Layer
	roles []Role
}

func (b *build) add(ms ...nn.Module) {
	for _, m := range ms {
		if l, ok := m.(*quant.Layer); ok {
			b.ls = append(b.ls, l)
		}
		b.net = append(b.net, m)
	}
}

func (b *build) conv(name string, in, out, k, pad int, cfg quant.LayerConfig, inSigned bool) error {
	l, err := quant.NewConv(name, in, out, k, autodiff.ConvOptions{Pad: pad}, true, cfg, inSigned, b.rng)
	if err != nil {
		return err
	}
	b.add(l)
	return nil
}

func (b *build) linear(name string, in, out int, cfg quant.LayerConfig, inSigned bool) error {
	l, err := quant.NewLinear(name, in, out, true, cfg, inSigned, b.rng)
	if err != nil {
		return err
	}
	b.add(l)
	return nil
}

// Build constructs the model cfg describes, with fresh weights drawn from
// cfg.Seed.
func Build(cfg Config) (*Model, error) {
	if cfg.Graph != nil {
		if cfg.InC < 1 || cfg.InH < 1 || cfg.InW < 1 {
			return nil, fmt.Errorf("model %s: input shape %dx%dx%d is empty", cfg.Model, cfg.InC, cfg.InH, cfg.InW)
		}
		b := &build{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xa2))}
		task, err := buildGraph(b)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
		}
		return &Model{Config: cfg, Task: task, Net: b.net, Layers: b.ls, roles: b.roles}, nil
	}
	bd, ok := builders[cfg.Model]
	if !ok {
		return nil, fmt.Errorf("unknown model %q (known: %s)", cfg.Model, strings.Join(Names(), ", "))
	}
	if cfg.InC < 1 || cfg.InH < 1 || cfg.InW < 1 {
		return nil, fmt.Errorf("model %s: input shape %dx%dx%d is empty", cfg.Model, cfg.InC, cfg.InH, cfg.InW)
	}
	b := &build{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xa2))}
	if err := bd.build(b); err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	b.fixImageInput()
	return &Model{Config: cfg, Task: bd.task, Net: b.net, Layers: b.ls}, nil
}

// buildCNN is the reference CNN of DESIGN.md: conv 3×3 C→32, ReLU,
// maxpool 2, conv 3×3 32→64, ReLU, maxpool 2, dense →classes (each ReLU
// applied after its pooling, which computes the same function).
func buildCNN(b *build) error {
	c := b.cfg
	if c.Classes < 2 {
		return fmt.Errorf("needs at least 2 classes, got %d", c.Classes)
	}
	h, w := ((c.InH-2)/2-2)/2, ((c.InW-2)/2-2)/2
	if h < 1 || w < 1 {
		return fmt.Errorf("input %dx%d too small", c.InH, c.InW)
	}
	if err := b.conv("conv1", c.InC, 32, 3, 0, c.First, false); err != nil {
		return err
	}
	// Max pooling commutes with ReLU (both are monotone); pooling first
	// runs the ReLU on a quarter of the values.
	b.add(nn.MaxPool{K: 2}, nn.ReLU{})
	if err := b.conv("conv2", 32, 64, 3, 0, c.Hidden, false); err != nil {
		return err
	}
	b.add(nn.MaxPool{K: 2}, nn.ReLU{}, nn.Flatten{})
	return b.linear("fc", 64*h*w, c.Classes, c.Last, false)
}

// buildMLP is a three-layer perceptron: in→256, ReLU, 256→256, ReLU, 256→classes.
func buildMLP(b *build) error {
	c := b.cfg
	if c.Classes < 2 {
		return fmt.Errorf("needs at least 2 classes, got %d", c.Classes)
	}
	b.add(nn.Flatten{})
	if err := b.linear("fc1", c.InC*c.InH*c.InW, 256, c.First, false); err != nil {
		return err
	}
	b.add(nn.ReLU{})
	if err := b.linear("fc2", 256, 256, c.Hidden, false); err != nil {
		return err
	}
	b.add(nn.ReLU{})
	return b.linear("fc3", 256, c.Classes, c.Last, false)
}

// buildESPCN is ESPCN (Shi et al. 2016): conv 5×5 C→64, ReLU, conv 3×3
// 64→32, ReLU, conv 3×3 32→C·r², pixel shuffle by r. Its activation
// quantizers calibrate on the maximum (quant.RegressionPercentile).
func buildESPCN(b *build) error {
	c := b.cfg
	if c.Scale < 2 {
		return fmt.Errorf("needs an upscaling factor of at least 2, got %d", c.Scale)
	}
	if err := b.conv("conv1", c.InC, 64, 5, 2, c.First, false); err != nil {
		return err
	}
	b.add(nn.ReLU{})
	if err := b.conv("conv2", 64, 32, 3, 1, c.Hidden, false); err != nil {
		return err
	}
	b.add(nn.ReLU{})
	if err := b.conv("conv3", 32, c.InC*c.Scale*c.Scale, 3, 1, c.Last, false); err != nil {
		return err
	}
	b.add(nn.PixelShuffle{R: c.Scale})
	// The output is pixels: a clipped activation becomes a wrong pixel.
	for _, l := range b.ls {
		if l.In != nil {
			l.In.Percentile = quant.RegressionPercentile
		}
	}
	return nil
}

// fixImageInput freezes the first layer's input quantizer at
// s = 1/(2^N − 1): images arrive in [0, 1] (8-bit pixels divided by 255),
// which that grid represents exactly for N = 8, so the scale needs neither
// calibration nor a gradient (and the first convolution needs no input
// gradient at all).
func (b *build) fixImageInput() {
	if len(b.ls) > 0 && b.ls[0].In != nil && !b.ls[0].In.Signed {
		b.ls[0].In.FixScale(1 / (math.Exp2(float64(b.ls[0].In.Bits)) - 1))
	}
}

// Params lists every parameter and buffer of the model.
func (m *Model) Params() []*nn.Param { return m.Net.Params() }

// Hidden reports whether layer i is a hidden (constrained) layer.
func (m *Model) Hidden(i int) bool {
	if m.roles != nil {
		return m.roles[i] == Hidden
	}
	return i > 0 && i < len(m.Layers)-1
}

// Forward runs the network.
func (m *Model) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return m.Net.Forward(tp, x, train)
}

// Penalty returns the sum of the layers' budget penalties, or nil.
func (m *Model) Penalty(tp *autodiff.Tape) *autodiff.Var {
	var ps []*autodiff.Var
	for _, l := range m.Layers {
		if p := l.Penalty(tp); p != nil {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return tp.Sum(ps...)
}

// Loss records one training forward pass on x and returns the objective:
// softmax cross-entropy against labels for classifiers, mean squared error
// against target for super-resolution, plus the layers' budget penalties.
func (m *Model) Loss(tp *autodiff.Tape, x *autodiff.Var, labels []int, target *tensor.Tensor) *autodiff.Var {
	out := m.Forward(tp, x, true)
	var loss *autodiff.Var
	if m.Task == SuperResolve {
		loss = tp.MSE(out, target)
	} else {
		loss = tp.SoftmaxCrossEntropy(out, labels)
	}
	if pen := m.Penalty(tp); pen != nil {
		loss = tp.Sum(loss, pen)
	}
	return loss
}

// DefaultEdge is the first and last layers' setting under quantizer mode:
// float for a float model, 8-bit baseline with a 32-bit accumulator
// otherwise.
func DefaultEdge(mode quant.Mode) quant.LayerConfig {
	if mode == quant.Float {
		return quant.LayerConfig{Mode: quant.Float}
	}
	return quant.LayerConfig{Mode: quant.Baseline, WeightBits: 8, ActBits: 8, AccBits: 32}
}
