//go:build !noasm

package intgemm

// sparseChunk is the number of output channels the AVX2 sparse kernel
// computes into its int16 scratch before transposing them into c.
const sparseChunk = 8

// sparseBlockAVX2 computes positions [0, rows) of one block (x and c at the
// block's first position) for all n channels of prog, a chunk of
// sparseChunk channels at a time through buf (sparseChunk·sparseBlock
// int16). Its reference is sparseGo.
//
//go:noescape
func sparseBlockAVX2(prog *int32, n int, x *uint8, c *int32, ldc, rows int, buf *int16)

// sparseBlockAVX512 is sparseBlockAVX2 on blocks of sparseBlock512
// positions, its sums in ZMM registers.
//
//go:noescape
func sparseBlockAVX512(prog *int32, n int, x *uint8, c *int32, ldc, rows int, buf *int16)

// sparseKernel runs the implementation sparseImpl names: the AVX-512
// kernel, the AVX2 kernel or sparseGo.
func sparseKernel(prog []int32, n, np int, x []uint8, c []int32, ldc int) {
	impl := sparseImpl()
	if impl == sparseGoImpl {
		sparseGo(prog, n, np, x, c, ldc)
		return
	}
	var buf [sparseChunk * sparseBlockMax]int16
	if impl == sparseAVX512 {
		for p0 := 0; p0 < np; p0 += sparseBlock512 {
			sparseBlockAVX512(&prog[0], n, &x[p0], &c[p0*ldc], ldc, min(sparseBlock512, np-p0), &buf[0])
		}
		return
	}
	for p0 := 0; p0 < np; p0 += sparseBlock {
		sparseBlockAVX2(&prog[0], n, &x[p0], &c[p0*ldc], ldc, min(sparseBlock, np-p0), &buf[0])
	}
}
