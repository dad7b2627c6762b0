package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// BenchmarkWeightApply times one training step of a weight quantizer of
// the size of the reference CNN's second convolution (64 channels of
// K = 288): the forward pass (Apply) and the backward pass into v, g and s,
// untiled and in tiles of 64.
func BenchmarkWeightApply(b *testing.B) {
	for _, mode := range []Mode{A2Q, A2QPlus} {
		for _, tile := range []int{0, 64} {
			b.Run(fmt.Sprintf("%s/tile=%d", mode, tile), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				w := randWQ(rng, mode, 64, 288, 8, 8, 16, false)
				w.layer.Tile = tile
				w.InitFromWeights(true)
				ps := append([]*nn.Param{w.V}, w.Params()...)
				tp := autodiff.NewTape(1)
				for b.Loop() {
					nn.ZeroGrad(ps)
					q, _ := w.Apply(tp)
					out := tp.NewValue(1)
					l := tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
						for i := range g[0].Data {
							g[0].Data[i] += float32(i%7) - 3
						}
					}, q)
					tp.Backward(l)
					tp.Reset()
				}
			})
		}
	}
}
