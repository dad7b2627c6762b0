package accum_test

import (
	"fmt"
	"os"

	"github.com/a2qtoolkit/a2q/accum"
)

// The bounds for a 3×3 convolution with 64 input channels (K = 576), 8-bit
// unsigned inputs (after a ReLU) and 8-bit weights.
func Example() {
	const k, n, m = 576, 8, 8
	fmt.Println("data-type bound:", accum.DataTypeBits(k, n, false, m))

	// The A2Q budget for a 16-bit accumulator, and its inverse.
	t := accum.A2QBudget(16, n, false)
	fmt.Printf("A2Q budget at P=16: %.4f\n", t)
	fmt.Println("bits for ||q||_1 = 127:", accum.L1Bits(127, n, false))
	fmt.Println("bits for ||q||_1 = 128:", accum.L1Bits(128, n, false))

	// A2Q+ gives about one more bit of budget to unsigned inputs.
	fmt.Printf("A2Q+ budget at P=16: %.4f\n", accum.A2QPlusBudget(16, n))

	// Output:
	// data-type bound: 26
	// A2Q budget at P=16: 127.9961
	// bits for ||q||_1 = 127: 16
	// bits for ||q||_1 = 128: 17
	// A2Q+ budget at P=16: 256.9961
}

// Certify a small layer and print the table used by `a2q inspect`.
func ExampleCertify() {
	cert, err := accum.Certify(accum.Layer{
		Name: "fc", Kind: "linear",
		Weights:     []int32{3, -1, 0, 0, 0, 0, -2, 2},
		OutChannels: 2, K: 4,
		InputBits: 4, InputSigned: false, WeightBits: 3,
		TargetBits: 8,
		Bias:       []int64{10, -5},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.AccMin, cert.AccMax, cert.AccBitsExact, cert.Certified)
	accum.WriteTable(os.Stdout, []accum.Certificate{cert})

	// A weight outside the 3-bit narrow range ±3 is rejected.
	_, err = accum.Certify(accum.Layer{Name: "bad", Weights: []int32{4}, OutChannels: 1, K: 1, InputBits: 4, WeightBits: 3})
	fmt.Println(err)

	// Output:
	// -30 45 7 true
	// layer  kind    K  out  N   M  P  l1_max  T  P_dtype  P_l1  P_exact  P_bias  acc range  sparsity  certified
	// fc     linear  4  2    4u  3  8  4       -  10       8     7        7       [-30, 45]  50.0%     yes
	// layer "bad": weights: weight 4 at channel 0, index 0 is outside ±3 (3-bit narrow range): weight outside the narrow range
}
