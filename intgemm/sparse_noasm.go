//go:build !amd64 || noasm

package intgemm

// sparseKernel is sparseGo: there is no vector kernel without assembly.
func sparseKernel(prog []int32, n, np int, x []uint8, c []int32, ldc int, rows []int32, _ []int) {
	sparseGo(prog, n, np, x, c, ldc, rows)
}

// sparsePoolKernel is never called without assembly (sparseImpl does not
// name the AVX-512 kernel).
func sparsePoolKernel(prog []int32, n int, x []uint8, c []int32, m *PoolMap) {
	panic("intgemm: no AVX-512 sparse kernel without assembly")
}
