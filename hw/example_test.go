package hw_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/hw"
)

// The LUT estimate of a conv layer shaped like the reference CNN's conv2 (K = 3·3·32 = 288,
// 64 output channels), at a 16-bit and a 32-bit accumulator.
func ExampleEstimateLUT() {
	pe, simd := hw.DefaultFolding(288, 64, 4, 8)
	for _, p := range []int{16, 32} {
		e, err := hw.EstimateLUT(hw.MVU{Name: "conv2", MW: 288, MH: 64, PE: pe, SIMD: simd,
			WeightBits: 8, InputBits: 8, OutputBits: 8, AccBits: p, WeightsInLUTRAM: true})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("P=%d: %.0f LUTs (thresholds %.0f, comparators %.0f)\n", p, e.LUT, e.Thr, e.Comp)
	}
	// Output:
	// P=16: 42450 LUTs (thresholds 4080, comparators 4080)
	// P=32: 78425 LUTs (thresholds 8160, comparators 8160)
}

// Dot products of a tiny layer as a 6-bit accumulator holds them: the second channel
// overflows and wraps. The RTL that WriteVerilog generates for u wraps identically.
func ExampleExpected() {
	u := hw.Unit{Name: "dot", Weights: []int32{1, -2, 3, 0, 7, 7, 7, 7}, OutChannels: 2, K: 4,
		WeightBits: 4, InputBits: 2, AccBits: 6, SIMD: 2}
	exact, wrapped, err := hw.Expected(u, []int32{3, 1, 2, 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exact:", exact, "6-bit accumulator:", wrapped)
	// Output:
	// exact: [7 63] 6-bit accumulator: [7 -1]
}
