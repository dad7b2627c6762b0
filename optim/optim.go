// Package optim updates a2q's parameters from their gradients: SGD with
// momentum, Adam and AdamW, learning-rate schedules, and weight decay that
// skips parameters marked NoDecay (biases, norms, quantizer scales) or
// matched by name.
//
// Optimizer state (moments, step count) is exposed by name through State
// so that checkpoints can save it and training can resume exactly.
package optim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(lr float64)
	// State returns the optimizer's tensors by name (for checkpoints). The
	// step count is stored as a one-element tensor named "step".
	State() map[string]*tensor.Tensor
	// LoadState restores tensors saved by State.
	LoadState(map[string]*tensor.Tensor) error
}

// DecayFilter reports whether weight decay applies to p.
type DecayFilter func(p *nn.Param) bool

// DefaultDecay applies weight decay to every trainable parameter not marked
// NoDecay.
func DefaultDecay(p *nn.Param) bool { return !p.NoDecay }

// ExcludeNames returns a filter that also excludes parameters whose name
// contains any of the given substrings.
func ExcludeNames(substrings ...string) DecayFilter {
	return func(p *nn.Param) bool {
		if p.NoDecay {
			return false
		}
		for _, s := range substrings {
			if strings.Contains(p.Name, s) {
				return false
			}
		}
		return true
	}
}

func trainable(ps []*nn.Param) []*nn.Param {
	var out []*nn.Param
	for _, p := range ps {
		if p.Trainable() {
			out = append(out, p)
		}
	}
	return out
}

// SGD is stochastic gradient descent with momentum and L2 weight decay
// (PyTorch's semantics: the decay is added to the gradient).
type SGD struct {
	Momentum, WeightDecay float64
	Decay                 DecayFilter
	params                []*nn.Param
	vel                   []*tensor.Tensor
}

// NewSGD returns an SGD optimizer over the trainable parameters of ps.
func NewSGD(ps []*nn.Param, momentum, weightDecay float64) *SGD {
	s := &SGD{Momentum: momentum, WeightDecay: weightDecay, Decay: DefaultDecay, params: trainable(ps)}
	for _, p := range s.params {
		s.vel = append(s.vel, tensor.New(p.Value.Shape...))
	}
	return s
}

// Step implements Optimizer.
func (s *SGD) Step(lr float64) {
	mu := float32(s.Momentum)
	for i, p := range s.params {
		wd := float32(0)
		if s.Decay(p) {
			wd = float32(s.WeightDecay)
		}
		v, w, g := s.vel[i].Data, p.Value.Data, p.Grad.Data
		for j := range w {
			d := g[j] + wd*w[j]
			v[j] = mu*v[j] + d
			w[j] -= float32(lr) * v[j]
		}
	}
}

// State implements Optimizer.
func (s *SGD) State() map[string]*tensor.Tensor {
	m := map[string]*tensor.Tensor{}
	for i, p := range s.params {
		m[p.Name+".momentum"] = s.vel[i]
	}
	return m
}

// LoadState implements Optimizer.
func (s *SGD) LoadState(m map[string]*tensor.Tensor) error {
	for i, p := range s.params {
		if err := load(m, p.Name+".momentum", s.vel[i]); err != nil {
			return err
		}
	}
	return nil
}

func load(m map[string]*tensor.Tensor, name string, dst *tensor.Tensor) error {
	t, ok := m[name]
	if !ok {
		return fmt.Errorf("optimizer state %q missing", name)
	}
	if !slices.Equal(t.Shape, dst.Shape) {
		return fmt.Errorf("optimizer state %q has shape %v, want %v", name, t.Shape, dst.Shape)
	}
	copy(dst.Data, t.Data)
	return nil
}

// Adam is Adam (Kingma & Ba) with either L2 weight decay added to the
// gradient (Decoupled false, PyTorch's Adam) or decoupled weight decay
// (Decoupled true, AdamW).
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                      bool
	Decay                          DecayFilter
	params                         []*nn.Param
	m, v                           []*tensor.Tensor
	step                           int
}

// NewAdam returns Adam with β = (0.9, 0.999), ε = 1e-8.
func NewAdam(ps []*nn.Param, weightDecay float64, decoupled bool) *Adam {
	a := &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay, Decoupled: decoupled,
		Decay: DefaultDecay, params: trainable(ps)}
	for _, p := range a.params {
		a.m = append(a.m, tensor.New(p.Value.Shape...))
		a.v = append(a.v, tensor.New(p.Value.Shape...))
	}
	return a
}

// Step implements Optimizer.
func (a *Adam) Step(lr float64) {
	a.step++
	c1 := 1 - math.Pow(a.Beta1, float64(a.step))
	c2 := 1 - math.Pow(a.Beta2, float64(a.step))
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	stepSize := float32(lr / c1)
	sc2 := float32(1 / math.Sqrt(c2))
	eps := float32(a.Eps)
	for i, p := range a.params {
		wd := float32(0)
		if a.Decay(p) {
			wd = float32(a.WeightDecay)
		}
		m, v, w, g := a.m[i].Data, a.v[i].Data, p.Value.Data, p.Grad.Data
		for j := range w {
			d := g[j]
			if a.Decoupled {
				w[j] -= float32(lr) * wd * w[j]
			} else {
				d += wd * w[j]
			}
			m[j] = b1*m[j] + (1-b1)*d
			v[j] = b2*v[j] + (1-b2)*d*d
			w[j] -= stepSize * m[j] / (float32(math.Sqrt(float64(v[j])))*sc2 + eps)
		}
	}
}

// State implements Optimizer.
func (a *Adam) State() map[string]*tensor.Tensor {
	s := map[string]*tensor.Tensor{"step": tensor.FromData([]float32{float32(a.step)}, 1)}
	for i, p := range a.params {
		s[p.Name+".exp_avg"] = a.m[i]
		s[p.Name+".exp_avg_sq"] = a.v[i]
	}
	return s
}

// LoadState implements Optimizer.
func (a *Adam) LoadState(m map[string]*tensor.Tensor) error {
	st, ok := m["step"]
	if !ok || st.Len() != 1 {
		return fmt.Errorf("optimizer state \"step\" missing")
	}
	a.step = int(st.Data[0])
	for i, p := range a.params {
		if err := load(m, p.Name+".exp_avg", a.m[i]); err != nil {
			return err
		}
		if err := load(m, p.Name+".exp_avg_sq", a.v[i]); err != nil {
			return err
		}
	}
	return nil
}

// Schedule maps an epoch fraction (epoch + batch/batches) to a learning rate.
type Schedule func(epoch float64) float64

// Constant is a fixed learning rate.
func Constant(lr float64) Schedule { return func(float64) float64 { return lr } }

// StepDecay multiplies lr by gamma every `every` epochs.
func StepDecay(lr float64, every int, gamma float64) Schedule {
	return func(e float64) float64 { return lr * math.Pow(gamma, math.Floor(e/float64(every))) }
}

// Cosine anneals lr to lrMin over total epochs, after a linear warm-up of
// warmup epochs (0 for none).
func Cosine(lr, lrMin float64, total, warmup float64) Schedule {
	return func(e float64) float64 {
		if e < warmup {
			return lr * (e + 1e-3) / warmup
		}
		p := math.Min((e-warmup)/math.Max(total-warmup, 1e-9), 1)
		return lrMin + 0.5*(lr-lrMin)*(1+math.Cos(math.Pi*p))
	}
}

// FlatCosine keeps lr for the first flat epochs, then anneals it to lrMin
// by total epochs along a cosine.
func FlatCosine(lr, lrMin, total, flat float64) Schedule {
	c := Cosine(lr, lrMin, total-flat, 0)
	return func(e float64) float64 {
		if e < flat {
			return lr
		}
		return c(e - flat)
	}
}
