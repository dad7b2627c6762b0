package metrics_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/metrics"
)

func Example() {
	// Integer weights of two constrained 8-bit layers.
	conv := []int32{0, 0, 0, 0, 0, 0, 3, -2}
	fc := []int32{0, 0, 0, 0, 0, 0, 0, 1}

	var h metrics.Histogram
	h.Add(conv)
	h.Add(fc)
	fmt.Printf("sparsity %.4f\n", h.Sparsity())
	fmt.Printf("entropy %.4f bits/weight\n", h.Entropy())
	fmt.Printf("compression rate M/H = %.2fx\n", h.CompressionRate(8))

	fmt.Println("accuracy", metrics.Accuracy([]int{3, 1, 4, 1}, []int{3, 1, 4, 2}))
	fmt.Printf("share of float %.3f\n", metrics.ShareOfFloat(0.942, 0.950))
	fmt.Printf("PSNR %.2f dB\n", metrics.PSNR([]float32{0.5, 0.25}, []float32{0.5, 0.5}, 1))

	// Output:
	// sparsity 0.8125
	// entropy 0.9934 bits/weight
	// compression rate M/H = 8.05x
	// accuracy 0.75
	// share of float 0.992
	// PSNR 15.05 dB
}
