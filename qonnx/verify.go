package qonnx

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// ActQuant is an activation Quant node with constant per-tensor parameters:
// its values are (q − ZeroPoint)·Scale for integers q in Range().
type ActQuant struct {
	Node *Node
	QuantParams
	Scale, ZeroPoint float64
}

// ActQuant reads the parameters of Quant node n. It fails, naming the
// node, when n is not a Quant node or its scale, zero point or bit width is
// not a constant scalar.
func (m *Model) ActQuant(n *Node) (ActQuant, error) {
	a := ActQuant{Node: n}
	if n == nil || !IsQuant(n) {
		return a, fmt.Errorf("qonnx: %s: not a Quant node", m.name())
	}
	if len(n.Inputs) < 4 {
		return a, fmt.Errorf("qonnx: %s: node %s (Quant) has %d inputs, needs 4", m.name(), n.Name, len(n.Inputs))
	}
	f := newFolder(m)
	var err error
	if a.QuantParams, err = quantParams(n, f.value(n.Inputs[3])); err != nil {
		return a, fmt.Errorf("qonnx: %s: %w", m.name(), err)
	}
	scale, zp := f.value(n.Inputs[1]), f.value(n.Inputs[2])
	if scale == nil || zp == nil || scale.Len() != 1 || zp.Len() != 1 {
		return a, fmt.Errorf("qonnx: %s: Quant %s has no constant per-tensor scale and zero point", m.name(), n.Name)
	}
	a.Scale, _ = scale.Scalar()
	a.ZeroPoint, _ = zp.Scalar()
	if !(a.Scale > 0) || math.IsInf(a.Scale, 0) {
		return a, fmt.Errorf("qonnx: %s: Quant %s scale %v is not a positive number", m.name(), n.Name, a.Scale)
	}
	return a, nil
}

// InputQuant returns the Quant node that quantizes graph input name, found
// by following its only consumer through ops that keep values on a grid
// (Relu, Reshape, Transpose, Pad, ...; see Layer); nil when the input
// reaches something else first (a Conv, a branch).
func (m *Model) InputQuant(name string) *Node {
	for {
		cs := m.Graph.Consumers(name)
		if len(cs) != 1 {
			return nil
		}
		c := cs[0]
		switch {
		case IsQuant(c):
			if c.Input(0) != name {
				return nil
			}
			return c
		case passThrough[c.OpType] && (c.Domain == "" || c.Domain == "ai.onnx") && c.Input(0) == name && len(c.Outputs) > 0:
			name = c.Outputs[0]
		default:
			return nil
		}
	}
}

// absorbed lists ops between a layer and the next quantizer that a FINN
// thresholding stage absorbs (monotone per channel, or moving values
// around), besides passThrough.
var absorbed = map[string]bool{
	"BatchNormalization": true, "Add": true, "Sub": true, "Mul": true, "Div": true,
	"Clip": true, "LeakyRelu": true, "Sigmoid": true,
}

// OutputQuant returns the Quant node that quantizes the output of layer l,
// found by following its only consumer through ops a thresholding stage
// absorbs (bias and batch-norm arithmetic with constants, Relu, Clip,
// pooling, reshapes, DepthToSpace, ...) and concatenations (which only
// place the layer's channels among others before the Quant); nil when the
// output branches or reaches another op first.
func (m *Model) OutputQuant(l *Layer) *Node {
	if l.Node == nil || len(l.Node.Outputs) == 0 {
		return nil
	}
	f := newFolder(m)
	name := l.Node.Outputs[0]
	for {
		cs := m.Graph.Consumers(name)
		if len(cs) != 1 {
			return nil
		}
		c := cs[0]
		if IsQuant(c) {
			if c.Input(0) != name {
				return nil
			}
			return c
		}
		if c.Domain != "" && c.Domain != "ai.onnx" || len(c.Outputs) == 0 {
			return nil
		}
		switch {
		case passThrough[c.OpType] && c.Input(0) == name:
		case c.OpType == "Concat":
		case absorbed[c.OpType]:
			// Every other operand must be a constant.
			for _, in := range c.Inputs {
				if in != "" && in != name && f.value(in) == nil {
					return nil
				}
			}
			if c.OpType == "Sub" || c.OpType == "Div" {
				if c.Input(0) != name {
					return nil
				}
			}
		default:
			return nil
		}
		name = c.Outputs[0]
	}
}

// MaxTieFraction is the largest share of quantized values Verify lets
// differ (by one step) between an integer layer and its float twin run on
// the same inputs.
const MaxTieFraction = 1e-3

// stepSlack absorbs float32 rounding of dequantised values when a
// difference is measured in steps (a one-step difference may come out as
// 1.00001 steps).
const stepSlack = 1e-3

// VerifyOptions configure Model.Verify.
type VerifyOptions struct {
	// AccBits is the width P every integer layer's partial sums are
	// counted against (0: 32); LayerAccBits overrides it per layer name.
	AccBits      int
	LayerAccBits map[string]int
	// LayerTiles runs layers in tiles (RunOptions.LayerTiles); nil: each
	// layer with the tile the file's claims give it (CertificatesKey), as
	// Inspect certifies it.
	LayerTiles map[string]int
	// Threads is the number of inputs run at once (≤ 1: one).
	Threads int
	// MaxElements is RunOptions.MaxElements.
	MaxElements int
}

// LayerVerification is one integer layer's outcome in a Verification.
type LayerVerification struct {
	Name string `json:"name"`
	// AccBits is the width P the overflows refer to.
	AccBits int `json:"acc_bits"`
	// Tile and AccBitsOuter describe a layer run in tiles (LayerStats).
	Tile         int `json:"tile,omitempty"`
	AccBitsOuter int `json:"acc_bits_outer,omitempty"`
	// Overflows counts partial sums outside the P-bit range (see
	// LayerStats), OverflowedOutputs the outputs with at least one, out of
	// Outputs dot products.
	Overflows         int64 `json:"overflows"`
	OverflowedOutputs int64 `json:"overflowed_outputs"`
	Outputs           int64 `json:"outputs"`
	// AccMinSeen and AccMaxSeen are the extreme partial sums met.
	AccMinSeen int64 `json:"acc_min_seen"`
	AccMaxSeen int64 `json:"acc_max_seen"`
	// ActivationValues counts the layer's integer inputs (the output of
	// its input Quant) compared between the integer run and the
	// fake-quantized one; ActivationMismatches those that differ, by at
	// most ActivationMaxDiff steps of the input scale. Differences come
	// from layers upstream and grow as they propagate.
	ActivationValues     int64   `json:"activation_values"`
	ActivationMismatches int64   `json:"activation_mismatches"`
	ActivationMaxDiff    float64 `json:"activation_max_diff_steps"`
	// OutputQuant is the Quant node the layer's output reaches (see
	// Model.OutputQuant; "" if none). With the layer fed the fake-quantized
	// run's input, TieValues of its values were compared with the
	// fake-quantized run's, TieDiffer differ, by at most TieMaxDiff steps:
	// the layer's own rounding ties.
	OutputQuant string  `json:"output_quant,omitempty"`
	TieValues   int64   `json:"isolated_values"`
	TieDiffer   int64   `json:"isolated_differ"`
	TieMaxDiff  float64 `json:"isolated_max_diff_steps"`
}

// OutputVerification compares one graph output between the integer and
// the fake-quantized runs.
type OutputVerification struct {
	Name string `json:"name"`
	// Quant names the Quant node producing the output ("" for a float
	// output); Step is its scale (0 for a float output).
	Quant string  `json:"quant,omitempty"`
	Step  float64 `json:"step,omitempty"`
	// Values compared, how many Differ, the largest absolute difference
	// and, for a quantized output, that difference in steps.
	Values       int64   `json:"values"`
	Differ       int64   `json:"differ"`
	MaxAbsDiff   float64 `json:"max_abs_diff"`
	MaxDiffSteps float64 `json:"max_diff_steps,omitempty"`
}

// Verification is the outcome of Model.Verify.
type Verification struct {
	Inputs  int                  `json:"inputs"`
	Layers  []LayerVerification  `json:"integer_layers"`
	Outputs []OutputVerification `json:"outputs"`
	// Overflows is the total over the layers.
	Overflows int64 `json:"overflows"`
	// QuantizedValues counts the quantized activations compared (the
	// output of every Quant node whose input is not a constant), Differ
	// those that differ between the integer and the fake-quantized runs,
	// MaxDiffSteps the largest difference in steps of their quantizer.
	QuantizedValues int64   `json:"quantized_values"`
	Differ          int64   `json:"differ"`
	MaxDiffSteps    float64 `json:"max_diff_steps"`
	// IntegerMatchesFakeQuant reports that every quantized activation is
	// equal in both runs.
	IntegerMatchesFakeQuant bool `json:"integer_matches_fake_quant"`
	// IsolatedDiffer and IsolatedMaxDiffSteps are Differ and MaxDiffSteps
	// when every integer layer is fed the fake-quantized run's input and
	// every Quant node's readers its fake-quantized output
	// (RunOptions.LayerInputs, QuantOutputs): each value then differs only
	// through the rounding of the layers since the Quant nodes before it,
	// also where a residual shortcut bypasses a layer.
	IsolatedDiffer       int64   `json:"isolated_differ"`
	IsolatedMaxDiffSteps float64 `json:"isolated_max_diff_steps"`
	// WithinTies is the pass criterion: on the same inputs, no quantized
	// activation differs by more than one step and at most MaxTieFraction
	// of them differ. The fake-quantized run accumulates in float32, so a
	// value on a rounding tie of a later Quant may land one step apart; in
	// the free run such a step propagates and may grow in later layers,
	// which Differ and MaxDiffSteps show.
	WithinTies bool `json:"within_ties"`
}

// quantCompare accumulates the comparison of one Quant node's output.
type quantCompare struct {
	scale          float64
	values, differ int64
	maxSteps       float64
}

func (q *quantCompare) add(a, b *Tensor) error {
	if a == nil || b == nil || a.Len() != b.Len() {
		return fmt.Errorf("the two runs give values of different shapes")
	}
	af, bf := a.Floats(), b.Floats()
	for i, v := range af {
		d := math.Abs(float64(v)-float64(bf[i])) / q.scale
		if v != bf[i] {
			q.differ++
		}
		if d > q.maxSteps || math.IsNaN(d) {
			q.maxSteps = d
		}
	}
	q.values += int64(len(af))
	return nil
}

// verifyState is what Verify accumulates over its inputs.
type verifyState struct {
	mu       sync.Mutex
	v        *Verification
	free     map[string]*quantCompare // by Quant output value
	isolated map[string]*quantCompare
	stats    map[string]*LayerVerification
}

// Verify runs m on each input three times: in float (fake-quant), with the
// certifiable layers as integers (RunOptions.Integer), and with the integer
// layers fed the float run's inputs (RunOptions.LayerInputs). It counts
// each integer layer's overflows at its width in the integer run, and
// compares every quantized activation and graph output of the integer runs
// with the float run's. A layer runs in the tiles o.LayerTiles, or by
// default its claim, gives it. Inputs run concurrently on o.Threads
// goroutines; cancelling ctx stops them.
func (m *Model) Verify(ctx context.Context, inputs []map[string]*Tensor, o VerifyOptions) (*Verification, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("qonnx: %s: verify needs at least one input", m.name())
	}
	layers, err := m.Layers()
	if err != nil {
		return nil, err
	}
	if o.LayerTiles == nil {
		claims, err := m.Claims()
		if err != nil {
			return nil, err
		}
		o.LayerTiles = make(map[string]int)
		for _, cl := range claims {
			if _, dup := o.LayerTiles[cl.Name]; !dup {
				o.LayerTiles[cl.Name] = max(cl.Tile, 0)
			}
		}
	}
	st := &verifyState{v: &Verification{Inputs: len(inputs)}, free: make(map[string]*quantCompare),
		isolated: make(map[string]*quantCompare), stats: make(map[string]*LayerVerification)}
	f := newFolder(m)
	for _, n := range m.Graph.Nodes {
		if !IsQuant(n) || len(n.Outputs) == 0 || f.value(n.Input(0)) != nil {
			continue
		}
		if aq, err := m.ActQuant(n); err == nil {
			st.free[n.Outputs[0]] = &quantCompare{scale: aq.Scale}
			st.isolated[n.Outputs[0]] = &quantCompare{scale: aq.Scale}
		}
	}
	for _, gout := range m.Graph.Outputs {
		ov := OutputVerification{Name: gout.Name}
		if p := m.Graph.Producer(gout.Name); p != nil && IsQuant(p) && st.free[gout.Name] != nil {
			ov.Quant, ov.Step = p.Name, st.free[gout.Name].scale
		}
		st.v.Outputs = append(st.v.Outputs, ov)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var firstErr error
	var errOnce sync.Once
	work := make(chan map[string]*Tensor)
	var wg sync.WaitGroup
	for range max(o.Threads, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				if err := m.verifyOne(ctx, in, o, st); err != nil {
					errOnce.Do(func() { firstErr = err })
					cancel()
				}
			}
		}()
	}
feed:
	for _, in := range inputs {
		select {
		case work <- in:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := st.v
	for i := range layers {
		l := &layers[i]
		lv := st.stats[l.Name]
		if lv == nil {
			continue
		}
		if q := st.free[l.InputQuant.Outputs[0]]; q != nil {
			lv.ActivationValues, lv.ActivationMismatches, lv.ActivationMaxDiff = q.values, q.differ, q.maxSteps
		}
		if oq := m.OutputQuant(l); oq != nil {
			if q := st.isolated[oq.Outputs[0]]; q != nil {
				lv.OutputQuant = oq.Name
				lv.TieValues, lv.TieDiffer, lv.TieMaxDiff = q.values, q.differ, q.maxSteps
			}
		}
		v.Layers = append(v.Layers, *lv)
		v.Overflows += lv.Overflows
	}
	for name, q := range st.free {
		v.QuantizedValues += q.values
		v.Differ += q.differ
		v.MaxDiffSteps = max(v.MaxDiffSteps, q.maxSteps)
		iq := st.isolated[name]
		v.IsolatedDiffer += iq.differ
		v.IsolatedMaxDiffSteps = max(v.IsolatedMaxDiffSteps, iq.maxSteps)
	}
	v.IntegerMatchesFakeQuant = v.Differ == 0
	v.WithinTies = v.IsolatedMaxDiffSteps <= 1+stepSlack && float64(v.IsolatedDiffer) <= MaxTieFraction*float64(v.QuantizedValues)
	return v, nil
}

// verifyOne runs one input the three ways and adds the comparison to st.
func (m *Model) verifyOne(ctx context.Context, in map[string]*Tensor, o VerifyOptions, st *verifyState) error {
	fres, err := m.Run(ctx, in, RunOptions{Keep: true, MaxElements: o.MaxElements})
	if err != nil {
		return err
	}
	iopt := RunOptions{Keep: true, Integer: true, AccBits: o.AccBits, LayerAccBits: o.LayerAccBits, LayerTiles: o.LayerTiles, MaxElements: o.MaxElements}
	ires, err := m.Run(ctx, in, iopt)
	if err != nil {
		return err
	}
	iopt.LayerInputs, iopt.QuantOutputs = fres.Values, fres.Values
	isol, err := m.Run(ctx, in, iopt)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, ls := range ires.Layers {
		lv := st.stats[ls.Name]
		if lv == nil {
			lv = &LayerVerification{Name: ls.Name, AccBits: ls.AccBits, Tile: ls.Tile, AccBitsOuter: ls.AccBitsOuter,
				AccMinSeen: ls.AccMin, AccMaxSeen: ls.AccMax}
			st.stats[ls.Name] = lv
		}
		lv.Overflows += ls.Overflows
		lv.OverflowedOutputs += ls.OverflowedOutputs
		lv.Outputs += ls.Outputs
		lv.AccMinSeen, lv.AccMaxSeen = min(lv.AccMinSeen, ls.AccMin), max(lv.AccMaxSeen, ls.AccMax)
	}
	for name, q := range st.free {
		if err := q.add(fres.Values[name], ires.Values[name]); err != nil {
			return fmt.Errorf("qonnx: %s: value %q: %w", m.name(), name, err)
		}
		if err := st.isolated[name].add(fres.Values[name], isol.Values[name]); err != nil {
			return fmt.Errorf("qonnx: %s: value %q: %w", m.name(), name, err)
		}
	}
	for i := range st.v.Outputs {
		ov := &st.v.Outputs[i]
		a, b := fres.Outputs[ov.Name], ires.Outputs[ov.Name]
		if a == nil || b == nil || a.Len() != b.Len() {
			return fmt.Errorf("qonnx: %s: output %q: the two runs give values of different shapes", m.name(), ov.Name)
		}
		af, bf := a.Floats(), b.Floats()
		for j, x := range af {
			d := math.Abs(float64(x) - float64(bf[j]))
			if x != bf[j] {
				ov.Differ++
			}
			if d > ov.MaxAbsDiff || math.IsNaN(d) {
				ov.MaxAbsDiff = d
			}
		}
		ov.Values += int64(len(af))
		if ov.Step > 0 {
			ov.MaxDiffSteps = ov.MaxAbsDiff / ov.Step
		}
	}
	return nil
}
