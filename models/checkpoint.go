package models

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Checkpoint returns the model's parameters and configuration as a
// checkpoint. extra metadata (training state) and extra tensors (optimizer
// state, prefixed by the caller) are added as given.
func (m *Model) Checkpoint(meta map[string]string, extra map[string]*tensor.Tensor) (*checkpoint.Checkpoint, error) {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return nil, err
	}
	c := &checkpoint.Checkpoint{Meta: map[string]string{"config": string(cfg)}, Tensors: map[string]*tensor.Tensor{}}
	for k, v := range meta {
		c.Meta[k] = v
	}
	for _, p := range m.Params() {
		c.Tensors[p.Name] = p.Value
	}
	for k, v := range extra {
		if _, dup := c.Tensors[k]; dup {
			return nil, fmt.Errorf("checkpoint: tensor %q given twice", k)
		}
		c.Tensors[k] = v
	}
	return c, nil
}

// FromCheckpoint rebuilds the model a checkpoint describes and loads its
// parameters. Before allocating any layer it checks the configuration's
// sizes against package graph's limits and the shape of every weight, bias
// and batch-norm tensor the configuration implies against the tensor the
// checkpoint holds, so that crafted metadata cannot ask for more memory
// than the file's own tensors take. Loading checks every quantizer scale
// (see LoadParams).
func FromCheckpoint(c *checkpoint.Checkpoint) (*Model, error) {
	var cfg Config
	if err := json.Unmarshal([]byte(c.Meta["config"]), &cfg); err != nil {
		return nil, fmt.Errorf("checkpoint model configuration: %w", err)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := checkShapes(cfg, c); err != nil {
		return nil, err
	}
	m, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	if err := m.LoadParams(c, false); err != nil {
		return nil, err
	}
	return m, nil
}

// checkShapes compares the shape of every weight, bias and batch-norm
// tensor of the network cfg describes (graph.Node.ParamShapes, which
// allocates nothing) with the tensor of that name in c.
func checkShapes(cfg Config, c *checkpoint.Checkpoint) error {
	g, err := Graph(cfg)
	if err != nil {
		return err
	}
	for _, n := range g.Nodes {
		ps := n.ParamShapes()
		for _, role := range slices.Sorted(maps.Keys(ps)) {
			name, want := n.Name+"."+role, ps[role]
			t, ok := c.Tensors[name]
			if !ok {
				return fmt.Errorf("checkpoint has no tensor %q (shape %v in the configuration's %s network)", name, want, cfg.Model)
			}
			if !slices.Equal(t.Shape, want) {
				return fmt.Errorf("tensor %q: checkpoint shape %v, the configuration's %s network has %v", name, t.Shape, cfg.Model, want)
			}
		}
	}
	return nil
}

// LoadParams copies parameters from c by name. With partial set, tensors
// absent from c are left as they are (loading float weights into a
// quantized model); otherwise a missing tensor is an error. A shape
// mismatch, a NaN or infinity, and a quantizer log2 scale whose scale is
// not a positive finite float32 (quant.CheckLog2Scale) are always errors
// naming the tensor.
func (m *Model) LoadParams(c *checkpoint.Checkpoint, partial bool) error {
	for _, p := range m.Params() {
		t, ok := c.Tensors[p.Name]
		if !ok {
			if partial {
				continue
			}
			return fmt.Errorf("checkpoint has no tensor %q", p.Name)
		}
		if !slices.Equal(t.Shape, p.Value.Shape) {
			return fmt.Errorf("tensor %q: checkpoint shape %v, model shape %v", p.Name, t.Shape, p.Value.Shape)
		}
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tensor %q holds NaN or Inf", p.Name)
			}
		}
		copy(p.Value.Data, t.Data)
	}
	return m.CheckScales()
}

// CheckScales reports the first quantizer parameter of the model (a
// layer's input or weight quantizer, or the grid quantizer of a sum or
// average) that is not the log2 of a usable scale, naming the tensor.
func (m *Model) CheckScales() error {
	for _, l := range m.Layers {
		if err := l.CheckScales(); err != nil {
			return err
		}
	}
	for _, q := range m.Grids {
		if err := q.CheckScale(); err != nil {
			return err
		}
	}
	return nil
}

// Certificates returns the accumulator certificate of every quantized
// layer, each at its own target P and tiled as its configuration says
// (quant.LayerConfig.TileFor), in order. hiddenOnly keeps the
// constrained hidden layers only. report.Certificates certifies the hidden
// layers at another P.
func (m *Model) Certificates(hiddenOnly bool) ([]accum.Certificate, error) {
	return m.CertificatesAsTiled(hiddenOnly, -1)
}

// CertificatesAsTiled is Certificates with the hidden layers' integer
// weights certified as if they ran in tiles of hiddenTile terms (one stage
// where K ≤ hiddenTile, as accum.EffectiveTile says), without changing
// their quantizers or integers; a negative hiddenTile keeps each layer's
// own tile. It answers "would these weights run in tiles of T at P?".
func (m *Model) CertificatesAsTiled(hiddenOnly bool, hiddenTile int) ([]accum.Certificate, error) {
	var certs []accum.Certificate
	for i, l := range m.Layers {
		if l.W == nil || (hiddenOnly && !m.Hidden(i)) {
			continue
		}
		qi, _ := l.W.IntegerWeights()
		kind := l.Kind
		if l.Kind == "conv" && l.Options.Groups > 1 {
			kind = "grouped-conv"
			if l.Options.Groups == l.InC {
				kind = "depthwise"
			}
		}
		k := l.K()
		tile := l.Config.TileFor(k)
		if hiddenTile >= 0 && m.Hidden(i) {
			tile = accum.EffectiveTile(hiddenTile, k)
		}
		c, err := accum.Certify(accum.Layer{Name: l.Name, Kind: kind, Weights: qi, OutChannels: l.OutC, K: k,
			InputBits: l.In.Bits, InputSigned: l.In.Signed, WeightBits: l.W.Bits,
			TargetBits: l.Config.AccBits, L1Bound: l.W.Budget(), Tile: tile})
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// InitFromFloat loads the weights and biases of the checkpoint at path (a
// model of the same kind, usually trained in float) into m, and initialises
// every quantizer from them; accumulator-aware quantizers use the
// Euclidean-projection initialisation. Quantizer state in the checkpoint is
// ignored: activation scales are calibrated again on the first batch.
func InitFromFloat(m *Model, path string) error {
	c, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	if err := initFrom(m, c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// initFrom is InitFromFloat on a loaded checkpoint.
func initFrom(m *Model, c *checkpoint.Checkpoint) error {
	var cfg Config
	if err := json.Unmarshal([]byte(c.Meta["config"]), &cfg); err != nil {
		return fmt.Errorf("model configuration: %w", err)
	}
	if cfg.Model != m.Config.Model {
		return fmt.Errorf("holds a %s model, not %s", cfg.Model, m.Config.Model)
	}
	if (cfg.Graph == nil) != (m.Config.Graph == nil) || cfg.Graph != nil && !sameNodes(cfg.Graph, m.Config.Graph) {
		return fmt.Errorf("holds a network whose graph differs from %s's", m.Config.Model)
	}
	// Weights, biases and batch norms; not quantizer state (the layers'
	// scales and the grid quantizers of sums and averages), which
	// training calibrates afresh.
	state := map[*nn.Param]bool{}
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			state[p] = p != l.Weight && p != l.Bias
		}
	}
	for _, q := range m.Grids {
		for _, p := range q.Params() {
			state[p] = true
		}
	}
	weights := &checkpoint.Checkpoint{Meta: c.Meta, Tensors: map[string]*tensor.Tensor{}}
	for _, p := range m.Params() {
		if t, ok := c.Tensors[p.Name]; ok && !state[p] {
			weights.Tensors[p.Name] = t
		}
	}
	if err := m.LoadParams(weights, true); err != nil {
		return err
	}
	for _, l := range m.Layers {
		if l.W != nil {
			l.W.InitFromWeights(true)
		}
	}
	return nil
}

// sameNodes reports whether two graphs have the same nodes.
func sameNodes(a, b *graph.Graph) bool {
	ja, _ := json.Marshal(a.Nodes)
	jb, _ := json.Marshal(b.Nodes)
	return string(ja) == string(jb)
}
