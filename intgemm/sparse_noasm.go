//go:build !amd64 || noasm

package intgemm

// sparseKernel is sparseGo: there is no vector kernel without assembly.
func sparseKernel(prog []int32, n, np int, x []uint8, c []int32, ldc int, rows []int32, _ []int) {
	sparseGo(prog, n, np, x, c, ldc, rows)
}
