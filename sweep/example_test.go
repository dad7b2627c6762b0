package sweep_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/sweep"
)

// The points of a sweep: the baseline once per bit width, A2Q and A2Q+ once
// per bit width and accumulator width. sweep.Run trains them all from one
// float model; sweep.RunPoint runs one of them by ID.
func ExampleGrid_Points() {
	g := sweep.Grid{Model: "cnn", Quants: []quant.Mode{quant.Baseline, quant.A2Q, quant.A2QPlus},
		Bits: []int{8}, AccBits: []int{12, 16}, Epochs: 3, FloatEpochs: 5}
	if err := g.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range g.Points() {
		fmt.Println(p.ID)
	}
	// Output:
	// baseline-w8a8
	// a2q-w8a8-p12
	// a2q-w8a8-p16
	// a2qplus-w8a8-p12
	// a2qplus-w8a8-p16
}

// Post-training methods beside QAT: their points are prefixed with the
// method; the baseline, which only RTN can round, gets one RTN point as the
// reference.
func ExampleGrid_Points_methods() {
	g := sweep.Grid{Model: "cnn", Quants: []quant.Mode{quant.Baseline, quant.A2QPlus}, Bits: []int{4},
		AccBits: []int{12}, Methods: []sweep.Method{sweep.QAT, sweep.GPTQ, sweep.GPFQ}}
	for _, p := range g.Points() {
		fmt.Println(p.ID, p.Method)
	}
	// Output:
	// baseline-w4a4 qat
	// rtn-baseline-w4a4 rtn
	// a2qplus-w4a4-p12 qat
	// gptq-a2qplus-w4a4-p12 gptq
	// gpfq-a2qplus-w4a4-p12 gpfq
}
