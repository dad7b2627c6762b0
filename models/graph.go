package models

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Role is a layer's place in A2Q's recipe.
type Role int

// Roles: the first and last layers keep their own settings (Config.First,
// Config.Last), the hidden layers between them are constrained.
const (
	Hidden Role = iota
	First
	Last
)

// String returns "hidden", "first" or "last".
func (r Role) String() string {
	switch r {
	case First:
		return "first"
	case Last:
		return "last"
	}
	return "hidden"
}

// GraphTask returns what a network graph predicts: an image output means
// super-resolution (or any image-to-image regression), a vector output
// classification. It returns an error for a graph that does not validate.
func GraphTask(g *graph.Graph, in []int) (Task, []int, error) {
	shapes, err := g.Validate(in)
	if err != nil {
		return "", nil, err
	}
	out := shapes[g.Output]
	if len(out) == 3 {
		return SuperResolve, out, nil
	}
	return Classify, out, nil
}

// GraphOutput tells what a graph's output is, for its declared input: a
// classifier's number of classes, or an image-to-image network's
// upscaling factor.
func GraphOutput(g *graph.Graph) (task Task, classes, scale int, err error) {
	task, out, err := GraphTask(g, nil)
	if err != nil {
		return "", 0, 0, err
	}
	if task == Classify {
		return task, out[0], 0, nil
	}
	if len(g.InShape) != 3 || out[0]%g.InShape[0] != 0 || out[0]/g.InShape[0] != out[1]/g.InShape[1] {
		return "", 0, 0, fmt.Errorf("graph: output %v is not an integer upscaling of the input %v", out, g.InShape)
	}
	return task, 0, out[0] / g.InShape[0], nil
}

// FloatFromWeights builds the float model of cfg's network (its layer
// settings replaced by float) holding weights, by parameter name: where an
// imported network is evaluated, and where its quantized training starts
// (see Checkpoint and InitFromCheckpoint). A batch norm the weights do not
// hold (one WithRestoredNorms inserted) starts as the identity. Every
// weight must have a place in the network.
func FloatFromWeights(cfg Config, weights map[string]*tensor.Tensor) (*Model, error) {
	float := quant.LayerConfig{Mode: quant.Float}
	cfg.Hidden, cfg.First, cfg.Last = float, float, float
	m, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, p := range m.Params() {
		names[p.Name] = true
	}
	for name := range weights {
		if !names[name] {
			return nil, fmt.Errorf("weight %s has no place in the network", name)
		}
	}
	for _, b := range m.batchNorms() {
		if _, ok := weights[b.RunVar.Name]; !ok {
			for i := range b.RunVar.Value.Data {
				b.RunVar.Value.Data[i] = 1 - b.Eps // invStd = 1
			}
		}
	}
	if err := m.LoadParams(&checkpoint.Checkpoint{Tensors: weights}, true); err != nil {
		return nil, err
	}
	return m, nil
}

// buildGraph builds the network cfg.Graph describes: a quantized layer
// (package quant) for every convolution and linear node, configured by its
// role, with its input quantized unsigned where the graph proves it
// non-negative; a batch norm for every batch-norm node; stateless modules
// for the rest. A chain of nodes becomes an nn.Sequential, a graph with
// branches an nn.DAG.
func buildGraph(b *build, g *graph.Graph) (Task, error) {
	c := b.cfg
	in := []int{c.InH, c.InW, c.InC}
	if len(g.InShape) == 1 {
		in = []int{c.InC * c.InH * c.InW}
	}
	task, out, err := GraphTask(g, in)
	if err != nil {
		return "", err
	}
	if task == Classify && c.Classes != 0 && out[0] != c.Classes {
		return "", fmt.Errorf("the graph outputs %d values, the data has %d classes", out[0], c.Classes)
	}
	nonneg := g.NonNegative(true)
	first, last := g.Edges()
	index := map[string]int{g.Input: 0}
	chain := true
	var steps []nn.Step
	var roles []Role
	for i, n := range g.Nodes {
		index[n.Name] = i + 1
		step := nn.Step{Name: n.Name}
		for _, name := range n.Inputs {
			step.Inputs = append(step.Inputs, index[name])
		}
		chain = chain && len(n.Inputs) == 1 && step.Inputs[0] == i
		role := Hidden
		switch {
		case first[n.Name]:
			role = First
		case last[n.Name]:
			role = Last
		}
		signed := false
		for _, in := range n.Inputs {
			signed = signed || !nonneg[in]
		}
		op, err := b.graphOp(&n, role, signed)
		if err != nil {
			return "", fmt.Errorf("node %s: %w", n.Name, err)
		}
		if l, ok := op.(*quant.Layer); ok {
			b.ls = append(b.ls, l)
			roles = append(roles, role)
		}
		if q := gridQuant(op); q != nil {
			b.grids = append(b.grids, q)
		}
		step.Op = op
		steps = append(steps, step)
	}
	chain = chain && index[g.Output] == len(g.Nodes)
	if chain {
		for _, s := range steps {
			b.net = append(b.net, s.Op.(nn.Module))
		}
	} else {
		b.net = nn.Sequential{&nn.DAG{Steps: steps, Output: index[g.Output]}}
	}
	b.roles = roles
	if err := checkTiles(c, b.ls, roles); err != nil {
		return "", err
	}
	// Images arrive in [0, 1]: the layers reading them take 8-bit pixels.
	for i, l := range b.ls {
		if roles[i] == First && l.In != nil && !l.In.Signed && isInput(g, l.Name) {
			l.In.FixScale(1 / (math.Exp2(float64(l.In.Bits)) - 1))
		}
		if task == SuperResolve && l.In != nil {
			l.In.Percentile = quant.RegressionPercentile
		}
	}
	if task == SuperResolve {
		for _, q := range b.grids {
			q.Percentile = quant.RegressionPercentile
		}
	}
	return task, nil
}

// TileError reports a tile setting that tiles none of the layers it
// configures: Config.Hidden.Tile (Edges false), or the first and last
// layers' tiles taken together (Edges true: one setting, --edge-tile, may
// split only the longer of the two).
type TileError struct {
	Edges    bool
	Tile     int
	LongestK int // the longest dot product among those layers
}

func (e *TileError) Error() string {
	which := "hidden"
	if e.Edges {
		which = "first or last"
	}
	return fmt.Sprintf("tile of %d terms: no %s layer has a longer dot product (longest K = %d), so nothing would be tiled", e.Tile, which, e.LongestK)
}

// checkTiles refuses a tile setting that tiles none of the layers it
// configures: a tile at least as long as every one of their dot products
// is a mistake, not a request for one-stage accumulation.
func checkTiles(c Config, ls []*quant.Layer, roles []Role) error {
	cfgOf := map[Role]quant.LayerConfig{First: c.First, Hidden: c.Hidden, Last: c.Last}
	for _, edges := range []bool{false, true} {
		longest, tile, tiled := 0, 0, false
		for i, l := range ls {
			cfg := cfgOf[roles[i]]
			if (roles[i] != Hidden) != edges || cfg.Tile <= 0 || cfg.Mode == quant.Float || cfg.Mode == "" {
				continue
			}
			k := l.Weight.Value.Len() / l.OutC
			longest, tile = max(longest, k), max(tile, cfg.Tile)
			tiled = tiled || cfg.TileFor(k) > 0
		}
		if tile > 0 && !tiled {
			return &TileError{Edges: edges, Tile: tile, LongestK: longest}
		}
	}
	return nil
}

// gridQuant returns the activation quantizer of a sum or average that
// quantizes its inputs, or nil.
func gridQuant(op any) *quant.ActQuant {
	switch v := op.(type) {
	case quant.Sum:
		return v.Q
	case quant.OnGrid:
		return v.Q
	}
	return nil
}

// quantized reports whether a model of cfg runs as integers (any layer
// quantized).
func quantized(c Config) bool {
	for _, l := range []quant.LayerConfig{c.First, c.Hidden, c.Last} {
		if l.Mode != "" && l.Mode != quant.Float {
			return true
		}
	}
	return false
}

// isInput reports whether node name reads the graph's input directly.
func isInput(g *graph.Graph, name string) bool {
	n := g.Node(name)
	return n != nil && len(n.Inputs) == 1 && n.Inputs[0] == g.Input
}

// graphOp returns the module (or joiner) computing node n; inSigned tells
// whether any of its inputs may be negative. In a quantized model a sum
// and an average quantize their inputs (quant.Sum, quant.OnGrid) with
// the hidden layers' activation bits, so that every value between layers
// stays on an integer grid.
func (b *build) graphOp(n *graph.Node, role Role, inSigned bool) (any, error) {
	q := quantized(b.cfg)
	grid := func() *quant.ActQuant {
		bits := b.cfg.Hidden.ActBits
		if b.cfg.Hidden.Mode == quant.Float || bits == 0 {
			bits = b.cfg.Last.ActBits
		}
		return quant.NewActQuant(n.Name+".input_quant", bits, inSigned)
	}
	cfg := b.cfg.Hidden
	switch role {
	case First:
		cfg = b.cfg.First
	case Last:
		cfg = b.cfg.Last
	}
	switch n.Op {
	case graph.Conv:
		o := autodiff.ConvOptions{Stride: n.StrideOr(), Pad: n.Pad, Groups: n.GroupsOr()}
		return quant.NewConv(n.Name, n.In, n.Out, n.Kernel, o, n.Bias, cfg, inSigned, b.rng)
	case graph.Linear:
		return quant.NewLinear(n.Name, n.In, n.Out, n.Bias, cfg, inSigned, b.rng)
	case graph.ConvTranspose:
		o := autodiff.ConvTransposeOptions{Stride: n.StrideOr(), Pad: n.Pad, OutputPad: n.OutputPad, Groups: n.GroupsOr()}
		return quant.NewConvTranspose(n.Name, n.In, n.Out, n.Kernel, o, n.Bias, cfg, inSigned, b.rng)
	case graph.BatchNorm:
		bn := nn.NewBatchNorm(n.Name, n.Out)
		bn.Eps = n.Eps
		return bn, nil
	case graph.ReLU:
		return nn.ReLU{}, nil
	case graph.Clip:
		c := nn.Clip{Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
		if n.Min != nil {
			c.Lo = *n.Min
		}
		if n.Max != nil {
			c.Hi = *n.Max
		}
		return c, nil
	case graph.LeakyReLU:
		return nn.LeakyReLU{Alpha: n.Alpha}, nil
	case graph.Sigmoid:
		return nn.Sigmoid{}, nil
	case graph.MaxPool:
		if n.Pad == 0 {
			return nn.MaxPool{K: n.Kernel, Stride: n.StrideOr()}, nil
		}
		return nn.PaddedPool{Max: true, K: n.Kernel, Stride: n.StrideOr(), Pad: n.Pad}, nil
	case graph.AvgPool:
		var p nn.Module = nn.PaddedPool{K: n.Kernel, Stride: n.StrideOr(), Pad: n.Pad, CountPad: n.CountPad}
		if n.Pad == 0 {
			p = nn.AvgPool{K: n.Kernel, Stride: n.StrideOr()}
		}
		if q {
			return quant.OnGrid{Q: grid(), Op: p}, nil
		}
		return p, nil
	case graph.GlobalAvgPool:
		if q {
			return quant.OnGrid{Q: grid(), Op: nn.GlobalAvgPool{}}, nil
		}
		return nn.GlobalAvgPool{}, nil
	case graph.Pad:
		return nn.Pad{Top: n.Pads[0], Left: n.Pads[1], Bottom: n.Pads[2], Right: n.Pads[3], Value: n.Value}, nil
	case graph.Add:
		if q {
			return quant.Sum{Q: grid()}, nil
		}
		return nn.Add{}, nil
	case graph.Concat:
		return nn.Concat{}, nil
	case graph.Flatten:
		return nn.Flatten{}, nil
	case graph.DepthToSpace:
		if n.DCR {
			return nn.DepthToSpaceDCR{R: n.Factor}, nil
		}
		return nn.PixelShuffle{R: n.Factor}, nil
	case graph.Resize:
		return nn.ResizeNearest{F: n.Factor}, nil
	}
	return nil, fmt.Errorf("operation %q has no implementation", n.Op)
}
