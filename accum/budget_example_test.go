package accum_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/accum"
)

// The A2Q+ budget for a 16-bit accumulator and 8-bit inputs, and why it
// rests on the two halves of a channel rather than on its L1 norm alone
// (docs/MATH.md, “A2Q+ bound”).
func ExampleA2QPlusBudget() {
	const p, n, k = 16, 8, 32
	t := accum.A2QPlusBudget(p, n)
	fmt.Printf("A2Q+ budget T at P=%d, N=%d: %.4f (A2Q, unsigned inputs: %.4f)\n", p, n, t, accum.A2QBudget(p, n, false))
	fmt.Println("A2Q+ bits for ||q||_1 = 256:", accum.A2QPlusBits(256, n))
	fmt.Println("A2Q+ bits for ||q||_1 = 257:", accum.A2QPlusBits(257, n))

	// Two channels of K = 32 integer weights with ||q||_1 = 256: one
	// balanced (q+ = q- = 128 ≤ T/2), as the A2Q+ quantizer makes them,
	// one all positive.
	balanced := make([]int32, k)
	positive := make([]int32, k)
	for i := range k {
		balanced[i] = int32(8 * (1 - 2*(i%2))) // +8, -8, ...
		positive[i] = 8
	}
	for _, c := range []struct {
		name string
		q    []int32
	}{{"balanced", balanced}, {"all positive", positive}} {
		r := accum.ExactRange(c.q, 1, k, n, false)
		fmt.Printf("%s: accumulator in [%d, %d], exact bits %d\n", c.name, r.Min, r.Max, accum.ExactBits(c.q, 1, k, n, false))
	}

	// Output:
	// A2Q+ budget T at P=16, N=8: 256.9961 (A2Q, unsigned inputs: 127.9961)
	// A2Q+ bits for ||q||_1 = 256: 16
	// A2Q+ bits for ||q||_1 = 257: 17
	// balanced: accumulator in [-32640, 32640], exact bits 16
	// all positive: accumulator in [0, 65280], exact bits 17
}
