package models

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/optim"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

func config(model string, mode quant.Mode) Config {
	c := Config{Model: model, InC: 1, InH: 28, InW: 28, Classes: 10, Scale: 3, Seed: 7,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 4, ActBits: 4, AccBits: 14},
		First:  DefaultEdge(mode), Last: DefaultEdge(mode)}
	if mode == quant.Float {
		c.Hidden = quant.LayerConfig{Mode: quant.Float}
	}
	return c
}

func input(n, h, w, c int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(n, h, w, c)
	for i := range x.Data {
		x.Data[i] = float32(rng.Float64())
	}
	return x
}

func TestShapes(t *testing.T) {
	for _, c := range []struct {
		model string
		want  []int
	}{{"cnn", []int{2, 10}}, {"mlp", []int{2, 10}}, {"espcn", []int{2, 84, 84, 1}},
		{"mobilenet", []int{2, 10}}, {"resnet", []int{2, 10}}} {
		for _, mode := range []quant.Mode{quant.Float, quant.Baseline, quant.A2Q, quant.A2QPlus} {
			m, err := Build(config(c.model, mode))
			if err != nil {
				t.Fatalf("%s %s: %v", c.model, mode, err)
			}
			tp := autodiff.NewTape(1)
			y := m.Forward(tp, tp.Constant(input(2, 28, 28, 1)), false).Value
			if !slices.Equal(y.Shape, c.want) {
				t.Errorf("%s %s: output %v, want %v", c.model, mode, y.Shape, c.want)
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "vgg", InC: 1, InH: 28, InW: 28}, "unknown model"},
		{Config{Model: "cnn", InC: 1, InH: 8, InW: 8, Classes: 10}, "too small"},
		{Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 9},
			First:  DefaultEdge(quant.A2Q), Last: DefaultEdge(quant.A2Q)}, "conv2"},
	} {
		if _, err := Build(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestCheckpointRoundTrip saves a quantized model and loads it back: same
// outputs, same certificates.
func TestCheckpointRoundTrip(t *testing.T) {
	m, err := Build(config("cnn", quant.A2QPlus))
	if err != nil {
		t.Fatal(err)
	}
	x := input(3, 28, 28, 1)
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(x), true) // calibrate the activation quantizers
	tp.Reset()
	want := m.Forward(tp, tp.Constant(x), false).Value.Clone()
	c, err := m.Checkpoint(map[string]string{"note": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}
	c2, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := FromCheckpoint(c2)
	if err != nil {
		t.Fatal(err)
	}
	got := m2.Forward(tp, tp.Constant(x), false).Value
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("output %d: %v after reload, %v before", i, got.Data[i], want.Data[i])
		}
	}
	delete(c2.Tensors, "conv2.log2_g")
	if _, err := FromCheckpoint(c2); err == nil || !strings.Contains(err.Error(), "conv2.log2_g") {
		t.Fatalf("missing tensor: err = %v", err)
	}
}

// TestInitFromFloat: a float model's weights seed an A2Q model whose hidden
// layer then satisfies its budget, with the projection keeping the
// quantized weights non-zero.
func TestInitFromFloat(t *testing.T) {
	f, err := Build(config("cnn", quant.Float))
	if err != nil {
		t.Fatal(err)
	}
	path := saveCheckpoint(t, f)
	q, err := Build(config("cnn", quant.A2Q))
	if err != nil {
		t.Fatal(err)
	}
	if err := InitFromFloat(q, path); err != nil {
		t.Fatal(err)
	}
	certs, err := q.Certificates(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || !certs[0].Certified || certs[0].Sparsity == 1 {
		t.Fatalf("hidden layer after init: %+v", certs)
	}
	// The first layer's weights came from the float model.
	if q.Layers[0].Weight.Value.Data[0] != f.Layers[0].Weight.Value.Data[0] {
		t.Error("conv1 weights not copied")
	}
	mlp, _ := Build(config("mlp", quant.A2Q))
	if err := InitFromFloat(mlp, path); err == nil || !strings.Contains(err.Error(), "cnn") {
		t.Errorf("cnn checkpoint into mlp: err = %v", err)
	}
}

// TestOverfitBatch: a few Adam steps on one fixed batch must reduce the
// loss of every classifier, float and A2Q+ (a broken gradient path through
// any block, residual or depthwise, would not).
func TestOverfitBatch(t *testing.T) {
	labels := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for _, model := range []string{"cnn", "mlp", "mobilenet", "resnet"} {
		for _, mode := range []quant.Mode{quant.Float, quant.A2QPlus} {
			cfg := config(model, mode)
			cfg.Hidden.AccBits = 20
			m, err := Build(cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := input(8, 28, 28, 1)
			opt := optim.NewAdam(m.Params(), 0, true)
			tp := autodiff.NewTape(2)
			var first, last float32
			for step := 0; step < 25; step++ {
				nn.ZeroGrad(m.Params())
				loss := m.Loss(tp, tp.Constant(x), labels, nil)
				if step == 0 {
					first = loss.Value.Data[0]
				}
				last = loss.Value.Data[0]
				tp.Backward(loss)
				opt.Step(3e-3)
				tp.Reset()
			}
			if !(last < 0.7*first) {
				t.Errorf("%s %s: loss %.3f → %.3f after 25 steps on one batch", model, mode, first, last)
			}
		}
	}
}

// TestFoldProjectionGain: giving the projection's shrinkage back brings the
// A2Q model's logits towards the float model's and keeps the hidden layer's
// integer weights (and so its certificate), by either rule: through conv2's
// own scale (s and g times α, so that g/s does not change; conv2's bias and
// the dense layer's weights stay the float model's), or, with
// GainToNextLayer, through the dense layer's weights (times α) and conv2's
// bias (over α).
func TestFoldProjectionGain(t *testing.T) {
	f, err := Build(config("cnn", quant.Float))
	if err != nil {
		t.Fatal(err)
	}
	// Give conv2 larger weights so that the P = 14, 4-bit budget bites, and
	// biases to fold.
	for i := range f.Layers[1].Weight.Value.Data {
		f.Layers[1].Weight.Value.Data[i] *= 4
	}
	for i := range f.Layers[1].Bias.Value.Data {
		f.Layers[1].Bias.Value.Data[i] = 0.01 * float32(i%5+1)
	}
	path := saveCheckpoint(t, f)
	x := input(16, 28, 28, 1)
	tp := autodiff.NewTape(1)
	want := f.Forward(tp, tp.Constant(x), false).Value.Clone()
	// run initialises an A2Q model: plain (no gain given back), by default
	// (FoldProjectionGain after InitFromFloat) or with the earlier rule.
	run := func(rule string) (*Model, float64, []int32) {
		q, err := Build(config("cnn", quant.A2Q))
		if err != nil {
			t.Fatal(err)
		}
		switch rule {
		case "plain", "default":
			if err := InitFromFloat(q, path); err != nil {
				t.Fatal(err)
			}
			if rule == "default" {
				if n, err := FoldProjectionGain(q, path); err != nil || n != 1 {
					t.Fatalf("folded %d layers, err %v", n, err)
				}
			}
		case "next":
			r, err := InitFromFloatWith(q, path, InitOptions{FoldGain: true, GainToNextLayer: true, KeepProjectedNorm: true})
			if err != nil || r.Folded != 1 {
				t.Fatalf("folded %+v, err %v", r, err)
			}
		}
		got := q.Forward(tp, tp.Constant(x), true).Value
		var d float64
		for i, v := range got.Data {
			d += math.Abs(float64(v - want.Data[i]))
		}
		qi, _ := q.Layers[1].W.IntegerWeights()
		return q, d, qi
	}
	plainM, plain, q0 := run("plain")
	alpha := plainM.Layers[1].W.ProjectionGain()
	if alpha == nil || slices.Min(alpha) <= 1 {
		t.Fatalf("projection gains %v: the budget does not bite", alpha)
	}
	fw := f.Layers[2].Weight.Value.Data // the dense layer's float weights
	cin := len(alpha)
	for _, rule := range []string{"default", "next"} {
		m, d, q := run(rule)
		t.Logf("%s: L1 distance to the float logits %.3g, %.3g without the gain", rule, d, plain)
		if !(d < 0.85*plain) {
			t.Errorf("%s: the gain did not bring the logits closer: %.3g vs %.3g", rule, d, plain)
		}
		if !slices.Equal(q, q0) {
			t.Fatalf("%s: conv2's integer weights changed", rule)
		}
		c2, fc := m.Layers[1], m.Layers[2]
		for c, a := range alpha {
			ds := float64(c2.W.Log2S.Value.Data[c] - plainM.Layers[1].W.Log2S.Value.Data[c])
			dg := float64(c2.W.Log2G.Value.Data[c] - plainM.Layers[1].W.Log2G.Value.Data[c])
			b, fb := float64(c2.Bias.Value.Data[c]), float64(f.Layers[1].Bias.Value.Data[c])
			switch rule {
			case "default":
				if math.Abs(ds-math.Log2(a)) > 1e-4 || math.Abs(dg-ds) > 1e-4 {
					t.Errorf("default channel %d: log2 s moved by %.5g, log2 g by %.5g, want log2 α = %.5g", c, ds, dg, math.Log2(a))
				}
				if b != fb {
					t.Errorf("default channel %d: bias %g, float %g", c, b, fb)
				}
			case "next":
				if ds != 0 || dg != 0 {
					t.Errorf("next channel %d: s or g moved", c)
				}
				if math.Abs(b-fb/a) > 1e-6*math.Abs(fb) {
					t.Errorf("next channel %d: bias %g, want %g/α = %g", c, b, fb, fb/a)
				}
			}
		}
		for j, v := range fc.Weight.Value.Data {
			want := fw[j]
			if rule == "next" {
				want = float32(float64(fw[j]) * alpha[(j%fc.InC)%cin])
			}
			if math.Abs(float64(v-want)) > 1e-6*math.Abs(float64(want)) {
				t.Fatalf("%s: dense weight %d is %g, want %g", rule, j, v, want)
			}
		}
	}
}

// TestInitFromFloatWith: zero-centring an A2Q+ layer on data brings the
// model's outputs closer to the float model's than subtracting the channel
// means where the budget leaves room, and is never kept where it would be
// worse; folding composes with it, the hidden layer stays certified, and
// the activation quantizers are left for training to calibrate.
func TestInitFromFloatWith(t *testing.T) {
	f, err := Build(config("cnn", quant.Float))
	if err != nil {
		t.Fatal(err)
	}
	// Shift conv2's channel means away from zero, as trained filters after
	// a ReLU often are.
	for i := range f.Layers[1].Weight.Value.Data {
		f.Layers[1].Weight.Value.Data[i] += 0.05
	}
	path := saveCheckpoint(t, f)
	x := input(300, 28, 28, 1)
	tp := autodiff.NewTape(1)
	want := f.Forward(tp, tp.Constant(x), false).Value.Clone()
	tp.Reset()
	dist := func(bits, p int, o InitOptions) (float64, InitResult) {
		q, r := initCertified(t, "cnn", quant.A2QPlus, bits, p, path, o)
		if tried := o.CentreOn != nil; (r.Centred+r.PlainLayers == 1) != tried || (r.Folded == 1) != o.FoldGain {
			t.Fatalf("%+v: result %+v", o, r)
		}
		for _, l := range q.Layers[1:] {
			if l.In.Calibrated.Value.Data[0] != 0 {
				t.Fatalf("%s: input quantizer calibrated before training", l.Name)
			}
		}
		// Evaluation mode, as InitFromFloatWith compares outputs.
		defer tp.Reset()
		return meanSquaredDistance(q.Forward(tp, tp.Constant(x), false).Value, want), r
	}
	for _, c := range []struct {
		bits, p int
		better  bool // centring on data must win
	}{{4, 14, true}, {8, 12, false}} {
		for _, fold := range []bool{false, true} {
			plain, _ := dist(c.bits, c.p, InitOptions{FoldGain: fold})
			got, r := dist(c.bits, c.p, InitOptions{CentreOn: x, FoldGain: fold})
			t.Logf("W%dA%d P = %d, fold %v: mean squared distance to the float outputs %.4g plain, %.4g with centring on data (%+v)", c.bits, c.bits, c.p, fold, plain, got, r)
			if got > plain*(1+1e-9) {
				t.Errorf("W%dA%d P = %d, fold %v: centring on data kept although worse: %.4g vs %.4g", c.bits, c.bits, c.p, fold, got, plain)
			}
			if c.better && !(got < 0.5*plain && r.Centred == 1) {
				t.Errorf("W%dA%d P = %d, fold %v: centring on data did not bring the outputs closer: %.4g vs %.4g", c.bits, c.bits, c.p, fold, got, plain)
			}
		}
	}
	q, _ := Build(config("cnn", quant.A2QPlus))
	if _, err := InitFromFloatWith(q, path, InitOptions{CentreOn: tensor.New(0, 28, 28, 1)}); err == nil || !strings.Contains(err.Error(), "N×H×W×C") {
		t.Errorf("empty batch: err = %v", err)
	}
}

// initCertified builds model with quantizer mode with weights and activations of bits bits and P = p
// in its hidden layers, initialises it from the float checkpoint at path
// with o, and checks that its first hidden layer is certified.
func initCertified(t *testing.T, model string, mode quant.Mode, bits, p int, path string, o InitOptions) (*Model, InitResult) {
	t.Helper()
	cfg := config(model, mode)
	cfg.Hidden.WeightBits, cfg.Hidden.ActBits, cfg.Hidden.AccBits = bits, bits, p
	q, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := InitFromFloatWith(q, path, o)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := q.Certificates(true)
	if err != nil || !certs[0].Certified {
		t.Fatalf("%s %s %+v: certificate %+v, %v", model, mode, o, certs, err)
	}
	return q, r
}

// meanSquaredDistance returns the mean of (got − want)² over the elements.
func meanSquaredDistance(got, want *tensor.Tensor) float64 {
	var d float64
	for i, v := range got.Data {
		e := float64(v - want.Data[i])
		d += e * e
	}
	return d / float64(len(got.Data))
}

// saveCheckpoint writes m's checkpoint to a temporary file and returns its
// path.
func saveCheckpoint(t *testing.T, m *Model) string {
	t.Helper()
	c, err := m.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "float.ckpt")
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}
