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

func ExampleSparse_MulPool() {
	// A 3×3 convolution of one channel over a 4×4 image, output on the
	// image's 4-wide grid: position p = 4·oh + ow reads term (kh, kw) at
	// x[4·kh + kw + p]. Its 2×2 valid outputs form one pool window: the
	// positions 0, 1, 4 and 5.
	w := []int8{
		1, 0, 0,
		0, 1, 0,
		0, 0, 1,
	}
	off := []int32{0, 1, 2, 4, 5, 6, 8, 9, 10}
	s, err := intgemm.NewSparse(w, 1, 9, off, 8, false, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := intgemm.NewPoolMap([][4]int32{{0, 1, 4, 5}}, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	img := []uint8{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
		13, 14, 15, 16,
	}
	x := make([]uint8, s.InputLen(m.Span())) // whole blocks are read
	copy(x, img)
	c := make([]int32, 1)
	s.MulPool(x, c, m)
	// The diagonal sums are 18, 21, 30 and 33: the window keeps 33.
	fmt.Println(c)

	// A window needs two even and two odd positions.
	_, err = intgemm.NewPoolMap([][4]int32{{0, 2, 4, 5}}, 1)
	fmt.Println(err)
	// Output:
	// [33]
	// intgemm: pool window 0 reads 3 even positions [0 2 4 5]: the sparse kernel pools two even and two odd
}
