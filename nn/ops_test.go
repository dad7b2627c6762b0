package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestConvTranspose2dGradients checks the transposed convolution with its
// weights stored output channel first (TransposedWeights' rearrangement
// included) against finite differences, with groups, stride and padding.
func TestConvTranspose2dGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewConvTranspose2d("up", 4, 6, 3, autodiff.ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1, Groups: 2}, true, rng)
	x := tensor.New(2, 3, 3, 4)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	mix := tensor.New(2, 6, 6, 6)
	for i := range mix.Data {
		mix.Data[i] = float32(rng.NormFloat64())
	}
	f := func(tp *autodiff.Tape, v []*autodiff.Var) *autodiff.Var {
		wt := TransposedWeights(tp, v[1], 4, 2)
		y := tp.ConvTranspose2d(v[0], wt, v[2], c.Options)
		return tp.MSE(y, mix)
	}
	if err := autodiff.GradCheck(f, []*tensor.Tensor{x, c.Weight.Value, c.Bias.Value}, 1e-2, 2e-2, 40, rng); err != nil {
		t.Fatal(err)
	}
	// The module computes the same.
	tp := autodiff.NewTape(1)
	a := c.Forward(tp, tp.Constant(x), false).Value.Data
	b := tp.ConvTranspose2d(tp.Constant(x), TransposedWeights(tp, tp.Constant(c.Weight.Value), 4, 2), tp.Constant(c.Bias.Value), c.Options).Value.Data
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: module %v, direct %v", i, a[i], b[i])
		}
	}
}
