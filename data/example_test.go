package data_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/data"
)

// Train on the embedded Fashion-MNIST subset in shuffled, augmented
// mini-batches.
func Example() {
	train, test, err := data.Open("") // the embedded default
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d training and %d test images of %d×%d×%d, %d classes\n",
		train.Name, train.N, test.N, train.C, train.H, train.W, train.Classes)

	const batch = 128
	b := data.NewBatcher(train, batch, rand.New(rand.NewPCG(1, 1)), data.Augment{Pad: 2, Seed: 1})
	x := make([]float32, batch*train.Size())
	labels := make([]int, batch)
	seen := 0
	for {
		n, ok := b.Next(x, labels, nil)
		if !ok {
			break // end of the epoch
		}
		seen += n // a training step would use x[:n*train.Size()] and labels[:n]
	}
	fmt.Println("one epoch:", seen, "examples in", b.Batches(), "batches")
	// Output:
	// fashion-mnist-embedded: 12000 training and 2000 test images of 1×28×28, 10 classes
	// one epoch: 12000 examples in 94 batches
}

// Cut ×2 super-resolution pairs (luminance) from the embedded photographs.
func ExampleDefaultSR() {
	train, test, err := data.DefaultSR(data.SROptions{Scale: 2, Crop: 64, CropsPerImage: 8, Luma: true, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("train: %d inputs %d×%d×%d → targets %d×%d×%d\n", train.N, train.C, train.H, train.W, train.TC, train.TH, train.TW)
	fmt.Printf("test: %d tiles\n", test.N)
	// Output:
	// train: 32 inputs 1×32×32 → targets 1×64×64
	// test: 28 tiles
}
