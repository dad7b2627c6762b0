package qonnx

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkRunESPCN runs the A2Q-trained ESPCN fixture on a 128×128 image
// (its declared input size), in float and with the integer layers.
func BenchmarkRunESPCN(b *testing.B) {
	m := loadFixture(b, subpixelQuant)
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 3*128*128)
	for i := range x {
		x[i] = r.Float32()
	}
	in := map[string]*Tensor{m.Graph.Inputs[0].Name: NewFloat(x, 1, 3, 128, 128)}
	for _, bc := range []struct {
		name string
		opt  RunOptions
	}{{"impl=float", RunOptions{}}, {"impl=integer", RunOptions{Integer: true, AccBits: 16}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Run(context.Background(), in, bc.opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
