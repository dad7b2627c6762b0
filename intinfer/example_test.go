package intinfer_test

import (
	"fmt"
	"math/rand/v2"
	"slices"

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

// A network with branches (the zoo's ResNet-style classifier: residual
// sums, global average pooling) runs as integers the same way, and its
// integer model file holds the graph: the model read back computes the
// same outputs bit for bit.
func Example_graph() {
	m, err := models.Build(models.Config{Model: "resnet", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 8*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, 8, 28, 28, 1)), false)

	im, err := intinfer.FromModel(m)
	if err != nil {
		panic(err)
	}
	b, err := im.Encode() // what intinfer.Save writes
	if err != nil {
		panic(err)
	}
	back, err := intinfer.Decode(b, "resnet.a2qint")
	if err != nil {
		panic(err)
	}
	run := func(im *intinfer.Model) *intinfer.Result {
		e, err := intinfer.NewEngine(im, intinfer.Options{Mode: intgemm.Wrap})
		if err != nil {
			panic(err)
		}
		return e.Run(x, 8, false)
	}
	r, r2 := run(im), run(back)
	var overflows int64
	for _, n := range r.Overflows {
		overflows += n
	}
	fmt.Println("layers:", len(im.Layers()), "output shape:", r.Shape, "overflows:", overflows)
	fmt.Println("file version:", b[6], "same outputs after reading it back:", slices.Equal(r.Out, r2.Out))
	// Output:
	// layers: 10 output shape: [10] overflows: 0
	// file version: 4 same outputs after reading it back: true
}
