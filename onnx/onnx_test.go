package onnx

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// floatModel builds the float model of an imported network for inputs of
// shape in ([H, W, C]).
func floatModel(t *testing.T, n *Network, in []int) *models.Model {
	t.Helper()
	task, out, err := models.GraphTask(n.Graph, in)
	if err != nil {
		t.Fatal(err)
	}
	cfg := models.Config{Model: "imported", Graph: n.Graph, InH: in[0], InW: in[1], InC: in[2]}
	if task == models.Classify {
		cfg.Classes = out[0]
	}
	m, err := models.FloatFromWeights(cfg, n.Weights)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run runs m on NHWC x in evaluation mode.
func run(m *models.Model, x *tensor.Tensor) []float32 {
	tp := autodiff.NewTape(2)
	out := m.Forward(tp, tp.Constant(x), false)
	return append([]float32(nil), out.Value.Data...)
}

// fixture is one network of testdata/ with what PyTorch measured.
type fixture struct {
	TestAccuracy float64     `json:"test_accuracy"`
	TestPSNR     float64     `json:"test_psnr"`
	FirstLogits  [][]float64 `json:"first_logits"`
	FirstOutputs []float64   `json:"first_outputs"`
	Ops          []string    `json:"ops"`
}

func readFixture(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func fashionTest(t *testing.T) *data.Set {
	t.Helper()
	if _, err := os.Stat(data.DebianFashionMNIST); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	_, test, err := data.Open("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	return test
}

// nhwc returns examples [0, n) of s as an NHWC tensor.
func nhwc(_ *data.Set, x []float32, n, c, h, w int) *tensor.Tensor {
	out := tensor.New(n, h, w, c)
	tensor.NCHWToNHWC(out.Data, x[:n*c*h*w], n, c, h, w)
	return out
}

// TestPyTorchParity imports the networks PyTorch exported (with batch norm
// folded and kept) and checks their outputs on the first test images
// against the ones PyTorch recorded, and their test accuracy.
func TestPyTorchParity(t *testing.T) {
	test := fashionTest(t)
	for _, name := range []string{"cnn_bn", "resnet8", "mobilenet_tiny", "espcn"} {
		f := readFixture(t, name)
		files := []string{name}
		if _, err := os.Stat(filepath.Join("testdata", name+"_bn.onnx")); err == nil {
			files = append(files, name+"_bn")
		}
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				n, err := Import(filepath.Join("testdata", file+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				if name == "espcn" {
					lo, err := data.Downscaled(test, 2)
					if err != nil {
						t.Fatal(err)
					}
					m := floatModel(t, n, []int{14, 14, 1})
					got := run(m, nhwc(lo, lo.X, 2, 1, 14, 14))
					closeTo(t, got[:len(f.FirstOutputs)], f.FirstOutputs, 1e-4)
					psnr := pooledPSNR(t, m, lo)
					if math.Abs(psnr-f.TestPSNR) > 0.01 {
						t.Errorf("test PSNR %.4f dB, PyTorch %.4f", psnr, f.TestPSNR)
					}
					return
				}
				m := floatModel(t, n, []int{28, 28, 1})
				got := run(m, nhwc(test, test.X, 8, 1, 28, 28))
				var want []float64
				for _, row := range f.FirstLogits {
					want = append(want, row...)
				}
				closeTo(t, got, want, 1e-4)
				if testing.Short() {
					return
				}
				acc := accuracy(m, test)
				if math.Abs(acc-f.TestAccuracy) > 0.001 {
					t.Errorf("test accuracy %.4f, PyTorch %.4f", acc, f.TestAccuracy)
				}
			})
		}
	}
}

func closeTo(t *testing.T, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > tol*max(1, math.Abs(w)) {
			t.Fatalf("output %d = %v, want %v (difference %.3g)", i, got[i], w, d)
		}
	}
}

func accuracy(m *models.Model, s *data.Set) float64 {
	correct := 0
	for lo := 0; lo < s.N; lo += 500 {
		n := min(500, s.N-lo)
		out := run(m, nhwc(s, s.X[lo*s.Size():], n, s.C, s.H, s.W))
		c := len(out) / n
		for i := 0; i < n; i++ {
			if metrics.Argmax(out[i*c:(i+1)*c]) == s.Labels[lo+i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(s.N)
}

// pooledPSNR is the PSNR of the mean squared error over the whole set, of
// outputs clamped to [0, 1], as the fixture's script measures it.
func pooledPSNR(t *testing.T, m *models.Model, s *data.Set) float64 {
	var se float64
	for lo := 0; lo < s.N; lo += 500 {
		n := min(500, s.N-lo)
		out := run(m, nhwc(s, s.X[lo*s.Size():], n, s.C, s.H, s.W))
		want := make([]float32, len(out))
		tensor.NCHWToNHWC(want, s.Y[lo*s.TargetSize():][:n*s.TargetSize()], n, s.TC, s.TH, s.TW)
		for i, v := range out {
			d := float64(min(max(v, 0), 1) - want[i])
			se += d * d
		}
	}
	return 10 * math.Log10(1/(se/float64(s.N*s.TargetSize())))
}

// TestAgainstInterpreter checks every float network in testdata (and the
// float QONNX test models from elsewhere) against package qonnx's own ONNX
// interpreter on random inputs: an oracle written independently of the
// importer, working in NCHW.
func TestAgainstInterpreter(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.onnx")
	for _, p := range []string{"mnist-conv_model.onnx", "residual_block_clean.onnx", "bsd300x3-espcn_subpixel_float_model.onnx"} {
		paths = append(paths, filepath.Join("..", "qonnx", "testdata", p))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			qm, err := qonnx.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := FromModel(qm)
			if err != nil {
				t.Fatal(err)
			}
			h, w, c := n.Graph.InShape[0], n.Graph.InShape[1], n.Graph.InShape[2]
			batch := 3
			if s := qm.Graph.Inputs[0].Shape[0]; s > 0 {
				batch = int(s)
			}
			x := make([]float32, batch*c*h*w)
			for i := range x {
				x[i] = rng.Float32()
			}
			res, err := qm.Run(context.Background(), map[string]*qonnx.Tensor{qm.Graph.Inputs[0].Name: qonnx.NewFloat(x, batch, c, h, w)}, qonnx.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := res.Outputs[qm.Graph.Outputs[0].Name]
			got := run(floatModel(t, n, []int{h, w, c}), nhwc(nil, x, batch, c, h, w))
			if len(want.Shape) == 4 { // compare in NCHW
				nchw := make([]float32, len(got))
				tensor.NHWCToNCHW(nchw, got, batch, want.Shape[1], want.Shape[2], want.Shape[3])
				got = nchw
			}
			wf := want.Floats()
			w64 := make([]float64, len(wf))
			for i, v := range wf {
				w64[i] = float64(v)
			}
			closeTo(t, got, w64, 1e-4)
		})
	}
}

// TestBadInput edits a real network into malformed ones; each must give an
// error naming the node and the reason.
func TestBadInput(t *testing.T) {
	base, err := os.ReadFile("testdata/cnn_bn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(m *qonnx.Model)
		want string
	}{
		{"unsupported op", func(m *qonnx.Model) { m.Graph.Nodes[1].OpType = "Softmax" }, `(Softmax): operator Softmax is not supported`},
		{"dilation", func(m *qonnx.Model) { m.Graph.Nodes[0].Attrs["dilations"].Ints = []int64{2, 2} }, `attribute "dilations"`},
		{"rectangular kernel", func(m *qonnx.Model) { m.Graph.Nodes[0].Attrs["kernel_shape"].Ints = []int64{3, 1} }, `attribute "kernel_shape"`},
		{"ceil mode", func(m *qonnx.Model) {
			m.Graph.Nodes[2].Attrs["ceil_mode"] = &qonnx.Attr{Name: "ceil_mode", Type: qonnx.AttrInt, Int: 1}
		}, `attribute "ceil_mode"`},
		{"weights that do not fit", func(m *qonnx.Model) { m.Graph.Nodes[3].Inputs[1] = m.Graph.Nodes[0].Inputs[1] }, `node "/f/f.2/f.2.0/Conv"`},
		{"unknown domain", func(m *qonnx.Model) { m.Graph.Nodes[1].Domain = "com.example" }, `domain "com.example"`},
		{"old opset", func(m *qonnx.Model) { m.Opsets[0].Version = 6 }, "opset 6"},
		{"NaN weight", func(m *qonnx.Model) { m.Graph.Initializers["fc.weight"].Float[7] = float32(math.NaN()) }, "NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := qonnx.Decode(base)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// A dangling input and a cycle are caught while decoding.
	m, _ := qonnx.Decode(base)
	m.Graph.Nodes[4].Inputs[0] = "nowhere"
	if b, err := m.Encode(); err == nil {
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "nowhere") {
			t.Errorf("dangling input: error %v", err)
		}
	}
	m, _ = qonnx.Decode(base)
	m.Graph.Nodes[0].Inputs[0] = m.Graph.Nodes[3].Outputs[0]
	if b, err := m.Encode(); err == nil {
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("cycle: error %v", err)
		}
	}
	// QONNX files are named as such.
	if _, err := Import("../qonnx/testdata/bsd300x3-espcn_subpixel_quant_model.onnx"); err == nil || !strings.Contains(err.Error(), "QONNX") {
		t.Errorf("QONNX file: error %v", err)
	}
}

// impossibleEdits turn cnn_bn.onnx (Conv, Relu, MaxPool, Conv, ...) into
// networks of impossible structure; want are substrings of the error.
var impossibleEdits = []struct {
	name string
	edit func(m *qonnx.Model)
	want []string
}{
	{"stride 0", func(m *qonnx.Model) { m.Graph.Nodes[3].Attrs["strides"].Ints = []int64{0, 0} }, []string{`/f/f.2/f.2.0/Conv (Conv) attribute "strides"`}},
	{"kernel [0 -5]", func(m *qonnx.Model) { m.Graph.Nodes[3].Attrs["kernel_shape"].Ints = []int64{0, -5} }, []string{`(Conv) attribute "kernel_shape"`, "[0 -5]"}},
	{"pads -100", func(m *qonnx.Model) { m.Graph.Nodes[3].Attrs["pads"].Ints = []int64{-100, -100, -100, -100} }, []string{`(Conv) attribute "pads"`}},
	{"group 0", func(m *qonnx.Model) { m.Graph.Nodes[3].Attrs["group"].Int = 0 }, []string{`(Conv) attribute "group"`}},
	{"pool stride 0", func(m *qonnx.Model) { m.Graph.Nodes[2].Attrs["strides"].Ints = []int64{0, 2} }, []string{`(MaxPool) attribute "strides"`}},
	{"pool kernel 0", func(m *qonnx.Model) { m.Graph.Nodes[2].Attrs["kernel_shape"].Ints = []int64{0, 0} }, []string{`(MaxPool) attribute "kernel_shape"`}},
	{"input 2^40×2^40", func(m *qonnx.Model) { m.Graph.Inputs[0].Shape = []int64{-1, 1, 1 << 40, 1 << 40} }, []string{`graph input "input"`, "more than"}},
	{"input 2^31 features", func(m *qonnx.Model) { m.Graph.Inputs[0].Shape = []int64{-1, 1 << 31} }, []string{`graph input "input"`, "more than"}},
	{"opset 999", func(m *qonnx.Model) { m.Opsets[0].Version = 999 }, []string{"opset 999", "supported: 7 to 21"}},
}

// TestImpossibleStructure checks that each impossible network is refused
// before import with an error wrapping qonnx.ErrInvalid that names the
// file, the node and the attribute, whether read from a file or given in
// memory.
func TestImpossibleStructure(t *testing.T) {
	dir := t.TempDir()
	for _, c := range impossibleEdits {
		t.Run(c.name, func(t *testing.T) {
			m, err := qonnx.Load("testdata/cnn_bn.onnx")
			if err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			check := func(what string, err error, want []string) {
				t.Helper()
				if !errors.Is(err, qonnx.ErrInvalid) {
					t.Fatalf("%s: err = %v, want qonnx.ErrInvalid", what, err)
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not mention %q", what, err, w)
					}
				}
			}
			_, err = FromModel(m)
			check("FromModel", err, c.want)
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Import(path)
			check("Import", err, append(c.want, path))
		})
	}
}

// FuzzDecode feeds corrupted networks to the importer: errors, never
// panics. The seeds include the impossible networks of impossibleEdits.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"testdata/cnn_bn.onnx", "testdata/resnet8_bn.onnx", "testdata/espcn.onnx"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range impossibleEdits {
		m, err := qonnx.Load("testdata/cnn_bn.onnx")
		if err != nil {
			f.Fatal(err)
		}
		c.edit(m)
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Decode(b)
		if err != nil {
			return
		}
		if _, err := n.Graph.Validate(nil); err != nil {
			t.Fatalf("imported graph does not validate: %v", err)
		}
		for name, w := range n.Weights {
			if w.Len() == 0 {
				t.Fatalf("empty weight %s", name)
			}
		}
	})
}

// TestExportRoundTrip quantizes each imported network (A2Q+ hidden layers
// at P = 16, 8-bit baseline edges, activation scales calibrated on one
// batch), exports it as QONNX and runs the export with package qonnx's
// interpreter: it must compute what the model computes.
func TestExportRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"cnn_bn_bn", "resnet8_bn", "mobilenet_tiny_bn", "espcn"} {
		t.Run(name, func(t *testing.T) {
			n, err := Import(filepath.Join("testdata", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			h, w, c := n.Graph.InShape[0], n.Graph.InShape[1], n.Graph.InShape[2]
			fm := floatModel(t, n, []int{h, w, c})
			start, err := fm.Checkpoint(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := fm.Config
			cfg.Hidden = quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
			cfg.First, cfg.Last = models.DefaultEdge(quant.A2QPlus), models.DefaultEdge(quant.A2QPlus)
			m, err := models.Build(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.InitFromCheckpoint(m, start, models.InitOptions{FoldGain: true}); err != nil {
				t.Fatal(err)
			}
			const batch = 4
			x := make([]float32, batch*c*h*w)
			for i := range x {
				x[i] = float32(rng.IntN(256)) / 255
			}
			tp := autodiff.NewTape(2)
			m.Forward(tp, tp.Constant(nhwc(nil, x, batch, c, h, w)), true) // calibrates the activation scales
			certs, err := m.Certificates(true)
			if err != nil {
				t.Fatal(err)
			}
			for _, cert := range certs {
				if !cert.Certified {
					t.Errorf("layer %s: not certified at P = 16 (exact %d bits)", cert.Name, cert.AccBitsExact)
				}
			}
			g, err := qonnx.Export(m, qonnx.ExportOptions{DynamicBatch: true})
			if err != nil {
				t.Fatal(err)
			}
			b, err := g.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back, err := qonnx.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			a, err := qonnx.Compare(context.Background(), back, m, x, batch, batch)
			if err != nil {
				t.Fatal(err)
			}
			if a.MaxAbsDiff > 1e-3*max(1, a.MaxAbsOutput) {
				t.Errorf("export differs from the model by %g (outputs up to %g)", a.MaxAbsDiff, a.MaxAbsOutput)
			}
		})
	}
}

// TestConvTranspose imports a transposed convolution (stride 2, padding,
// output padding, two groups, bias) built with qonnx's graph builder and
// checks the imported network against the definition, computed here in
// NCHW: y[n, o, i·S − P + kh, j·S − P + kw] += x[n, c, i, j]·w[c, o − g·Cout/G, kh, kw].
func TestConvTranspose(t *testing.T) {
	const (
		cin, cout, groups, k, stride, pad, opad = 4, 6, 2, 3, 2, 1, 1
		h, w                                    = 5, 4
	)
	rng := rand.New(rand.NewPCG(8, 8))
	wt := make([]float32, cin*(cout/groups)*k*k)
	for i := range wt {
		wt[i] = float32(rng.NormFloat64())
	}
	bias := []float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}
	b := qonnx.NewGraph("convtranspose")
	b.AddInput("x", -1, cin, h, w)
	b.AddInitializer("w", qonnx.NewFloat(wt, cin, cout/groups, k, k))
	b.AddInitializer("b", qonnx.NewFloat(bias, cout))
	y := b.AddNode("ConvTranspose", "", "up", []string{"x", "w", "b"}, 1,
		qonnx.IntsAttr("kernel_shape", k, k), qonnx.IntsAttr("strides", stride, stride), qonnx.IntsAttr("pads", pad, pad, pad, pad),
		qonnx.IntsAttr("output_padding", opad, opad), qonnx.IntAttr("group", groups))
	b.AddOutput(y)
	qm, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	n, err := FromModel(qm)
	if err != nil {
		t.Fatal(err)
	}
	oh, ow := (h-1)*stride-2*pad+k+opad, (w-1)*stride-2*pad+k+opad
	const batch = 2
	x := make([]float32, batch*cin*h*w)
	for i := range x {
		x[i] = rng.Float32()
	}
	want := make([]float64, batch*cout*oh*ow)
	for nb := 0; nb < batch; nb++ {
		for o := 0; o < cout; o++ {
			for i := range oh * ow {
				want[(nb*cout+o)*oh*ow+i] = float64(bias[o])
			}
		}
		for c := 0; c < cin; c++ {
			g := c / (cin / groups)
			for og := 0; og < cout/groups; og++ {
				o := g*cout/groups + og
				for i := 0; i < h; i++ {
					for j := 0; j < w; j++ {
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								yy, xx := i*stride-pad+kh, j*stride-pad+kw
								if yy < 0 || yy >= oh || xx < 0 || xx >= ow {
									continue
								}
								want[((nb*cout+o)*oh+yy)*ow+xx] += float64(x[((nb*cin+c)*h+i)*w+j]) * float64(wt[((c*(cout/groups)+og)*k+kh)*k+kw])
							}
						}
					}
				}
			}
		}
	}
	got := run(floatModel(t, n, []int{h, w, cin}), nhwc(nil, x, batch, cin, h, w))
	nchw := make([]float32, len(got))
	tensor.NHWCToNCHW(nchw, got, batch, cout, oh, ow)
	closeTo(t, nchw, want, 1e-5)
}

// TestAsymmetricPads imports convolutions and an average pool whose pads
// differ per side (the importer puts an explicit Pad before them) and
// checks them against package qonnx's interpreter.
func TestAsymmetricPads(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	w := make([]float32, 3*2*3*3)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	b := qonnx.NewGraph("pads")
	b.AddInput("x", -1, 2, 7, 6)
	b.AddInitializer("w", qonnx.NewFloat(w, 3, 2, 3, 3))
	c := b.AddNode("Conv", "", "conv", []string{"x", "w"}, 1, qonnx.IntsAttr("kernel_shape", 3, 3), qonnx.IntsAttr("pads", 0, 1, 2, 1), qonnx.IntsAttr("strides", 2, 2))
	p := b.AddNode("AveragePool", "", "avg", []string{c}, 1, qonnx.IntsAttr("kernel_shape", 2, 2), qonnx.IntsAttr("pads", 1, 0, 0, 1),
		qonnx.IntsAttr("strides", 1, 1), qonnx.IntAttr("count_include_pad", 1))
	b.AddOutput(p)
	qm, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	n, err := FromModel(qm)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 2
	x := make([]float32, batch*2*7*6)
	for i := range x {
		x[i] = rng.Float32()
	}
	res, err := qm.Run(context.Background(), map[string]*qonnx.Tensor{"x": qonnx.NewFloat(x, batch, 2, 7, 6)}, qonnx.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := res.Outputs[p]
	got := run(floatModel(t, n, []int{7, 6, 2}), nhwc(nil, x, batch, 2, 7, 6))
	nchw := make([]float32, len(got))
	tensor.NHWCToNCHW(nchw, got, batch, want.Shape[1], want.Shape[2], want.Shape[3])
	w64 := make([]float64, want.Len())
	for i, v := range want.Floats() {
		w64[i] = float64(v)
	}
	closeTo(t, nchw, w64, 1e-5)
}
