//go:build !noasm

package intinfer

import "golang.org/x/sys/cpu"

// useAVX512 selects the vector requantisation kernel. Tests turn it off to
// force the bucket tables.
var useAVX512 = cpu.X86.HasAVX512F

// requantAVX512 requantises n channels of one pixel in the float form of
// floatRequant, taking the maximum of four accumulator rows first (pass the
// same row several times for fewer).
//
//go:noescape
func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n int, div, lo, hi float32)
