package recipe_test

import (
	"context"
	"fmt"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
)

// Train the reference CNN with A2Q+ for a 16-bit accumulator the way the
// train command does without --init-from: float pre-training, projection
// initialisation from the float model with the gain folded and A2Q+
// centred on data, fine-tuning; then read each layer's certificate.
func Example() {
	trainSet, testSet, err := data.Default() // the embedded Fashion-MNIST subset
	if err != nil {
		fmt.Println(err)
		return
	}
	trainSet, testSet = trainSet.Spread(600), testSet.Spread(200)
	hidden := quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
	cfg := models.Config{Model: "cnn", InC: trainSet.C, InH: trainSet.H, InW: trainSet.W, Classes: trainSet.Classes, Seed: 1,
		Hidden: hidden, First: models.DefaultEdge(hidden.Mode), Last: models.DefaultEdge(hidden.Mode)}
	res, err := recipe.Run(context.Background(), recipe.Options{Config: cfg, Float: &recipe.Float{Epochs: 1},
		FoldGain: true, CentreOnData: true, Train: trainSet, Test: testSet, Epochs: 1, Batch: 32, Threads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("float model trained first: %v\n", res.Float != nil)
	for _, c := range res.Report.Layers {
		fmt.Printf("%s: %d-bit inputs, %d-bit weights, K = %d, certified for P = %d: %v\n",
			c.Name, c.InputBits, c.WeightBits, c.K, c.AccBitsTarget, c.Certified)
	}
	fmt.Println("every hidden layer certified:", res.Report.Certified)
	// Output:
	// float model trained first: true
	// conv1: 8-bit inputs, 8-bit weights, K = 9, certified for P = 32: true
	// conv2: 8-bit inputs, 8-bit weights, K = 288, certified for P = 16: true
	// fc: 8-bit inputs, 8-bit weights, K = 1600, certified for P = 32: true
	// every hidden layer certified: true
}
