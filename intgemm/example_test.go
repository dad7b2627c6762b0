package intgemm_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/intgemm"
)

func ExampleKernel_MulU8() {
	// Two output channels of k = 4 weights; the exact bound with u8
	// activations is 255·max(q⁺, q⁻) = 255·6 → 12 bits, well within 16.
	w := []int8{
		1, 2, 3, 0,
		-1, 0, -5, 1,
	}
	kn, err := intgemm.NewKernel(w, 2, 4, intgemm.Acc16, 12)
	if err != nil {
		fmt.Println(err)
		return
	}
	a := []uint8{ // m = 2 activation rows
		10, 20, 30, 40,
		255, 255, 255, 255,
	}
	c := make([]int32, 2*2)
	kn.MulU8(1, 2, a, 4, c, 2)
	fmt.Println(kn.Path(false), c)

	// A layer whose certificate needs more than 16 bits is refused.
	_, err = intgemm.NewKernel(w, 2, 4, intgemm.Acc16, 19)
	fmt.Println(err)
	// Output:
	// acc16 [140 -120 1530 -1275]
	// intgemm: certificate needs 19-bit accumulator; the 16-bit path requires ≤ 16: accumulator not certified
}
