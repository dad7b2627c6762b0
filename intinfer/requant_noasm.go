//go:build !amd64 || noasm

package intinfer

// useAVX512 is always false without assembly: the bucket tables requantise.
var useAVX512 = false

func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n int, div, lo, hi float32) {
	panic("intinfer: no vector requantisation kernel in this build")
}
