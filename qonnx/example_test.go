package qonnx_test

import (
	"fmt"
	"log"

	"github.com/a2qtoolkit/a2q/qonnx"
)

// Build a one-layer QONNX model, encode it, decode it and certify it for a
// 12-bit accumulator. Channel 0 has weights {3, −1, 2, 0}, channel 1
// {−7, 1, 1, 1}; inputs are 4-bit unsigned (0..15), so the largest sum is
// 15·(3+2) = 75 and the smallest −15·7 = −105: 8 bits suffice.
func Example() {
	b := qonnx.NewGraph("tiny")
	b.AddInput("x", 1, 1, 2, 2)
	xq := b.AddQuant("x_quant", "x", qonnx.NewFloat([]float32{0.1}), 4, false, false)
	w := b.AddQuantWeights("w", []int32{3, -1, 2, 0, -7, 1, 1, 1}, []int{2, 1, 2, 2}, []float32{0.5, 0.25}, 4)
	y := b.AddConv("conv", xq, w, "", 2, 2, qonnx.ConvParams{})
	b.AddOutput(y)
	m, err := b.Model()
	if err != nil {
		log.Fatal(err)
	}
	data, err := m.Encode()
	if err != nil {
		log.Fatal(err)
	}
	back, err := qonnx.Decode(data)
	if err != nil {
		log.Fatal(err)
	}
	r, err := qonnx.Inspect(back, 12)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range r.Layers {
		fmt.Printf("%s: K=%d N=%d M=%d l1_max=%d range [%d, %d] P_exact=%d certified=%v\n",
			c.Name, c.K, c.InputBits, c.WeightBits, c.L1Max, c.AccMin, c.AccMax, c.AccBitsExact, c.Certified)
	}
	// Output:
	// conv: K=4 N=4 M=4 l1_max=10 range [-105, 75] P_exact=8 certified=true
}
