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
	Model string `json:"model"` // a name of Names(): "cnn", "mlp", "espcn", "unet", "mobilenet", "resnet"
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
	// Grids lists the activation quantizers a quantized model puts on the
	// inputs of its sums and averages (quant.Sum, quant.OnGrid), which
	// integer inference needs on an integer grid.
	Grids []*quant.ActQuant
	// graph is the network's graph.
	graph *graph.Graph
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
	graph func(c Config) (*graph.Graph, error)
}

var builders = map[string]builder{
	"cnn":       {Classify, cnnGraph},
	"mlp":       {Classify, mlpGraph},
	"espcn":     {SuperResolve, espcnGraph},
	"mobilenet": {Classify, mobileNetGraph},
	"resnet":    {Classify, resNetGraph},
	"unet":      {SuperResolve, unetGraph},
}

// build accumulates layers while a model is assembled.
type build struct {
	cfg   Config
	rng   *rand.Rand
	net   nn.Sequential
	ls    []*quant.Layer
	roles []Role
	grids []*quant.ActQuant
}

// Graph returns the network cfg describes: cfg.Graph for an imported
// network, else the zoo's definition of cfg.Model for cfg's input shape
// and classes (or upscaling factor).
func Graph(cfg Config) (*graph.Graph, error) {
	if cfg.Graph != nil {
		return cfg.Graph, nil
	}
	bd, ok := builders[cfg.Model]
	if !ok {
		return nil, fmt.Errorf("unknown model %q (known: %s)", cfg.Model, strings.Join(Names(), ", "))
	}
	g, err := bd.graph(cfg)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	return g, nil
}

// check reports sizes of c outside the limits package graph sets for any
// network: an empty or absurd input shape, number of classes or upscaling
// factor.
func (c Config) check() error {
	switch {
	case c.InC < 1 || c.InH < 1 || c.InW < 1:
		return fmt.Errorf("model %s: input shape %dx%dx%d is empty", c.Model, c.InC, c.InH, c.InW)
	case c.InC > graph.MaxChannels || c.InH > graph.MaxSide || c.InW > graph.MaxSide:
		return fmt.Errorf("model %s: input shape %dx%dx%d exceeds %d channels or %d pixels a side", c.Model, c.InC, c.InH, c.InW, graph.MaxChannels, graph.MaxSide)
	case c.Classes < 0 || c.Classes > maxClasses:
		return fmt.Errorf("model %s: %d classes, want 0 to %d", c.Model, c.Classes, maxClasses)
	case c.Scale < 0 || c.Scale > graph.MaxKernel:
		return fmt.Errorf("model %s: upscaling factor %d, want 0 to %d", c.Model, c.Scale, graph.MaxKernel)
	}
	return nil
}

// maxClasses is the most outputs graph.Validate allows a linear layer.
const maxClasses = 16 * graph.MaxChannels

// Build constructs the model cfg describes, with fresh weights drawn from
// cfg.Seed.
func Build(cfg Config) (*Model, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	g, err := Graph(cfg)
	if err != nil {
		return nil, err
	}
	b := &build{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xa2))}
	task, err := buildGraph(b, g)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	return &Model{Config: cfg, Task: task, Net: b.net, Layers: b.ls, roles: b.roles, Grids: b.grids, graph: g}, nil
}

// zoo assembles a zoo network's graph node by node, each node reading the
// one before unless told otherwise.
type zoo struct {
	g    *graph.Graph
	last string
}

func newZoo(c Config) *zoo {
	return &zoo{g: &graph.Graph{Input: "input", InShape: []int{c.InH, c.InW, c.InC}}, last: "input"}
}

// add appends n reading the previous node (or n.Inputs if set) and
// returns its name.
func (z *zoo) add(n graph.Node) string {
	if n.Inputs == nil {
		n.Inputs = []string{z.last}
	}
	z.g.Nodes = append(z.g.Nodes, n)
	z.last = n.Name
	z.g.Output = n.Name
	return n.Name
}

func (z *zoo) conv(name string, in, out, k, stride, pad, groups int, bias bool) string {
	return z.add(graph.Node{Name: name, Op: graph.Conv, In: in, Out: out, Kernel: k, Stride: stride, Pad: pad, Groups: groups, Bias: bias})
}

// convBN appends a convolution without bias (the batch norm has one), its
// batch norm "NAME.bn" and, with relu, a ReLU.
func (z *zoo) convBN(name string, in, out, k, stride, groups int, relu bool) string {
	z.conv(name, in, out, k, stride, k/2, groups, false)
	z.add(graph.Node{Name: name + ".bn", Op: graph.BatchNorm, Out: out, Eps: 1e-5})
	if relu {
		z.add(graph.Node{Name: name + ".relu", Op: graph.ReLU})
	}
	return z.last
}

func classes(c Config) error {
	if c.Classes < 2 {
		return fmt.Errorf("needs at least 2 classes, got %d", c.Classes)
	}
	return nil
}

// cnnGraph is the reference CNN: conv 3×3 C→32, ReLU,
// maxpool 2, conv 3×3 32→64, ReLU, maxpool 2, dense →classes (each ReLU
// applied after its pooling, which computes the same function: max
// pooling commutes with ReLU, and pooling first runs the ReLU on a quarter
// of the values).
func cnnGraph(c Config) (*graph.Graph, error) {
	if err := classes(c); err != nil {
		return nil, err
	}
	h, w := ((c.InH-2)/2-2)/2, ((c.InW-2)/2-2)/2
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("input %dx%d too small", c.InH, c.InW)
	}
	z := newZoo(c)
	z.conv("conv1", c.InC, 32, 3, 1, 0, 1, true)
	z.add(graph.Node{Name: "pool1", Op: graph.MaxPool, Kernel: 2})
	z.add(graph.Node{Name: "relu1", Op: graph.ReLU})
	z.conv("conv2", 32, 64, 3, 1, 0, 1, true)
	z.add(graph.Node{Name: "pool2", Op: graph.MaxPool, Kernel: 2})
	z.add(graph.Node{Name: "relu2", Op: graph.ReLU})
	z.add(graph.Node{Name: "flatten", Op: graph.Flatten})
	z.add(graph.Node{Name: "fc", Op: graph.Linear, In: 64 * h * w, Out: c.Classes, Bias: true})
	return z.g, nil
}

// mlpGraph is a three-layer perceptron: in→256, ReLU, 256→256, ReLU,
// 256→classes.
func mlpGraph(c Config) (*graph.Graph, error) {
	if err := classes(c); err != nil {
		return nil, err
	}
	z := newZoo(c)
	z.add(graph.Node{Name: "flatten", Op: graph.Flatten})
	z.add(graph.Node{Name: "fc1", Op: graph.Linear, In: c.InC * c.InH * c.InW, Out: 256, Bias: true})
	z.add(graph.Node{Name: "relu1", Op: graph.ReLU})
	z.add(graph.Node{Name: "fc2", Op: graph.Linear, In: 256, Out: 256, Bias: true})
	z.add(graph.Node{Name: "relu2", Op: graph.ReLU})
	z.add(graph.Node{Name: "fc3", Op: graph.Linear, In: 256, Out: c.Classes, Bias: true})
	return z.g, nil
}

// espcnGraph is ESPCN (Shi et al. 2016): conv 5×5 C→64, ReLU, conv 3×3
// 64→32, ReLU, conv 3×3 (32+C)→C·r², pixel shuffle by r. The last
// convolution reads the image beside the features (a skip concatenation),
// so that the smooth part of the output, which every pixel needs at its
// exact brightness, has a linear path around the hidden layer: A2Q+
// zero-centres the hidden layer's weights, which then cannot pass a change
// of brightness on, and the ESPCN of the paper, without the skip, comes
// out of A2Q+ with its brightness scaled by a few per cent. Like every
// network whose output is an image, its activation quantizers calibrate on
// the maximum (quant.RegressionPercentile).
func espcnGraph(c Config) (*graph.Graph, error) {
	if c.Scale < 2 {
		return nil, fmt.Errorf("needs an upscaling factor of at least 2, got %d", c.Scale)
	}
	z := newZoo(c)
	z.conv("conv1", c.InC, 64, 5, 1, 2, 1, true)
	z.add(graph.Node{Name: "relu1", Op: graph.ReLU})
	z.conv("conv2", 64, 32, 3, 1, 1, 1, true)
	relu2 := z.add(graph.Node{Name: "relu2", Op: graph.ReLU})
	z.add(graph.Node{Name: "skip", Op: graph.Concat, Inputs: []string{relu2, "input"}})
	z.conv("conv3", 32+c.InC, c.InC*c.Scale*c.Scale, 3, 1, 1, 1, true)
	z.add(graph.Node{Name: "shuffle", Op: graph.DepthToSpace, Factor: c.Scale})
	return z.g, nil
}

// Graph returns the network's graph (the zoo's definition or the
// imported one).
func (m *Model) Graph() *graph.Graph { return m.graph }

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
