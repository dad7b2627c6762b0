package gemm_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/gemm"
)

func ExampleSgemm() {
	// C = A·Bᵀ for a 2×3 A and a 2×3 B (so op(B) = Bᵀ is 3×2).
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0, 1,
		0, 1, 0,
	}
	c := make([]float32, 2*2)
	gemm.Sgemm(false, true, 2, 2, 3, a, 3, b, 3, 0, c, 2)
	fmt.Println(c[0:2])
	fmt.Println(c[2:4])

	// C = A·Bᵀ + 0.5·C, on two goroutines.
	gemm.SgemmParallel(2, false, true, 2, 2, 3, a, 3, b, 3, 0.5, c, 2)
	fmt.Println(c)
	// Output:
	// [4 2]
	// [10 5]
	// [6 3 15 7.5]
}
