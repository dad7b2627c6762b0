package intgemm_test

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/intgemm"
)

func ExampleNewSparse() {
	// A 1-D convolution of 3 taps, two output channels: term k of
	// position p reads x[p+k]. With u8 activations the exact bound is
	// 255·4 → 11 bits.
	w := []int8{
		1, 0, -1,
		2, 2, 0,
	}
	off := []int32{0, 1, 2}
	s, err := intgemm.NewSparse(w, 2, 3, off, 8, false, 11)
	if err != nil {
		fmt.Println(err)
		return
	}
	signal := []uint8{0, 10, 20, 30, 25, 5}
	np := len(signal) - 2
	x := make([]uint8, s.InputLen(np)) // whole blocks are read
	copy(x, signal)
	c := make([]int32, np*2)
	s.Mul(np, x, c, 2)
	fmt.Println(s.NonZeros(), s.Groups(), s.AccBits(), c)

	// A certificate wider than 16 bits is refused.
	_, err = intgemm.NewSparse(w, 2, 3, off, 8, false, 17)
	fmt.Println(err)
	// Output:
	// 4 3 11 [-20 20 -20 60 -5 100 25 110]
	// intgemm: certificate needs 17-bit accumulator; the sparse kernel requires ≤ 16: accumulator not certified
}
