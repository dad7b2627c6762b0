package intinfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Graph nodes for the folding tests; chain links them.
func gConv(name string, in, out, k, pad int) graph.Node {
	return graph.Node{Name: name, Op: graph.Conv, In: in, Out: out, Kernel: k, Pad: pad, Bias: true}
}
func gLinear(name string, in, out int) graph.Node {
	return graph.Node{Name: name, Op: graph.Linear, In: in, Out: out, Bias: true}
}
func gBN(name string, c int) graph.Node {
	return graph.Node{Name: name, Op: graph.BatchNorm, Out: c, Eps: 1e-5}
}
func gClip(name string, lo, hi float32) graph.Node {
	return graph.Node{Name: name, Op: graph.Clip, Min: &lo, Max: &hi}
}
func gOp(name string, op graph.Op) graph.Node { return graph.Node{Name: name, Op: op} }
func gPool(name string) graph.Node {
	return graph.Node{Name: name, Op: graph.MaxPool, Kernel: 2}
}

// chain returns the graph that applies nodes in order to an input of
// shape in.
func chain(in []int, nodes ...graph.Node) *graph.Graph {
	prev := "x"
	for i := range nodes {
		nodes[i].Inputs = []string{prev}
		prev = nodes[i].Name
	}
	return &graph.Graph{Input: "x", InShape: in, Nodes: nodes, Output: prev}
}

// foldCase is a chain model with batch norms and clips between its layers.
type foldCase struct {
	name   string
	g      *graph.Graph
	hidden quant.LayerConfig
	// gamma gives batch norm bn's scale sign for channel c: −1, 0 or +1
	// (nil: mixedSigns).
	gamma func(bn string, c int) float32
	// wantNeg: some channel's map decreases, so FromModel negates weights.
	wantNeg bool
	// fused: the engine runs the fused pipeline on the preferred path.
	fused bool
}

// mixedSigns makes every third channel's scale negative.
func mixedSigns(_ string, c int) float32 {
	if c%3 == 1 {
		return -1
	}
	return 1
}

var a2qHidden = quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}

func foldCases() []foldCase {
	img := []int{10, 10, 2}
	return []foldCase{
		{name: "bn-relu-pool-bn-relu6", hidden: a2qHidden, wantNeg: true, fused: true, g: chain(img,
			gConv("conv1", 2, 8, 3, 1), gBN("bn1", 8), gOp("relu1", graph.ReLU), gPool("pool1"),
			gConv("conv2", 8, 8, 3, 1), gBN("bn2", 8), gClip("relu6", 0, 6), gOp("flat", graph.Flatten),
			gLinear("fc", 200, 4))},
		{name: "pool-then-positive-bn", hidden: a2qHidden, fused: true,
			gamma: func(string, int) float32 { return 1 }, g: chain(img,
				gConv("conv1", 2, 8, 3, 1), gPool("pool1"), gBN("bn1", 8), gOp("relu1", graph.ReLU),
				gConv("conv2", 8, 6, 3, 1), gBN("bn2", 6), gOp("relu2", graph.ReLU), gPool("pool2"), gOp("flat", graph.Flatten),
				gLinear("fc", 24, 3))},
		// Signed activations after a bare batch norm and after a clip to
		// [−1, 2]; a zero scale in one channel; the logits normalised too.
		{name: "signed-zero-scale-output-bn", hidden: a2qHidden, wantNeg: true, fused: true,
			gamma: func(bn string, c int) float32 {
				if bn == "bn1" && c == 2 {
					return 0
				}
				return mixedSigns(bn, c)
			}, g: chain(img,
				gConv("conv1", 2, 6, 3, 1), gBN("bn1", 6),
				gConv("conv2", 6, 8, 3, 1), gBN("bn2", 8), gClip("clip", -1, 2),
				gConv("conv3", 8, 4, 3, 0), gOp("relu3", graph.ReLU), gPool("pool3"), gOp("flat", graph.Flatten),
				gLinear("fc", 64, 5), gBN("bn_out", 5), gClip("clip_out", -2, 3))},
		// Two negative scales in a row cancel; a pool between them would
		// not commute (see the error cases), without one it folds.
		{name: "double-flip", hidden: a2qHidden, fused: true, g: chain(img,
			gConv("conv1", 2, 6, 3, 1), gBN("bn1a", 6), gBN("bn1b", 6), gOp("relu1", graph.ReLU), gPool("pool1"),
			gOp("flat", graph.Flatten), gLinear("fc", 150, 3))},
		{name: "mlp-bn1d", hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 6, ActBits: 6, AccBits: 14}, wantNeg: true, fused: true,
			g: chain(img, gOp("flat", graph.Flatten),
				gLinear("fc1", 200, 32), gBN("bn1", 32), gOp("relu1", graph.ReLU),
				gLinear("fc2", 32, 24), gBN("bn2", 24), gClip("relu6", 0, 6),
				gLinear("fc3", 24, 6), gBN("bn3", 6))},
		// A batch norm on the image, before the first layer (float).
		{name: "input-bn", hidden: a2qHidden, wantNeg: true, g: chain(img,
			gBN("bn_in", 2), gConv("conv1", 2, 6, 3, 1), gBN("bn1", 6), gOp("relu1", graph.ReLU), gPool("pool1"),
			gConv("conv2", 6, 6, 3, 0), gOp("relu2", graph.ReLU), gOp("flat", graph.Flatten), gLinear("fc", 54, 3))},
		// Super-resolution: the output is an image (pixel shuffle after
		// the last layer), a batch norm between each pair of layers.
		{name: "espcn-bn", hidden: a2qHidden, wantNeg: true, fused: true, g: chain([]int{7, 6, 1},
			gConv("conv1", 1, 16, 5, 2), gBN("bn1", 16), gOp("relu1", graph.ReLU),
			gConv("conv2", 16, 8, 3, 1), gBN("bn2", 8), gClip("relu6", 0, 6),
			gConv("conv3", 8, 4, 3, 1), graph.Node{Name: "shuffle", Op: graph.DepthToSpace, Factor: 2})},
	}
}

// foldModel builds c's graph with random weights, gives its batch norms
// scales of random magnitude with c's signs and random shifts, then
// running statistics from a training-mode pass over x (momentum 1), moved
// a little, and calibrates the activation quantizers on x in evaluation
// mode.
func foldModel(t *testing.T, c foldCase, x []float32, n int) *models.Model {
	t.Helper()
	in := c.g.InShape
	m, err := models.Build(models.Config{Model: c.name, Graph: c.g, InH: in[0], InW: in[1], InC: in[2], Seed: 7,
		Hidden: c.hidden, First: models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		t.Fatal(err)
	}
	fixed := map[*quant.ActQuant]bool{}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
		fixed[l.In] = l.In.Calibrated.Value.Data[0] != 0
	}
	var bns []*nn.BatchNorm
	for _, mod := range m.Net {
		if b, ok := mod.(*nn.BatchNorm); ok {
			b.Momentum = 1
			bns = append(bns, b)
		}
	}
	forward := func(train bool) {
		tp := autodiff.NewTape(1)
		m.Forward(tp, tp.Constant(tensor.FromData(slices.Clone(x), n, in[0], in[1], in[2])), train)
	}
	rng := rand.New(rand.NewPCG(11, uint64(len(c.name))))
	sign := c.gamma
	if sign == nil {
		sign = mixedSigns
	}
	for _, b := range bns {
		for i := range b.Gamma.Value.Data {
			b.Gamma.Value.Data[i] = sign(b.Name, i) * float32(0.5+1.5*rng.Float64())
			b.Beta.Value.Data[i] = float32(0.5 * rng.NormFloat64())
		}
	}
	// Training mode normalises with the batch statistics, which become
	// the running ones; then the means move a little, so that evaluation
	// differs from training.
	forward(true)
	for _, b := range bns {
		b.Momentum = 0.1
		for i, v := range b.RunVar.Value.Data {
			b.RunMean.Value.Data[i] += float32(0.2 * rng.NormFloat64() * math.Sqrt(float64(v)))
		}
	}
	for _, l := range m.Layers {
		if !fixed[l.In] {
			l.In.Calibrated.Value.Data[0] = 0
		}
	}
	forward(false)
	return m
}

// randomSet returns n random images of the model's input (NCHW, in [0,
// 1]) as a data set fit for Verify: labels, or targets for an image model.
func randomSet(rng *rand.Rand, m *models.Model, n int) *data.Set {
	c := m.Config
	s := &data.Set{Name: "random", N: n, C: c.InC, H: c.InH, W: c.InW}
	s.X = make([]float32, n*s.Size())
	for i := range s.X {
		s.X[i] = rng.Float32()
	}
	if m.Task == models.SuperResolve {
		s.TC, s.TH, s.TW = c.InC, 2*c.InH, 2*c.InW
		s.Y = make([]float32, n*s.TargetSize())
		for i := range s.Y {
			s.Y[i] = rng.Float32()
		}
	} else {
		s.Labels = make([]int, n)
		s.Classes = 2
	}
	return s
}

// TestFoldBitExact converts chain models with batch norms (scales of both
// signs and zero), ReLUs and clips between the layers, and batch norms and
// clips on float activations, and checks on every path and in every
// overflow mode that the integer model's activations and outputs equal the
// fake-quantized model's bit for bit, with no overflow at the certified
// widths.
func TestFoldBitExact(t *testing.T) {
	for _, c := range foldCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			const n = 48
			probe := &models.Model{Config: models.Config{InC: c.g.InShape[2], InH: c.g.InShape[0], InW: c.g.InShape[1]}}
			calib := randomSet(rng, probe, n)
			x := make([]float32, n*calib.Size())
			tensor.NCHWToNHWC(x, calib.X, n, calib.C, calib.H, calib.W)
			m := foldModel(t, c, x, n)
			im, err := FromModel(m)
			if err != nil {
				t.Fatal(err)
			}
			// Negated channels: the integer weights are the fake-quantized
			// model's, row by row, up to sign.
			negated := 0
			for i, l := range im.Layers() {
				q, _ := m.Layers[i].W.IntegerWeights()
				for ch := 0; ch < l.OutC; ch++ {
					row, orig := l.Weights[ch*l.K:(ch+1)*l.K], q[ch*l.K:(ch+1)*l.K]
					if slices.Equal(row, orig) {
						continue
					}
					for j := range row {
						if row[j] != -orig[j] {
							t.Fatalf("layer %s channel %d: weights are neither the model's nor their negation", l.Name, ch)
						}
					}
					negated++
				}
			}
			t.Logf("%d negated channels; ops %v", negated, opKinds(im))
			if (negated > 0) != c.wantNeg {
				t.Errorf("%d negated channels, want some: %v", negated, c.wantNeg)
			}
			set := randomSet(rng, m, 40)
			for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate} {
				for _, path := range []Path{PathScalar, PathPreferred, PathAcc16, PathAcc32} {
					e, err := NewEngine(im, Options{Mode: mode, Path: path, Threads: 2})
					if err != nil {
						t.Fatal(err)
					}
					if path == PathPreferred && c.fused && e.plan == nil {
						t.Errorf("%v: no fused pipeline (layers %+v)", mode, e.Layers())
					}
					v, err := Verify(context.Background(), m, e, set, VerifyOptions{Batch: 16})
					if err != nil {
						t.Fatal(err)
					}
					if !v.IntegerMatchesFakeQuant || !v.OutputsEqual || v.Overflows != 0 {
						t.Errorf("%v, %v: %+v", mode, path, v)
					}
					for _, lc := range v.Layers {
						if lc.AccBitsExact > lc.AccBits {
							t.Errorf("%v, %v: layer %s not certified: %+v", mode, path, lc.Name, lc)
						}
					}
				}
			}
			// The check is not vacuous: the layers see many levels, and the
			// outputs vary.
			e, err := NewEngine(im, Options{})
			if err != nil {
				t.Fatal(err)
			}
			x = make([]float32, set.N*set.Size())
			tensor.NCHWToNHWC(x, set.X, set.N, set.C, set.H, set.W)
			r := e.Run(x, set.N, true)
			for i, in := range r.Inputs[1:] {
				seen := map[int32]bool{}
				for _, v := range in {
					seen[v] = true
				}
				if len(seen) < 8 {
					t.Errorf("layer %d sees only %d distinct levels", i+1, len(seen))
				}
				t.Logf("layer %d: %d distinct input levels", i+1, len(seen))
			}
			if slices.Min(r.Out) == slices.Max(r.Out) {
				t.Error("constant output")
			}
			// The file round trip keeps the model and its outputs.
			path := filepath.Join(t.TempDir(), "m.a2qint")
			if err := Save(path, im); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, im) {
				t.Error("the loaded model differs from the saved one")
			}
		})
	}
}

// TestFoldThresholdsDense checks the folded thresholds of a layer against
// the model's own modules (batch norm, clip and the next layer's input
// quantizer, run on the tape) for every accumulator of a range that spans
// all levels, for channels of both directions.
func TestFoldThresholdsDense(t *testing.T) {
	c := foldCases()[0]
	rng := rand.New(rand.NewPCG(4, 4))
	probe := &models.Model{Config: models.Config{InC: 2, InH: 10, InW: 10}}
	set := randomSet(rng, probe, 16)
	x := make([]float32, 16*set.Size())
	tensor.NCHWToNHWC(x, set.X, 16, 2, 10, 10)
	m := foldModel(t, c, x, 16)
	im, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	l := im.Layers()[1] // conv2 → bn2 → clip(0, 6) → fc's quantizer
	bn2 := m.Net[5].(*nn.BatchNorm)
	next := m.Layers[2].In
	lo, hi := levels(l.OutBits, l.OutSigned)
	n := int(hi - lo)
	checked := 0
	for ch := 0; ch < l.OutC; ch++ {
		sign := int64(1)
		if bn2.Gamma.Value.Data[ch] < 0 {
			sign = -1
		}
		th := l.Thresholds[ch*n : (ch+1)*n]
		var finite []int64
		for _, v := range th {
			if v > threshLo && v < Unreached {
				finite = append(finite, v)
			}
		}
		if len(finite) < 2 {
			continue
		}
		// Every accumulator near each threshold, and a sweep across the
		// whole span of the levels.
		var accs []int64
		for _, v := range finite {
			for a := v - 64; a < v+64; a++ {
				accs = append(accs, a)
			}
		}
		a0, a1 := finite[0]-1000, finite[len(finite)-1]+1000
		for a, st := a0, max(1, (a1-a0)/50000); a <= a1; a += st {
			accs = append(accs, a)
		}
		// Run the channel through the modules: a tensor whose other
		// channels are zeros.
		xs := make([]float32, len(accs)*l.OutC)
		for i, a := range accs {
			xs[i*l.OutC+ch] = thresh.Requant(float32(sign*a), l.Scale[ch], l.Bias[ch])
		}
		tp := autodiff.NewTape(1)
		y := bn2.Forward(tp, tp.Constant(tensor.FromData(xs, len(accs), l.OutC)), false)
		y = nn.Clip{Lo: 0, Hi: 6}.Forward(tp, y, false)
		out := next.Apply(tp, y, false).Value.Data
		distinct := map[float32]bool{}
		for i, a := range accs {
			want := out[i*l.OutC+ch]
			distinct[want] = true
			got := lo
			for _, t := range th {
				if a >= t {
					got++
				}
			}
			if float32(got) != want {
				t.Fatalf("channel %d (sign %d): accumulator %d: thresholds give %d, the model %v", ch, sign, a, got, want)
			}
		}
		if len(distinct) < 3 {
			t.Errorf("channel %d: only %d levels checked", ch, len(distinct))
		}
		checked++
	}
	if checked < l.OutC/2 {
		t.Errorf("only %d of %d channels have thresholds to check", checked, l.OutC)
	}
}

// TestFoldRefusals checks the combinations FromModel refuses, each with an
// error naming the module at fault.
func TestFoldRefusals(t *testing.T) {
	img := []int{8, 8, 2}
	cases := []struct {
		name  string
		g     *graph.Graph
		edit  func(m *models.Model)
		wants []string
	}{
		{"pool before a negative batch norm", chain(img,
			gConv("conv1", 2, 6, 3, 1), gPool("pool1"), gBN("bn1", 6), gOp("relu1", graph.ReLU),
			gOp("flat", graph.Flatten), gLinear("fc", 96, 3)), nil,
			[]string{"max pool (module 1)", "batch norm bn1", "channel 1", "does not commute"}},
		{"pool between two sign changes", chain(img,
			gConv("conv1", 2, 6, 3, 1), gBN("bn1a", 6), gPool("pool1"), gBN("bn1b", 6), gOp("relu1", graph.ReLU),
			gOp("flat", graph.Flatten), gLinear("fc", 96, 3)), nil,
			[]string{"max pool (module 2)", "batch norm bn1b", "does not commute"}},
		{"batch norm after a spatial flatten", chain(img,
			gConv("conv1", 2, 4, 3, 1), gOp("relu1", graph.ReLU), gOp("flat", graph.Flatten), gBN("bn1", 256),
			gOp("relu2", graph.ReLU), gLinear("fc", 256, 3)), nil,
			[]string{"batch norm bn1", "flatten"}},
		{"average pool", chain(img,
			gConv("conv1", 2, 4, 3, 1), gOp("relu1", graph.ReLU), graph.Node{Name: "avg", Op: graph.AvgPool, Kernel: 2},
			gOp("flat", graph.Flatten), gLinear("fc", 64, 3)), nil,
			[]string{"step 2", "global average pooling"}},
		{"negative running variance", chain(img,
			gConv("conv1", 2, 4, 3, 1), gBN("bn1", 4), gOp("relu1", graph.ReLU),
			gOp("flat", graph.Flatten), gLinear("fc", 256, 3)),
			func(m *models.Model) { m.Net[1].(*nn.BatchNorm).RunVar.Value.Data[3] = -1 },
			[]string{"batch norm bn1", "channel 3", "variance"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			x := make([]float32, 8*8*8*2)
			for i := range x {
				x[i] = rng.Float32()
			}
			m := foldModel(t, foldCase{name: "refused", g: c.g, hidden: a2qHidden}, x, 8)
			if c.edit != nil {
				c.edit(m)
			}
			_, err := FromModel(m)
			if err == nil {
				t.Fatal("FromModel accepted the model")
			}
			t.Log(err)
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestFoldCertifyCatches checks that the certificate of the folded
// thresholds rejects thresholds one step off.
func TestFoldCertifyCatches(t *testing.T) {
	c := foldCases()[0]
	rng := rand.New(rand.NewPCG(6, 6))
	x := make([]float32, 8*10*10*2)
	for i := range x {
		x[i] = rng.Float32()
	}
	m := foldModel(t, c, x, 8)
	l, err := fromLayer(m.Layers[1])
	if err != nil {
		t.Fatal(err)
	}
	next, err := fromLayer(m.Layers[2])
	if err != nil {
		t.Fatal(err)
	}
	sg := &segment{model: "m", l: l, next: next, nextQuant: m.Layers[2].In, net: m.Net, from: 5, to: 8,
		shapes: moduleShapes(m.Net, []int{10, 10, 2})}
	if err := sg.fold(); err != nil {
		t.Fatal(err)
	}
	n := 1<<l.OutBits - 1
	moved := 0
	for ch := 0; ch < l.OutC; ch++ {
		th := l.Thresholds[ch*n : (ch+1)*n]
		for k := 1; k < n-1; k++ {
			if th[k-1] < th[k]-1 && th[k] < th[k+1] && th[k] < Unreached {
				th[k]-- // still sorted, one accumulator off
				if err := sg.certify(); err == nil || !strings.Contains(err.Error(), "bit-exact") {
					t.Fatalf("channel %d: threshold %d moved by one: %v", ch, k, err)
				}
				th[k]++
				moved++
				break
			}
		}
	}
	if moved == 0 {
		t.Fatal("no threshold to move")
	}
	if err := sg.certify(); err != nil {
		t.Fatal(err)
	}
}

// TestFormatVersions checks that a model without float batch norms or
// clips is written in format version 1, one with them in version 2, and
// that a version-1 file may not hold them.
func TestFormatVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	m := tinyModel(rng, tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100})
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(b[6:]); v != 1 {
		t.Errorf("model without float ops: version %d, want 1", v)
	}
	m.Ops = append(m.Ops, Op{Kind: OpBatchNorm, Norm: &Norm{Name: "bn", Mean: []float32{0, 1, 2, 3},
		InvStd: []float32{1, 2, 0.5, 3}, Gamma: []float32{1, -1, 0, 2}, Beta: []float32{0, 0.5, -1, 2}}},
		Op{Kind: OpClip, Lo: float32(math.Inf(-1)), Hi: 4}, Op{Kind: OpClip, Lo: -1, Hi: float32(math.Inf(1))})
	b, err = m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(b[6:]); v != 2 {
		t.Errorf("model with float ops: version %d, want 2", v)
	}
	got, err := Decode(b, "v2.a2qint")
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("version 2 round trip: %v", err)
	}
	e, err := NewEngine(got, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := randImages(rng, 2, m, 0, 1)
	out := e.Run(x, 2, false).Out
	e0, err := NewEngine(&Model{Name: m.Name, Task: m.Task, InH: m.InH, InW: m.InW, InC: m.InC, Ops: m.Ops[:5]}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := e0.Run(x, 2, false).Out
	for i, v := range raw {
		nm := m.Ops[5].Norm
		c := i % 4
		h := (v - nm.Mean[c]) * nm.InvStd[c]
		y := nm.Gamma[c]*h + nm.Beta[c]
		y = min(max(min(y, 4), -1), float32(math.Inf(1)))
		if out[i] != y {
			t.Fatalf("output %d: %v, want %v", i, out[i], y)
		}
	}
	binary.LittleEndian.PutUint16(b[6:], 1)
	if _, err := Decode(b, "v1.a2qint"); err == nil || !strings.Contains(err.Error(), "needs format version 2") {
		t.Errorf("version 1 file with a batch norm: %v", err)
	}
	binary.LittleEndian.PutUint16(b[6:], Version+1)
	if _, err := Decode(b, "future.a2qint"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", Version+1)) {
		t.Errorf("version %d file: %v", Version+1, err)
	}
	// Float ops on integer activations are refused.
	bad := tinyModel(rng, tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100})
	bad.Ops = slices.Insert(bad.Ops, 1, Op{Kind: OpClip, Lo: 0, Hi: 1})
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "integer activations") {
		t.Errorf("clip between layers: %v", err)
	}
	bad.Ops[1] = Op{Kind: OpClip, Lo: 2, Hi: 1}
	if err := bad.Validate(); err == nil {
		t.Error("empty clip accepted")
	}
}

func opKinds(m *Model) []OpKind {
	var k []OpKind
	for _, op := range m.Ops {
		k = append(k, op.Kind)
	}
	return k
}
