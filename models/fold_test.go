package models

import (
	"math"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/optim"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestFineTuneTightBudget: with conv2 of the CNN at W8A8 and P = 12 (an L1
// budget of about 8 integer units per channel of K = 288), fine-tuning a
// trained float model with Adam at a learning rate of 1e-3 keeps nearly all
// conv2 channels alive and learns from the default initialisation, while
// from the earlier one (projected norms kept, gain folded into the dense
// layer) it rounds most channels to zero: the failure the default
// prevents.
func TestFineTuneTightBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models for a few dozen steps")
	}
	tr, _, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	const batch = 32
	per := tr.Size()
	// fit runs Adam at lr on consecutive batches of the training set.
	fit := func(m *Model, lr float64, steps int) (loss float64) {
		opt := optim.NewAdam(m.Params(), 0, true)
		tp := autodiff.NewTape(2)
		for step := 0; step < steps; step++ {
			lo := (step * batch) % (tr.N - batch)
			x := tensor.FromData(tr.X[lo*per:(lo+batch)*per], batch, tr.H, tr.W, tr.C)
			nn.ZeroGrad(m.Params())
			l := m.Loss(tp, tp.Constant(x), tr.Labels[lo:lo+batch], nil)
			loss = float64(l.Value.Data[0])
			tp.Backward(l)
			opt.Step(lr)
			tp.Reset()
		}
		return loss
	}
	// A float model trained for a while: fine-tuning starts from one.
	f, err := Build(config("cnn", quant.Float))
	if err != nil {
		t.Fatal(err)
	}
	fit(f, 1e-3, 200)
	path := saveCheckpoint(t, f)
	const steps = 60
	for _, c := range []struct {
		name     string
		o        InitOptions
		wantDead bool
	}{
		{"default", InitOptions{FoldGain: true}, false},
		{"earlier", InitOptions{FoldGain: true, GainToNextLayer: true, KeepProjectedNorm: true}, true},
	} {
		cfg := config("cnn", quant.A2Q)
		cfg.Hidden.WeightBits, cfg.Hidden.ActBits, cfg.Hidden.AccBits = 8, 8, 12
		m, err := Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := InitFromFloatWith(m, path, c.o); err != nil {
			t.Fatal(err)
		}
		last := fit(m, 1e-3, steps)
		l := m.Layers[1]
		q, _ := l.W.IntegerWeights()
		cout, k := l.W.Channels()
		dead := 0
		for ch := 0; ch < cout; ch++ {
			zero := true
			for _, v := range q[ch*k : ch*k+k] {
				zero = zero && v == 0
			}
			if zero {
				dead++
			}
		}
		t.Logf("%s: after %d steps, loss %.3f, %d of %d conv2 channels all zero", c.name, steps, last, dead, cout)
		switch {
		case c.wantDead && dead < cout/2:
			t.Errorf("%s: only %d of %d channels died: the test no longer exercises the failure", c.name, dead, cout)
		case !c.wantDead && dead > cout/8:
			t.Errorf("%s: %d of %d conv2 channels died", c.name, dead, cout)
		case !c.wantDead && !(last < math.Log(10)/2):
			t.Errorf("%s: loss %.3f, not below half of chance (%.3f)", c.name, last, math.Log(10))
		}
	}
}

// TestFitGainOnData: with FitGainOn, every accumulator-aware layer gets its
// gains and offsets fitted on the examples — also ESPCN's hidden layer,
// whose output feeds a concatenation, so the L1 gain never reaches it — and
// the model's outputs come closer to the float model's than with the L1
// gain, for A2Q and A2Q+ (centred on data or not) at a tight budget.
func TestFitGainOnData(t *testing.T) {
	for _, model := range []string{"cnn", "espcn"} {
		f, err := Build(config(model, quant.Float))
		if err != nil {
			t.Fatal(err)
		}
		path := saveCheckpoint(t, f)
		x := input(64, 28, 28, 1)
		tp := autodiff.NewTape(1)
		want := f.Forward(tp, tp.Constant(x), false).Value.Clone()
		tp.Reset()
		for _, mode := range []quant.Mode{quant.A2Q, quant.A2QPlus} {
			dist := func(o InitOptions) (float64, InitResult) {
				q, r := initCertified(t, model, mode, 8, 12, path, o)
				defer tp.Reset()
				return meanSquaredDistance(q.Forward(tp, tp.Constant(x), false).Value, want), r
			}
			l1, rl := dist(InitOptions{FoldGain: true})
			for _, centre := range []*tensor.Tensor{nil, x} {
				fit, rf := dist(InitOptions{FoldGain: true, FitGainOn: x, CentreOn: centre})
				t.Logf("%s %s centred on data %v: mean squared distance to the float outputs %.4g with the L1 gain (%+v), %.4g fitted (%+v)", model, mode, centre != nil, l1, rl, fit, rf)
				if rf.Fitted != 1 || rf.Folded != 0 {
					t.Errorf("%s %s: %+v, want the one hidden layer fitted", model, mode, rf)
				}
				if !(fit < l1) {
					t.Errorf("%s %s centred on data %v: fitted gains leave the outputs %.4g from the float ones, the L1 gain %.4g", model, mode, centre != nil, fit, l1)
				}
			}
			// Fitting only where the L1 gain cannot reach: the CNN's
			// hidden layer (ReLU and pooling into fc) keeps the L1 gain,
			// ESPCN's (into the concatenation) is fitted.
			where, rw := dist(InitOptions{FoldGain: true, FitGainOn: x, L1WhereFolds: true})
			wantFit := model == "espcn"
			if fitted := rw.Fitted == 1 && rw.Folded == 0; fitted != wantFit || (!wantFit && (rw.Folded != 1 || where != l1)) {
				t.Errorf("%s %s L1WhereFolds: %+v, distance %.4g (L1 gain %.4g), want the hidden layer fitted %v", model, mode, rw, where, l1, wantFit)
			}
		}
	}
}
