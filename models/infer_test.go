package models

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestInferMatchesForward checks that Infer's chunked, tape-free pass
// gives the outputs of Forward on the whole batch bit for bit, for every
// zoo model, float and A2Q+ (calibrated by a first Forward), on one and
// two threads, for batch sizes that leave ragged chunks.
func TestInferMatchesForward(t *testing.T) {
	for _, name := range []string{"cnn", "mlp", "espcn", "unet", "mobilenet", "resnet"} {
		for _, mode := range []quant.Mode{quant.Float, quant.A2QPlus} {
			c := config(name, mode)
			if name == "mobilenet" || name == "resnet" {
				c.InC, c.InH, c.InW = 3, 32, 32
			}
			m, err := Build(c)
			if err != nil {
				t.Fatalf("%s %s: %v", name, mode, err)
			}
			for _, n := range []int{1, 5, 37} {
				x := input(n, c.InH, c.InW, c.InC)
				tp := autodiff.NewTape(2)
				want := m.Forward(tp, tp.Constant(x), false).Value
				for _, threads := range []int{1, 2} {
					got, err := m.Infer(context.Background(), x, threads)
					if err != nil {
						t.Fatalf("%s %s n=%d: %v", name, mode, n, err)
					}
					if !slices.Equal(got.Shape, want.Shape) {
						t.Fatalf("%s %s n=%d: shape %v, Forward %v", name, mode, n, got.Shape, want.Shape)
					}
					for i := range got.Data {
						if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
							t.Fatalf("%s %s n=%d threads=%d: output %d is %v, Forward %v", name, mode, n, threads, i, got.Data[i], want.Data[i])
						}
					}
				}
				tp.Reset()
			}
		}
	}
}

// TestInferCalibrates checks that a quantized model whose activation
// quantizers have not seen data calibrates them on the whole batch, as
// Forward would, and that a cancelled context stops Infer with an error.
func TestInferCalibrates(t *testing.T) {
	x := input(9, 28, 28, 1)
	a, err := Build(config("cnn", quant.A2QPlus))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(config("cnn", quant.A2QPlus))
	got, err := a.Infer(context.Background(), x, 2)
	if err != nil {
		t.Fatal(err)
	}
	tp := autodiff.NewTape(1)
	want := b.Forward(tp, tp.Constant(x), false).Value
	for i := range got.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("output %d: %v, Forward %v", i, got.Data[i], want.Data[i])
		}
	}
	if !a.calibrated() {
		t.Error("Infer left the quantizers uncalibrated")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Infer(ctx, input(40, 28, 28, 1), 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := a.Infer(context.Background(), tensor.New(0, 28, 28, 1), 1); err == nil {
		t.Error("no images: no error")
	}
}

// TestPoolFirstMatchesModules runs the zoo's CNN (where a max pool and a
// ReLU follow each convolution) through Sequential, which pools first, and
// module by module, which does not: the outputs must agree bit for bit,
// float and quantized (where the pool runs on the accumulators, before the
// requantisation).
func TestPoolFirstMatchesModules(t *testing.T) {
	for _, mode := range []quant.Mode{quant.Float, quant.A2Q, quant.A2QPlus, quant.Baseline} {
		m, err := Build(config("cnn", mode))
		if err != nil {
			t.Fatal(err)
		}
		x := input(6, 28, 28, 1)
		tp := autodiff.NewTape(2)
		want := m.Forward(tp, tp.Constant(x), true).Value.Data // calibrates
		want = m.Forward(tp, tp.Constant(x), false).Value.Data
		v := tp.Constant(x)
		fused := 0
		for i, mod := range m.Net {
			if _, ok := mod.(nn.Splitter); ok && i+2 < len(m.Net) {
				_, pool := m.Net[i+1].(nn.MaxPool)
				_, relu := m.Net[i+2].(nn.ReLU)
				if relu && pool {
					fused++
				}
			}
			v = mod.Forward(tp, v, false)
		}
		if fused != 2 {
			t.Fatalf("%s: %d convolutions of the CNN run pool first, want 2", mode, fused)
		}
		for i, g := range v.Value.Data {
			if math.Float32bits(g) != math.Float32bits(want[i]) {
				t.Fatalf("%s: output %d is %v module by module, %v pool first", mode, i, g, want[i])
			}
		}
	}
}
