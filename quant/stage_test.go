package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// stagedNet returns the reference CNN's chain (conv, pool, ReLU, conv,
// pool, ReLU, flatten, linear) quantized with mode, calibrated on x, and
// its layers.
func stagedNet(t *testing.T, mode Mode, x *tensor.Tensor) (nn.Sequential, []*Layer) {
	t.Helper()
	rng := rand.New(rand.NewPCG(31, 32))
	cfg := LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16}
	c1, err1 := NewConv("conv1", 1, 32, 3, autodiff.ConvOptions{}, true, cfg, false, rng)
	c2, err2 := NewConv("conv2", 32, 64, 3, autodiff.ConvOptions{}, true, cfg, false, rng)
	fc, err3 := NewLinear("fc", 5*5*64, 10, true, cfg, false, rng)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			t.Fatal(err)
		}
	}
	net := nn.Sequential{c1, nn.MaxPool{K: 2}, nn.ReLU{}, c2, nn.MaxPool{K: 2}, nn.ReLU{}, nn.Flatten{}, fc}
	tp := autodiff.NewTape(1)
	net.Forward(tp, tp.Constant(x), true) // calibrates the input quantizers
	return net, []*Layer{c1, c2, fc}
}

// images returns n random 28×28 images in [0, 1].
func images(n int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(33, 34))
	x := tensor.New(n, 28, 28, 1)
	for i := range x.Data {
		x.Data[i] = float32(rng.IntN(256)) / 255
	}
	return x
}

// TestRestTakesStage checks that a quantized convolution's requantisation
// applies the next layer's input quantizer when that quantizer is
// calibrated and unobserved, giving the integers the quantizer itself
// gives, and declines otherwise.
func TestRestTakesStage(t *testing.T) {
	x := images(3)
	for _, mode := range []Mode{Baseline, A2Q, A2QPlus} {
		_, ls := stagedNet(t, mode, x)
		c1, c2 := ls[0], ls[1]
		tp := autodiff.NewTape(1)
		lin, _, rest, ok := c1.ForwardSplit(tp, tp.Constant(x), false, false, 2, 2)
		if !ok {
			t.Fatalf("%s: conv1 does not split", mode)
		}
		pooled := tp.MaxPool(lin, 2, 2)
		y, staged := rest(pooled, true, nil)
		if staged {
			t.Fatalf("%s: staged with no next layer", mode)
		}
		want := c2.In.Apply(tp, y, false)
		got, staged := rest(pooled, true, c2)
		if !staged {
			t.Fatalf("%s: conv2's calibrated input quantizer not taken over", mode)
		}
		for i, v := range got.Value.Data {
			if math.Float32bits(v) != math.Float32bits(want.Value.Data[i]) {
				t.Fatalf("%s: staged integer %d is %v, the quantizer gives %v", mode, i, v, want.Value.Data[i])
			}
		}
		c2.Observe = func(*tensor.Tensor) {}
		if _, staged := rest(pooled, true, c2); staged {
			t.Errorf("%s: staged past an observer of conv2's float input", mode)
		}
		c2.Observe = nil
		c2.In.Calibrated.Value.Data[0] = 0
		if _, staged := rest(pooled, true, c2); staged {
			t.Errorf("%s: staged into an uncalibrated quantizer", mode)
		}
	}
}

// TestStagedMatchesUnstaged runs the chain with each requantisation taking
// over the next layer's input quantizer, and with the stages kept apart
// (a no-op observer on each layer's input stops the takeover): the
// outputs and every gradient must agree bit for bit, but for the input
// quantizers' scale gradients, whose sums are taken in another order, on
// one and two threads (conv1's 20×13×13×32 pooled values split).
func TestStagedMatchesUnstaged(t *testing.T) {
	x := images(20)
	for _, mode := range []Mode{Baseline, A2Q, A2QPlus} {
		for _, threads := range []int{1, 2} {
			net, ls := stagedNet(t, mode, x)
			run := func(staged bool) (out []float32, grads map[string][]float32) {
				for _, l := range ls[1:] {
					l.Observe = nil
					if !staged {
						l.Observe = func(*tensor.Tensor) {}
					}
				}
				nn.ZeroGrad(net.Params())
				tp := autodiff.NewTape(threads)
				y := net.Forward(tp, tp.Constant(x), true)
				loss := tp.NewValue(1)
				w := make([]float32, y.Value.Len())
				for i, v := range y.Value.Data {
					w[i] = float32(math.Sin(float64(i) + 0.5))
					loss.Data[0] += v * w[i]
				}
				tp.Backward(tp.Custom(loss, func(d *tensor.Tensor, g []*tensor.Tensor) {
					for i := range g[0].Data {
						g[0].Data[i] += d.Data[0] * w[i]
					}
				}, y))
				grads = map[string][]float32{}
				for _, p := range net.Params() {
					if p.Grad != nil {
						grads[p.Name] = append([]float32(nil), p.Grad.Data...)
					}
				}
				return append([]float32(nil), y.Value.Data...), grads
			}
			wantY, want := run(false)
			gotY, got := run(true)
			for i, v := range gotY {
				if math.Float32bits(v) != math.Float32bits(wantY[i]) {
					t.Fatalf("%s, %d threads: output %d is %v staged, %v not", mode, threads, i, v, wantY[i])
				}
			}
			for name, g := range got {
				inScale := strings.HasSuffix(name, ".input_quant.log2_scale") && !strings.HasPrefix(name, "conv1.")
				for i, v := range g {
					w := want[name][i]
					if inScale {
						if math.Abs(float64(v-w)) > 1e-5*math.Abs(float64(w)) || w == 0 {
							t.Errorf("%s, %d threads: %s gradient %v staged, %v not", mode, threads, name, v, w)
						}
						continue
					}
					if math.Float32bits(v) != math.Float32bits(w) {
						t.Fatalf("%s, %d threads: %s gradient %d is %v staged, %v not", mode, threads, name, i, v, w)
					}
				}
			}
		}
	}
}
