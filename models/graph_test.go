package models

import (
	"math"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// skipNet is a small encoder–decoder with a residual sum and a skip
// concatenation: a graph no chain can express.
func skipNet() *graph.Graph {
	six := float32(6)
	zero := float32(0)
	return &graph.Graph{Input: "x", InShape: []int{8, 8, 1}, Output: "out", Nodes: []graph.Node{
		{Name: "enc", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 8, Kernel: 3, Pad: 1, Bias: true},
		{Name: "enc.relu", Op: graph.ReLU, Inputs: []string{"enc"}},
		{Name: "down", Op: graph.MaxPool, Inputs: []string{"enc.relu"}, Kernel: 2},
		{Name: "mid", Op: graph.Conv, Inputs: []string{"down"}, In: 8, Out: 8, Kernel: 3, Pad: 1},
		{Name: "mid.bn", Op: graph.BatchNorm, Inputs: []string{"mid"}, Out: 8, Eps: 1e-5},
		{Name: "res", Op: graph.Add, Inputs: []string{"mid.bn", "down"}},
		{Name: "res.relu6", Op: graph.Clip, Inputs: []string{"res"}, Min: &zero, Max: &six},
		{Name: "up", Op: graph.Resize, Inputs: []string{"res.relu6"}, Factor: 2},
		{Name: "skip", Op: graph.Concat, Inputs: []string{"up", "enc.relu"}},
		{Name: "head", Op: graph.Conv, Inputs: []string{"skip"}, In: 16, Out: 4, Kernel: 1, Bias: true},
		{Name: "out", Op: graph.DepthToSpace, Inputs: []string{"head"}, Factor: 2},
	}}
}

// TestGraphModel builds an A2Q+ model from a graph with branches: roles,
// input signedness, a training step, and a checkpoint that carries the
// graph and rebuilds the same function.
func TestGraphModel(t *testing.T) {
	cfg := Config{Model: "skipnet", Graph: skipNet(), InH: 8, InW: 8, InC: 1, Seed: 4,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  DefaultEdge(quant.A2QPlus), Last: DefaultEdge(quant.A2QPlus)}
	m, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Task != SuperResolve {
		t.Errorf("task %s, want %s (the output is an image)", m.Task, SuperResolve)
	}
	var names []string
	var hidden []bool
	for i, l := range m.Layers {
		names = append(names, l.Name)
		hidden = append(hidden, m.Hidden(i))
		if l.In.Signed {
			t.Errorf("layer %s: input quantized signed; the graph proves it non-negative", l.Name)
		}
	}
	if !slices.Equal(names, []string{"enc", "mid", "head"}) || !slices.Equal(hidden, []bool{false, true, false}) {
		t.Fatalf("layers %v hidden %v", names, hidden)
	}
	if m.Layers[1].W.Mode != quant.A2QPlus || m.Layers[0].W.Mode != quant.Baseline {
		t.Errorf("modes %s %s", m.Layers[0].W.Mode, m.Layers[1].W.Mode)
	}
	x := tensor.New(4, 8, 8, 1)
	for i := range x.Data {
		x.Data[i] = float32(i%17) / 16
	}
	target := tensor.New(4, 16, 16, 1)
	tp := autodiff.NewTape(1)
	loss := m.Loss(tp, tp.Constant(x), nil, target)
	tp.Backward(loss)
	if g := m.Layers[1].W.Log2G.Grad.Data; slices.Max(g) == 0 && slices.Min(g) == 0 {
		t.Error("no gradient reached the hidden layer through the residual branch")
	}
	tp.Reset()
	want := append([]float32(nil), m.Forward(tp, tp.Constant(x), false).Value.Data...)
	c, err := m.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeModel(b)
	if err != nil {
		t.Fatal(err)
	}
	tp.Reset()
	if got := back.Forward(tp, tp.Constant(x), false).Value.Data; !slices.Equal(got, want) {
		t.Error("the model rebuilt from its checkpoint computes another function")
	}
}

func decodeModel(b []byte) (*Model, error) {
	c, err := checkpoint.Decode(b)
	if err != nil {
		return nil, err
	}
	return FromCheckpoint(c)
}

// TestRestoredNorms: a hidden layer whose output feeds a residual sum
// gets a batch norm, initialised so that its channels carry the float
// model's mean and spread again after the A2Q projection shrank them.
func TestRestoredNorms(t *testing.T) {
	g := &graph.Graph{Input: "x", InShape: []int{8, 8, 1}, Output: "out", Nodes: []graph.Node{
		{Name: "enc", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 8, Kernel: 3, Pad: 1, Bias: true},
		{Name: "enc.relu", Op: graph.ReLU, Inputs: []string{"enc"}},
		{Name: "mid", Op: graph.Conv, Inputs: []string{"enc.relu"}, In: 8, Out: 8, Kernel: 3, Pad: 1, Bias: true},
		{Name: "res", Op: graph.Add, Inputs: []string{"mid", "enc.relu"}},
		{Name: "res.relu", Op: graph.ReLU, Inputs: []string{"res"}},
		{Name: "head", Op: graph.Conv, Inputs: []string{"res.relu"}, In: 8, Out: 4, Kernel: 3, Pad: 1, Bias: true},
		{Name: "out", Op: graph.DepthToSpace, Inputs: []string{"head"}, Factor: 2},
	}}
	rg, names, err := WithRestoredNorms(g)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"mid.bn"}) || !slices.Equal(rg.Node("res").Inputs, []string{"mid.bn", "enc.relu"}) {
		t.Fatalf("inserted %v; res reads %v", names, rg.Node("res").Inputs)
	}
	float := quant.LayerConfig{Mode: quant.Float}
	cfg := Config{Model: "res", Graph: rg, InH: 8, InW: 8, InC: 1, Seed: 2, Hidden: float, First: float, Last: float}
	fm, err := FloatFromWeights(cfg, nil) // random weights, mid.bn the identity
	if err != nil {
		t.Fatal(err)
	}
	fbn := fm.batchNorm("mid.bn")
	c, err := fm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hidden = quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 12}
	cfg.First, cfg.Last = DefaultEdge(quant.A2Q), DefaultEdge(quant.A2Q)
	m, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(64, 8, 8, 1)
	for i := range x.Data {
		x.Data[i] = float32(i*7%23) / 22
	}
	if _, err := InitFromCheckpoint(m, c, InitOptions{RestoredNorms: names, NormsOn: x}); err != nil {
		t.Fatal(err)
	}
	// The float channel statistics at mid's output, and the quantized
	// model's after its restored norm.
	fmom, err := observedMoments(fm, []*nn.BatchNorm{fbn}, x, 1)
	if err != nil {
		t.Fatal(err)
	}
	fmu, fvar := fmom[0].mu, fmom[0].vr
	qbn := m.batchNorm("mid.bn")
	qmom, err := observedMoments(m, []*nn.BatchNorm{qbn}, x, 1)
	if err != nil {
		t.Fatal(err)
	}
	qmu, qvar := qmom[0].mu, qmom[0].vr
	shrunk := false
	for ch := range fmu {
		shrunk = shrunk || qvar[ch] < fvar[ch]/4
		// The norm maps the quantized channel's statistics onto the float ones.
		gain := float64(qbn.Gamma.Value.Data[ch]) / math.Sqrt(qvar[ch]+float64(qbn.Eps))
		mu := (qmu[ch]-float64(qbn.RunMean.Value.Data[ch]))*gain + float64(qbn.Beta.Value.Data[ch])
		v := qvar[ch] * gain * gain
		if math.Abs(mu-fmu[ch]) > 1e-3*(1+math.Abs(fmu[ch])) || math.Abs(v-fvar[ch]) > 0.01*fvar[ch]+1e-6 {
			t.Errorf("channel %d: restored mean %.4g variance %.4g, float %.4g %.4g (gamma %v runvar %v qvar %v)", ch, mu, v, fmu[ch], fvar[ch], qbn.Gamma.Value.Data[ch], qbn.RunVar.Value.Data[ch], qvar[ch])
		}
	}
	if !shrunk {
		t.Error("the A2Q projection shrank no channel: the test checks nothing")
	}
}
