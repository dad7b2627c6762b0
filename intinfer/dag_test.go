package intinfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// skipGraph is an encoder–decoder with a residual sum, a skip
// concatenation, padding, a nearest upscaling and a depth-to-space output.
func skipGraph() *graph.Graph {
	six, zero := float32(6), float32(0)
	return &graph.Graph{Input: "x", InShape: []int{8, 8, 2}, Output: "out", Nodes: []graph.Node{
		{Name: "enc", Op: graph.Conv, Inputs: []string{"x"}, In: 2, Out: 8, Kernel: 3, Pad: 1, Bias: true},
		{Name: "enc.relu", Op: graph.ReLU, Inputs: []string{"enc"}},
		{Name: "down", Op: graph.MaxPool, Inputs: []string{"enc.relu"}, Kernel: 2},
		{Name: "mid", Op: graph.Conv, Inputs: []string{"down"}, In: 8, Out: 8, Kernel: 3, Pad: 1},
		{Name: "mid.bn", Op: graph.BatchNorm, Inputs: []string{"mid"}, Out: 8, Eps: 1e-5},
		{Name: "res", Op: graph.Add, Inputs: []string{"mid.bn", "down"}},
		{Name: "res.relu6", Op: graph.Clip, Inputs: []string{"res"}, Min: &zero, Max: &six},
		{Name: "up", Op: graph.Resize, Inputs: []string{"res.relu6"}, Factor: 2},
		{Name: "skip", Op: graph.Concat, Inputs: []string{"up", "enc.relu"}},
		{Name: "pad", Op: graph.Pad, Inputs: []string{"skip"}, Pads: []int{1, 1, 1, 1}},
		{Name: "head", Op: graph.Conv, Inputs: []string{"pad"}, In: 16, Out: 8, Kernel: 3, Bias: true},
		{Name: "out", Op: graph.DepthToSpace, Inputs: []string{"head"}, Factor: 2},
	}}
}

// dagModel builds cfg's model, gives its batch norms scales of both signs,
// running statistics from a training-mode pass over x, and calibrates
// every activation quantizer on x.
func dagModel(t testing.TB, cfg models.Config, x []float32, n int) *models.Model {
	t.Helper()
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	var bns []*nn.BatchNorm
	mods := []any{}
	for _, mod := range m.Net {
		mods = append(mods, mod)
	}
	if d, ok := m.Net[0].(*nn.DAG); ok {
		mods = mods[:0]
		for _, st := range d.Steps {
			mods = append(mods, st.Op)
		}
	}
	for _, op := range mods {
		if b, ok := op.(*nn.BatchNorm); ok {
			bns = append(bns, b)
			b.Momentum = 1
			for i := range b.Gamma.Value.Data {
				sign := float32(1)
				if i%3 == 1 {
					sign = -1
				}
				b.Gamma.Value.Data[i] = sign * float32(0.5+rng.Float64())
				b.Beta.Value.Data[i] = float32(0.3 * rng.NormFloat64())
			}
		}
	}
	tp := autodiff.NewTape(1)
	in := tensor.FromData(slices.Clone(x), n, cfg.InH, cfg.InW, cfg.InC)
	m.Forward(tp, tp.Constant(in), true) // batch statistics, calibration
	for _, b := range bns {
		b.Momentum = 0.1
	}
	return m
}

// dagCases are graph models for the integer engine's tests: the zoo's
// ResNet and MobileNet, an encoder–decoder with a residual sum and a skip
// concatenation, a U-Net with a transposed convolution, a padded value
// read twice, and leaky ReLU with pooling and global averaging.
func dagCases() []models.Config {
	a2qp := quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
	edge := models.DefaultEdge(quant.A2QPlus)
	return []models.Config{
		{Model: "resnet", InC: 3, InH: 12, InW: 12, Classes: 10, Hidden: a2qp, First: edge, Last: edge},
		{Model: "mobilenet", InC: 1, InH: 8, InW: 8, Classes: 4, Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 6, ActBits: 6, AccBits: 15}, First: edge, Last: edge},
		{Model: "skip", Graph: skipGraph(), InC: 2, InH: 8, InW: 8, Hidden: a2qp, First: edge, Last: edge},
		{Model: "unet", Graph: &graph.Graph{Input: "x", InShape: []int{6, 6, 1}, Output: "out", Nodes: []graph.Node{
			{Name: "e1", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 6, Kernel: 3, Pad: 1, Bias: true},
			{Name: "e1.relu", Op: graph.ReLU, Inputs: []string{"e1"}},
			{Name: "e2", Op: graph.Conv, Inputs: []string{"e1.relu"}, In: 6, Out: 8, Kernel: 3, Stride: 2, Pad: 1},
			{Name: "e2.bn", Op: graph.BatchNorm, Inputs: []string{"e2"}, Out: 8, Eps: 1e-5},
			{Name: "e2.relu", Op: graph.ReLU, Inputs: []string{"e2.bn"}},
			{Name: "up", Op: graph.ConvTranspose, Inputs: []string{"e2.relu"}, In: 8, Out: 6, Kernel: 3, Stride: 2, Pad: 1, OutputPad: 1, Groups: 2, Bias: true},
			{Name: "up.relu", Op: graph.ReLU, Inputs: []string{"up"}},
			{Name: "cat", Op: graph.Concat, Inputs: []string{"up.relu", "e1.relu"}},
			{Name: "head", Op: graph.Conv, Inputs: []string{"cat"}, In: 12, Out: 4, Kernel: 3, Pad: 1, Bias: true},
			{Name: "out", Op: graph.DepthToSpace, Inputs: []string{"head"}, Factor: 2},
		}}, InC: 1, InH: 6, InW: 6, Hidden: a2qp, First: edge, Last: edge},
		// One padded value (pad 0.3, so each reader's fill is its own
		// quantization of it) read by a layer and by a residual sum, whose
		// quantizers have their own scales.
		{Model: "twopad", Graph: &graph.Graph{Input: "x", InShape: []int{6, 6, 1}, Output: "out", Nodes: []graph.Node{
			{Name: "c1", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 4, Kernel: 3, Pad: 1, Bias: true},
			{Name: "c1.relu", Op: graph.ReLU, Inputs: []string{"c1"}},
			{Name: "pad", Op: graph.Pad, Inputs: []string{"c1.relu"}, Pads: []int{1, 1, 1, 1}, Value: 0.3},
			{Name: "a", Op: graph.Conv, Inputs: []string{"pad"}, In: 4, Out: 4, Kernel: 1, Bias: true},
			{Name: "sum", Op: graph.Add, Inputs: []string{"a", "pad"}},
			{Name: "head", Op: graph.Conv, Inputs: []string{"sum"}, In: 4, Out: 4, Kernel: 3, Pad: 1, Bias: true},
			{Name: "out", Op: graph.DepthToSpace, Inputs: []string{"head"}, Factor: 2},
		}}, InC: 1, InH: 6, InW: 6, Hidden: a2qp, First: edge, Last: edge},
		{Model: "leaky", Graph: &graph.Graph{Input: "x", InShape: []int{6, 6, 1}, Output: "fc", Nodes: []graph.Node{
			{Name: "c1", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 6, Kernel: 3, Pad: 1, Bias: true},
			{Name: "lrelu", Op: graph.LeakyReLU, Inputs: []string{"c1"}, Alpha: 0.125},
			{Name: "pool", Op: graph.MaxPool, Inputs: []string{"lrelu"}, Kernel: 3, Stride: 1},
			{Name: "c2", Op: graph.Conv, Inputs: []string{"pool"}, In: 6, Out: 6, Kernel: 3, Stride: 2, Pad: 1}, // 4×4 → 2×2
			{Name: "bn", Op: graph.BatchNorm, Inputs: []string{"c2"}, Out: 6, Eps: 1e-5},
			{Name: "relu", Op: graph.ReLU, Inputs: []string{"bn"}},
			{Name: "gap", Op: graph.GlobalAvgPool, Inputs: []string{"relu"}},
			{Name: "fc", Op: graph.Linear, Inputs: []string{"gap"}, In: 6, Out: 3, Bias: true},
		}}, InC: 1, InH: 6, InW: 6, Classes: 3, Hidden: a2qp, First: edge, Last: edge},
		// A batch norm with scales of both signs before a max pool: the
		// pool takes the smallest accumulator of a decreasing channel.
		{Model: "normpool", Graph: &graph.Graph{Input: "x", InShape: []int{8, 8, 1}, Output: "fc", Nodes: []graph.Node{
			{Name: "c1", Op: graph.Conv, Inputs: []string{"x"}, In: 1, Out: 6, Kernel: 3, Pad: 1, Bias: true},
			{Name: "bn", Op: graph.BatchNorm, Inputs: []string{"c1"}, Out: 6, Eps: 1e-5},
			{Name: "pool", Op: graph.MaxPool, Inputs: []string{"bn"}, Kernel: 2},
			{Name: "c2", Op: graph.Conv, Inputs: []string{"pool"}, In: 6, Out: 8, Kernel: 3, Pad: 1},
			{Name: "relu", Op: graph.ReLU, Inputs: []string{"c2"}},
			{Name: "pool2", Op: graph.MaxPool, Inputs: []string{"relu"}, Kernel: 2},
			{Name: "gap", Op: graph.GlobalAvgPool, Inputs: []string{"pool2"}},
			{Name: "fc", Op: graph.Linear, Inputs: []string{"gap"}, In: 8, Out: 3, Bias: true},
		}}, InC: 1, InH: 8, InW: 8, Classes: 3, Hidden: a2qp, First: edge, Last: edge},
	}
}

// dagCase builds case i of dagCases (dagModel, calibrated on 32 random
// images from rng), its integer model, and the calibration images (NHWC).
func dagCase(t testing.TB, cfg models.Config, i int, rng *rand.Rand) (*models.Model, *Model, []float32) {
	t.Helper()
	cfg.Seed = uint64(i + 3)
	const n = 32
	calib := randomSet(rng, &models.Model{Config: cfg}, n)
	x := make([]float32, n*calib.Size())
	tensor.NCHWToNHWC(x, calib.X, n, calib.C, calib.H, calib.W)
	m := dagModel(t, cfg, x, n)
	im, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, im, x
}

// TestDAGBitExact runs models with branches (the zoo's ResNet and
// MobileNet, and an encoder–decoder with a residual sum and a skip
// concatenation) as integers on every path and in every overflow mode: the
// layers' integer inputs and the outputs equal the fake-quantized model's
// bit for bit, with no overflow at the certified widths.
func TestDAGBitExact(t *testing.T) {
	cases := dagCases()
	for i, cfg := range cases {
		t.Run(cfg.Model, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			m, im, _ := dagCase(t, cfg, i, rng)
			set := randomSet(rng, m, 24)
			for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate} {
				for _, path := range []Path{PathScalar, PathPreferred, PathAcc16} {
					e, err := NewEngine(im, Options{Mode: mode, Path: path, Threads: 2})
					if err != nil {
						t.Fatal(err)
					}
					v, err := Verify(context.Background(), m, e, set, VerifyOptions{Batch: 8})
					if err != nil {
						t.Fatal(err)
					}
					if !v.IntegerMatchesFakeQuant || !v.OutputsEqual || v.Overflows != 0 {
						t.Fatalf("%v, %v: matches %v, outputs equal %v (max difference %g), overflows %d; layers %+v",
							mode, path, v.IntegerMatchesFakeQuant, v.OutputsEqual, v.MaxOutputDiff, v.Overflows, v.Layers)
					}
				}
			}
			// Not vacuous: the hidden layers see many levels.
			e, _ := NewEngine(im, Options{})
			xs := make([]float32, set.N*set.Size())
			tensor.NCHWToNHWC(xs, set.X, set.N, set.C, set.H, set.W)
			r := e.Run(xs, set.N, true)
			for li, in := range r.Inputs[1:] {
				seen := map[int32]bool{}
				for _, v := range in {
					seen[v] = true
				}
				if len(seen) < 6 {
					t.Errorf("layer %d sees only %d distinct levels", li+1, len(seen))
				}
			}
			if im.dag == nil {
				t.Fatal("not run by the graph engine")
			}
		})
	}
}

// TestDAGFusedMatchesGeneral runs the graph models on the fused form
// (dag_fast.go) and on the general graph path, on every kernel path, with
// the vector kernels of this CPU and without (then edges keep their
// threshold tables), with one and two threads and batches that leave a
// ragged last chunk: outputs and every layer's integer inputs agree bit
// for bit.
func TestDAGFusedMatchesGeneral(t *testing.T) {
	for i, cfg := range dagCases() {
		t.Run(cfg.Model, func(t *testing.T) {
			_, im, x := dagCase(t, cfg, i, rand.New(rand.NewPCG(7, uint64(i))))
			size := cfg.InH * cfg.InW * cfg.InC
			sparse := false
			for _, impl := range append(vecImpls(), "go") {
				forceVec(t, impl)
				for k, path := range []Path{PathPreferred, PathAcc16, PathAcc32, PathSparse, PathDense} {
					th := 1 + k%2
					e, err := NewEngine(im, Options{Path: path, Threads: th})
					if err != nil {
						t.Fatal(err)
					}
					if e.dagFast == nil {
						t.Fatalf("%v: no fused form", path)
					}
					for _, l := range e.Layers() {
						sparse = sparse || l.Kernel == "sparse16"
					}
					if vec := len(vecMaps(e.dagFast)); (vec > 0) != (impl != "go") && (cfg.Model == "resnet" || cfg.Model == "mobilenet") {
						t.Errorf("%s: %d edges evaluate their map with vector instructions", impl, vec)
					}
					general := *e
					general.dagFast = nil
					for _, nb := range []int{1, 13, 32} {
						xs := x[:nb*size]
						got, want := e.Run(xs, nb, true), general.Run(xs, nb, true)
						if !slices.Equal(got.Out, want.Out) || !slices.Equal(got.Shape, want.Shape) {
							t.Fatalf("%s, %v, %d threads, %d images: outputs differ", impl, path, th, nb)
						}
						for li := range want.Inputs {
							if !slices.Equal(got.Inputs[li], want.Inputs[li]) {
								t.Fatalf("%s, %v, %d threads, %d images: layer %d's inputs differ", impl, path, th, nb, li)
							}
						}
					}
				}
			}
			// leaky's and unet's hidden layers have strides or groups.
			if !sparse && cfg.Model != "leaky" && cfg.Model != "unet" {
				t.Error("no layer ran on the sparse kernel")
			}
		})
	}
}

// vecMaps returns the vector programs of f's edges (those that evaluate
// their maps with vecMap).
func vecMaps(f *dagFast) []*vecMap {
	var vms []*vecMap
	var walk func(fe *fastEdge)
	walk = func(fe *fastEdge) {
		if fe.vm != nil {
			vms = append(vms, fe.vm)
		}
		for _, p := range fe.parts {
			walk(p)
		}
	}
	for _, fe := range f.in {
		walk(fe)
	}
	for _, src := range f.srcs {
		for _, fe := range src.in {
			walk(fe)
		}
	}
	return vms
}

// TestGraphFile writes each graph model to the integer model file (format
// version 4) and reads it back: the model read runs to the same outputs
// bit for bit and writes the same bytes again.
func TestGraphFile(t *testing.T) {
	for i, cfg := range dagCases() {
		t.Run(cfg.Model, func(t *testing.T) {
			_, im, x := dagCase(t, cfg, i, rand.New(rand.NewPCG(8, uint64(i))))
			b, err := im.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if v := binary.LittleEndian.Uint16(b[6:]); v != 4 {
				t.Errorf("format version %d, want 4", v)
			}
			got, err := Decode(b, "graph.a2qint")
			if err != nil {
				t.Fatal(err)
			}
			again, err := got.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			nb := 13
			xs := x[:nb*cfg.InH*cfg.InW*cfg.InC]
			for _, path := range []Path{PathPreferred, PathScalar} {
				e1, err1 := NewEngine(im, Options{Path: path})
				e2, err2 := NewEngine(got, Options{Path: path})
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if !slices.Equal(e1.Run(xs, nb, false).Out, e2.Run(xs, nb, false).Out) {
					t.Errorf("%v: the model read back computes other outputs", path)
				}
			}
		})
	}
}

// TestGraphFileErrors refuses crafted graph files with an error naming
// the file and what is wrong.
func TestGraphFileErrors(t *testing.T) {
	_, im, _ := dagCase(t, dagCases()[2], 2, rand.New(rand.NewPCG(8, 2)))
	good, err := im.Encode()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(h *fileHeader), version uint16) []byte {
		hl := binary.LittleEndian.Uint32(good[8:])
		var h fileHeader
		if err := json.Unmarshal(good[prefixLen:prefixLen+int(hl)], &h); err != nil {
			t.Fatal(err)
		}
		f(&h)
		hj, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), good[:prefixLen]...)
		binary.LittleEndian.PutUint16(b[6:], version)
		binary.LittleEndian.PutUint32(b[8:], uint32(len(hj)))
		b = append(b, hj...)
		return append(b, good[prefixLen+int(hl):]...)
	}
	steps := func(h *fileHeader) []fileStep { return h.Graph.Steps }
	// retype gives the last step of kind from kind to.
	retype := func(h *fileHeader, from, to OpKind) {
		for i := len(steps(h)) - 1; i >= 0; i-- {
			if steps(h)[i].Op == from {
				steps(h)[i].Op = to
				return
			}
		}
		t.Fatalf("no %s step", from)
	}
	cases := []struct {
		name    string
		edit    func(h *fileHeader)
		version uint16
		want    string
	}{
		{"graph in version 3", func(h *fileHeader) {}, 3, "needs format version 4"},
		{"output out of range", func(h *fileHeader) { h.Graph.Output = len(h.Graph.Steps) + 1 }, 4, "output value"},
		{"input from a later step", func(h *fileHeader) { steps(h)[0].Inputs = []int{3} }, 4, "input value 3"},
		{"unknown step", func(h *fileHeader) { retype(h, opConcat, "softmax") }, 4, "unknown step kind"},
		{"layer step missing", func(h *fileHeader) { retype(h, OpLayer, OpFlatten) }, 4, "ops left"},
		{"sum quantizer", func(h *fileHeader) {
			for i := range steps(h) {
				if steps(h)[i].Op == opSum {
					steps(h)[i].Bits = 0
				}
			}
		}, 4, "quantizer of 0 bits"},
		{"negative padding", func(h *fileHeader) {
			for i := range steps(h) {
				if steps(h)[i].Op == opPad {
					steps(h)[i].Pads[1] = -2
				}
			}
		}, 4, "padding"},
		{"layer on the wrong input", func(h *fileHeader) {
			for i := range steps(h) {
				if steps(h)[i].Op == OpLayer {
					steps(h)[i].Inputs = []int{0}
				}
			}
		}, 4, "in_c"},
		{"non-layer op in a graph's ops", func(h *fileHeader) { h.Ops = append(h.Ops, fileOp{Op: OpReLU}) }, 4, "ops left"},
	}
	for _, c := range cases {
		_, err := Decode(edit(c.edit, c.version), "crafted.a2qint")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "crafted.a2qint") {
			t.Errorf("%s: %v, want an error naming the file and saying %q", c.name, err, c.want)
		}
	}
}
