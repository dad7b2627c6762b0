package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/optim"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

func TestInputStats(t *testing.T) {
	// Two examples of 2 channels of 2×1 pixels: channel 0 holds 0, 1, 0, 1
	// (mean 1/2, std 1/2), channel 1 the constant 0.25 (std taken as 1).
	s := &data.Set{N: 2, C: 2, H: 2, W: 1, X: []float32{0, 1, 0.25, 0.25, 0, 1, 0.25, 0.25}}
	mean, std := InputStats(s)
	want := [][2]float64{{0.5, 0.5}, {0.25, 1}}
	for c := range want {
		if math.Abs(mean[c]-want[c][0]) > 1e-7 || math.Abs(std[c]-want[c][1]) > 1e-7 {
			t.Errorf("channel %d: mean %g std %g, want %g and %g", c, mean[c], std[c], want[c][0], want[c][1])
		}
	}
}

// groupedConvGraph is a network whose first layer is a convolution in 3
// groups, each output channel reading one input channel.
func groupedConvGraph() *graph.Graph {
	return &graph.Graph{Input: "input", InShape: []int{6, 6, 3}, Output: "fc", Nodes: []graph.Node{
		{Name: "conv", Op: graph.Conv, In: 3, Out: 6, Kernel: 3, Groups: 3, Bias: true, Inputs: []string{"input"}},
		{Name: "relu", Op: graph.ReLU, Inputs: []string{"conv"}},
		{Name: "flatten", Op: graph.Flatten, Inputs: []string{"relu"}},
		{Name: "fc", Op: graph.Linear, In: 4 * 4 * 6, Out: 4, Bias: true, Inputs: []string{"flatten"}},
	}}
}

// TestStandardisedCoordinates checks the change of coordinates against
// the network it stands for: a copy of the model whose input layers hold
// v = σ·w and c = b + Σ μ·w (v = σ·w alone for a layer without a bias)
// and read standardised pixels computes the same outputs; its gradients
// with respect to v and c are those the trainer hands the optimizer; and
// one Adam step on it, folded back, is the trainer's step on the model.
func TestStandardisedCoordinates(t *testing.T) {
	float := quant.LayerConfig{Mode: quant.Float}
	cases := []struct {
		name    string
		cfg     models.Config
		mean    []float64
		std     []float64
		layers  int  // input layers changed
		biasFix bool // the input layer has a bias: the mean is folded too
	}{
		{"cnn, grey", models.Config{Model: "cnn", InC: 1, InH: 12, InW: 12, Classes: 4}, []float64{0.286}, []float64{0.353}, 1, true},
		{"cnn, colour", models.Config{Model: "cnn", InC: 3, InH: 12, InW: 12, Classes: 4}, []float64{0.49, 0.48, 0.45}, []float64{0.25, 0.24, 0.26}, 1, true},
		{"mlp through a flatten", models.Config{Model: "mlp", InC: 3, InH: 5, InW: 5, Classes: 4}, []float64{0.2, 0.5, 0.7}, []float64{0.1, 0.3, 0.2}, 1, true},
		{"grouped convolution", models.Config{Model: "grouped", Graph: groupedConvGraph(), InC: 3, InH: 6, InW: 6, Classes: 4}, []float64{0.2, 0.5, 0.7}, []float64{0.1, 0.3, 0.2}, 1, true},
		{"resnet, no bias, padded", models.Config{Model: "resnet", InC: 3, InH: 8, InW: 8, Classes: 4}, []float64{0.49, 0.48, 0.45}, []float64{0.25, 0.24, 0.26}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Hidden, c.cfg.First, c.cfg.Last, c.cfg.Seed = float, float, float, 5
			m, err := models.Build(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := models.Build(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := New(m, Options{Epochs: 1, Batch: 8, LR: 1e-3, Threads: 1, WeightDecay: 1e-2})
			if err != nil {
				t.Fatal(err)
			}
			tr.State.InputMean, tr.State.InputStd = c.mean, c.std
			if err := tr.setOptimizer(); err != nil {
				t.Fatal(err)
			}
			if tr.std == nil || len(tr.std.layers) != c.layers {
				t.Fatalf("standardised layers %v, want %d", tr.std, c.layers)
			}
			// The reference holds v and c.
			tr.std.pull()
			for _, l := range tr.std.layers {
				copy(paramNamed(t, ref, l.w.Name).Value.Data, l.v.Value.Data)
				if (l.c != nil) != c.biasFix {
					t.Fatalf("layer %s: bias folded %v, want %v", l.w.Name, l.c != nil, c.biasFix)
				}
				if l.c != nil {
					copy(paramNamed(t, ref, l.b.Name).Value.Data, l.c.Value.Data)
				}
			}
			n := 8
			rng := rand.New(rand.NewPCG(1, 2))
			x := tensor.New(n, c.cfg.InH, c.cfg.InW, c.cfg.InC)
			xs := tensor.New(x.Shape...)
			for i := range x.Data {
				x.Data[i] = rng.Float32()
				ch := i % c.cfg.InC
				mu := c.mean[ch]
				if !c.biasFix {
					mu = 0
				}
				xs.Data[i] = float32((float64(x.Data[i]) - mu) / c.std[ch])
			}
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(c.cfg.Classes)
			}
			// Outputs and gradients.
			lossOf := func(m *models.Model, x *tensor.Tensor) *tensor.Tensor {
				nn.ZeroGrad(m.Params())
				tp := autodiff.NewTape(1)
				out := m.Forward(tp, tp.Constant(x), true)
				tp.Backward(tp.SoftmaxCrossEntropy(out, labels))
				return out.Value.Clone()
			}
			got, want := lossOf(m, x), lossOf(ref, xs)
			near(t, "outputs", got.Data, want.Data, 1e-5)
			tr.std.pull()
			for _, l := range tr.std.layers {
				near(t, l.w.Name+" gradient", l.v.Grad.Data, paramNamed(t, ref, l.w.Name).Grad.Data, 1e-4)
				if l.c != nil {
					near(t, l.b.Name+" gradient", l.c.Grad.Data, paramNamed(t, ref, l.b.Name).Grad.Data, 1e-4)
				}
			}
			// One step each, the reference's folded back: the model's.
			var before [][]float32
			for _, p := range m.Params() {
				before = append(before, slices.Clone(p.Value.Data))
			}
			tr.optStep(1e-2)
			optim.NewAdam(ref.Params(), 1e-2, true).Step(1e-2)
			fold, err := models.Build(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range ref.Params() {
				copy(fold.Params()[i].Value.Data, p.Value.Data)
			}
			tf, err := New(fold, Options{Epochs: 1, Batch: 8, LR: 1e-3, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			tf.State.InputMean, tf.State.InputStd = c.mean, c.std
			if err := tf.setOptimizer(); err != nil {
				t.Fatal(err)
			}
			tf.std.fold() // fold holds v and c: write w and b
			for i, p := range m.Params() {
				if !p.Trainable() {
					continue // buffers: the forward passes set them
				}
				near(t, p.Name+" update", minus(p.Value.Data, before[i]), minus(fold.Params()[i].Value.Data, before[i]), 1e-3)
			}
		})
	}
}

func paramNamed(t *testing.T, m *models.Model, name string) *nn.Param {
	t.Helper()
	for _, p := range m.Params() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no parameter %s", name)
	return nil
}

// near fails unless ‖got − want‖ ≤ tol·‖want‖.
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if d := relDiff(got, want); !(d <= tol) {
		t.Errorf("%s: relative error %.3g, want <= %g", what, d, tol)
	}
}

// minus returns a − b.
func minus(a, b []float32) []float32 {
	d := make([]float32, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// TestStandardisedRecordedAndResumed: a run started afresh records the
// training set's statistics and steps its input layers in their
// coordinates; RawInput records none; a resumed run keeps what its
// checkpoint was trained with, whatever its options ask.
func TestStandardisedRecordedAndResumed(t *testing.T) {
	trainSet, _ := embedded(t, 200, 10)
	mean, std := InputStats(trainSet)
	for _, c := range []struct {
		name        string
		raw, resume bool // the first run's RawInput; the resumed run's
	}{
		{"standardised, resumed raw", false, true},
		{"raw, resumed standardised", true, false},
	} {
		dir := t.TempDir()
		tr, err := New(cnn(t, quant.Float, 0), Options{Epochs: 1, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir, RawInput: c.raw})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background(), trainSet, nil); err != nil {
			t.Fatal(err)
		}
		check := func(when string, tr *Trainer) {
			t.Helper()
			if c.raw {
				if tr.State.InputStd != nil || tr.std != nil {
					t.Errorf("%s: %s: input statistics %v, standardised %v, want none", c.name, when, tr.State.InputStd, tr.std != nil)
				}
				return
			}
			if fmt.Sprint(tr.State.InputMean, tr.State.InputStd) != fmt.Sprint(mean, std) || tr.std == nil {
				t.Errorf("%s: %s: input statistics %v %v, want %v %v", c.name, when, tr.State.InputMean, tr.State.InputStd, mean, std)
			}
		}
		check("after the first run", tr)
		tr2, err := New(cnn(t, quant.Float, 0), Options{Epochs: 2, Batch: 100, LR: 1e-3, Threads: 1, Seed: 1, Dir: dir, RawInput: c.resume})
		if err != nil {
			t.Fatal(err)
		}
		check("resumed", tr2)
		if err := tr2.Run(context.Background(), trainSet, nil); err != nil {
			t.Fatal(err)
		}
		check("after the resumed run", tr2)
	}
}

// TestFreshWeights: a run that starts afresh on fresh weights folds the
// input layers' weights, drawn for standardised inputs, into weights for
// raw ones: the model on pixels computes what the model as built
// computes on standardised pixels. Without FreshWeights, with RawInput,
// resuming a run, or for a super-resolution model, the weights are left
// as they are.
func TestFreshWeights(t *testing.T) {
	trainSet, _ := embedded(t, 300, 10)
	mean, std := InputStats(trainSet)
	x := FirstInputs(trainSet, 16)
	xs := x.Clone()
	for i := range xs.Data {
		xs.Data[i] = float32((float64(xs.Data[i]) - mean[0]) / std[0])
	}
	outputs := func(m *models.Model, x *tensor.Tensor) []float32 {
		tp := autodiff.NewTape(1)
		return slices.Clone(m.Forward(tp, tp.Constant(x), false).Value.Data)
	}
	built := outputs(cnn(t, quant.Float, 0), xs)
	asBuilt := outputs(cnn(t, quant.Float, 0), x)
	for _, c := range []struct {
		name   string
		o      Options
		resume bool
		folded bool
	}{
		{"fresh", Options{FreshWeights: true}, false, true},
		{"trained weights", Options{}, false, false},
		{"raw input", Options{FreshWeights: true, RawInput: true}, false, false},
		{"resumed", Options{FreshWeights: true}, true, false},
		{"super-resolution", Options{FreshWeights: true}, false, false},
	} {
		o := c.o
		o.Epochs, o.Batch, o.LR, o.Threads = 1, 100, 1e-3, 1
		m := cnn(t, quant.Float, 0)
		if c.name == "super-resolution" {
			m.Task = models.SuperResolve // the same network, taken as an image-to-image one
		}
		tr, err := New(m, o)
		if err != nil {
			t.Fatal(err)
		}
		if c.resume {
			tr.State.Step = 1
		}
		if err := tr.standardise(trainSet); err != nil {
			t.Fatal(err)
		}
		if got := tr.State.InputStd != nil; got != (c.folded || c.name == "trained weights") {
			t.Errorf("%s: input statistics recorded %v", c.name, got)
		}
		want := asBuilt
		if c.folded {
			want = built
		}
		got := outputs(m, x)
		if d := relDiff(got, want); d > 1e-5 {
			t.Errorf("%s: outputs %.3g away from the model's %s, want the same", c.name, d, map[bool]string{true: "as built on standardised inputs", false: "as built"}[c.folded])
		}
		if d := relDiff(asBuilt, built); d < 0.1 {
			t.Fatalf("the model as built computes nearly the same on raw and standardised inputs (%.3g): the test cannot tell them apart", d)
		}
	}
}

// relDiff returns ‖a − b‖/‖b‖.
func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d += (float64(a[i]) - float64(b[i])) * (float64(a[i]) - float64(b[i]))
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d / n)
}

func TestSchedule(t *testing.T) {
	// Learning rates at epochs 0, 1.5, 2.5 and 3 of a 3-epoch run at peak 1e-3.
	want := map[Schedule][4]float64{
		ScheduleConstant:   {1e-3, 1e-3, 1e-3, 1e-3},
		ScheduleCosine:     {1e-3, 5.05e-4, 1e-5 + 0.5*(1e-3-1e-5)*(1+math.Cos(math.Pi*2.5/3)), 1e-5},
		ScheduleFlatCosine: {1e-3, 1e-3, 1e-5 + 0.5*(1e-3-1e-5)*(1+math.Cos(math.Pi*(2.5-2.25)/0.75)), 1e-5},
	}
	for _, s := range []Schedule{ScheduleConstant, ScheduleCosine, ScheduleFlatCosine, ""} {
		got, ok := ParseSchedule(string(s))
		if s == "" {
			if ok {
				t.Errorf("ParseSchedule accepts an empty name")
			}
			got = DefaultSchedule
		} else if !ok || got != s {
			t.Errorf("ParseSchedule(%q) = %q, %v", s, got, ok)
		}
		tr, err := New(cnn(t, quant.Float, 0), Options{Epochs: 3, Batch: 1, LR: 1e-3, Schedule: s})
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		r := tr.o.Schedule.rate(1e-3, 3)
		for i, e := range []float64{0, 1.5, 2.5, 3} {
			if w := want[got][i]; math.Abs(r(e)-w) > 1e-12 {
				t.Errorf("%q: rate %g at epoch %g, want %g", s, r(e), e, w)
			}
		}
	}
	if _, ok := ParseSchedule("linear"); ok {
		t.Error("ParseSchedule accepts linear")
	}
	if _, err := New(cnn(t, quant.Float, 0), Options{Epochs: 1, Batch: 1, LR: 1e-3, Schedule: "linear"}); err == nil {
		t.Error("New accepts an unknown schedule")
	}
}
