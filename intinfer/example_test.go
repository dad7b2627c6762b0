package intinfer_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Convert a quantized model (here untrained, calibrated on random images)
// to integers and run it with 16-bit wrapping accumulators in the hidden
// layer: the A2Q+ certificate means nothing overflows.
func Example() {
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, 4, 28, 28, 1)), false) // calibrates the input quantizers

	im, err := intinfer.FromModel(m)
	if err != nil {
		panic(err)
	}
	e, err := intinfer.NewEngine(im, intinfer.Options{Mode: intgemm.Wrap, AccBits: map[string]int{"conv2": 16}}) // conv2 at P = 16; conv1 and fc keep theirs
	if err != nil {
		panic(err)
	}
	r := e.Run(x, 4, false)
	for i, l := range e.Layers() {
		fmt.Printf("%s: P = %d, exact bound fits: %v, overflows %d\n", l.Name, l.AccBits, l.AccBitsExact <= l.AccBits, r.Overflows[i])
	}
	fmt.Println("output shape:", r.Shape)
	// Output:
	// conv1: P = 32, exact bound fits: true, overflows 0
	// conv2: P = 16, exact bound fits: true, overflows 0
	// fc: P = 32, exact bound fits: true, overflows 0
	// output shape: [10]
}
