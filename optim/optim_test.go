package optim

import (
	"math"
	"testing"

	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// quadratic sets p's gradient to that of ½‖p − target‖².
func quadratic(p *nn.Param, target []float32) {
	for i := range p.Value.Data {
		p.Grad.Data[i] = p.Value.Data[i] - target[i]
	}
}

func TestOptimizersConverge(t *testing.T) {
	target := []float32{3, -2, 0.5}
	for _, c := range []struct {
		name string
		mk   func(ps []*nn.Param) Optimizer
		lr   float64
	}{
		{"sgd", func(ps []*nn.Param) Optimizer { return NewSGD(ps, 0.9, 0) }, 0.05},
		{"adam", func(ps []*nn.Param) Optimizer { return NewAdam(ps, 0, false) }, 0.05},
		{"adamw", func(ps []*nn.Param) Optimizer { return NewAdam(ps, 0, true) }, 0.05},
	} {
		p := nn.NewParam("w", false, 3)
		o := c.mk([]*nn.Param{p})
		for i := 0; i < 2000; i++ {
			quadratic(p, target)
			o.Step(c.lr)
		}
		for i, v := range p.Value.Data {
			if math.Abs(float64(v-target[i])) > 1e-2 {
				t.Errorf("%s: w[%d] = %v, want %v", c.name, i, v, target[i])
			}
		}
	}
}

func TestAdamFirstStep(t *testing.T) {
	// Adam's first step moves every coordinate by lr·sign(g) (bias-corrected).
	p := nn.NewParam("w", false, 2)
	p.Grad.Data[0], p.Grad.Data[1] = 5, -0.01
	NewAdam([]*nn.Param{p}, 0, false).Step(0.1)
	if math.Abs(float64(p.Value.Data[0])+0.1) > 1e-5 || math.Abs(float64(p.Value.Data[1])-0.1) > 1e-4 {
		t.Fatalf("after one step w = %v, want [-0.1 0.1]", p.Value.Data)
	}
}

func TestWeightDecayExclusion(t *testing.T) {
	w := nn.NewParam("conv.weight", false, 1)
	b := nn.NewParam("conv.bias", true, 1)
	g := nn.NewParam("conv.log2_g", false, 1)
	for _, p := range []*nn.Param{w, b, g} {
		p.Value.Data[0] = 1
	}
	o := NewSGD([]*nn.Param{w, b, g}, 0, 0.5)
	o.Decay = ExcludeNames("log2_g")
	o.Step(1)
	if w.Value.Data[0] != 0.5 || b.Value.Data[0] != 1 || g.Value.Data[0] != 1 {
		t.Fatalf("after a decay-only step: weight %v (want 0.5), bias %v and log2_g %v (want 1)",
			w.Value.Data[0], b.Value.Data[0], g.Value.Data[0])
	}
}

func TestStateRoundTrip(t *testing.T) {
	p := nn.NewParam("w", false, 4)
	a := NewAdam([]*nn.Param{p}, 0.01, true)
	for i := 0; i < 3; i++ {
		quadratic(p, []float32{1, 2, 3, 4})
		a.Step(0.01)
	}
	saved := map[string]*tensor.Tensor{}
	for k, v := range a.State() {
		saved[k] = v.Clone()
	}
	q := &nn.Param{Name: "w", Value: p.Value.Clone(), Grad: tensor.New(4)}
	b := NewAdam([]*nn.Param{q}, 0.01, true)
	if err := b.LoadState(saved); err != nil {
		t.Fatal(err)
	}
	quadratic(p, []float32{1, 2, 3, 4})
	quadratic(q, []float32{1, 2, 3, 4})
	a.Step(0.01)
	b.Step(0.01)
	for i := range p.Value.Data {
		if p.Value.Data[i] != q.Value.Data[i] {
			t.Fatalf("resumed optimizer diverged at %d: %v vs %v", i, q.Value.Data[i], p.Value.Data[i])
		}
	}
	if err := b.LoadState(map[string]*tensor.Tensor{}); err == nil {
		t.Fatal("loading empty state succeeded")
	}
}

func TestSchedules(t *testing.T) {
	c := Cosine(0.1, 0, 10, 0)
	if math.Abs(c(0)-0.1) > 1e-12 || math.Abs(c(5)-0.05) > 1e-12 || math.Abs(c(10)) > 1e-12 {
		t.Errorf("cosine: %v %v %v", c(0), c(5), c(10))
	}
	f := FlatCosine(0.1, 0.001, 4, 3)
	if f(0) != 0.1 || f(2.99) != 0.1 || math.Abs(f(3.5)-0.0505) > 1e-12 || math.Abs(f(4)-0.001) > 1e-12 || math.Abs(f(5)-0.001) > 1e-12 {
		t.Errorf("flat cosine: %v %v %v %v %v", f(0), f(2.99), f(3.5), f(4), f(5))
	}
	s := StepDecay(1, 3, 0.1)
	if s(2.9) != 1 || math.Abs(s(3)-0.1) > 1e-12 || math.Abs(s(6.5)-0.01) > 1e-12 {
		t.Errorf("step: %v %v %v", s(2.9), s(3), s(6.5))
	}
}
