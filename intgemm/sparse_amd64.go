//go:build !noasm

package intgemm

// sparseChunk is the number of output channels the AVX2 sparse kernel
// computes into its int16 scratch before transposing them into c.
const sparseChunk = 8

// sparseBlockAVX2 computes positions [0, rows) of one block (x at the
// block's first position) for all n channels of prog, a chunk of
// sparseChunk channels at a time through buf (sparseChunk·sparseBlock
// int16), position i's row at byte offset offs[i] from c. Its reference is
// sparseGo.
//
//go:noescape
func sparseBlockAVX2(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16)

// sparseBlockAVX512 is sparseBlockAVX2 on blocks of sparseBlock512
// positions, its sums in ZMM registers.
//
//go:noescape
func sparseBlockAVX512(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16)

// sparsePoolAVX512 is sparseBlockAVX512 on the block of a PoolMap, whose
// table is at tab: it stores the maxima of the rows windows, window q's
// at byte offset offs[q] from c.
//
//go:noescape
func sparsePoolAVX512(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16, tab *uint16)

// sparseKernel runs the implementation sparseImpl names: the AVX-512
// kernel, the AVX2 kernel or sparseGo. Position p's row is rows[p] (p
// itself when rows is nil), at byte offset offs[p] from c when offs is
// given (RowMap); otherwise the vector kernels' offsets are computed here,
// block by block.
func sparseKernel(prog []int32, n, np int, x []uint8, c []int32, ldc int, rows []int32, offs []int) {
	impl := sparseImpl()
	if impl == sparseGoImpl {
		sparseGo(prog, n, np, x, c, ldc, rows)
		return
	}
	var buf [sparseChunk * sparseBlockMax]int16
	var blockOffs [sparseBlockMax]int
	block := implBlock(impl)
	for p0 := 0; p0 < np; p0 += block {
		m := min(block, np-p0)
		o := &blockOffs[0]
		if offs != nil {
			o = &offs[p0]
		} else {
			for i := range m {
				blockOffs[i] = 4 * (p0 + i) * ldc
			}
		}
		if impl == sparseAVX512 {
			sparseBlockAVX512(&prog[0], n, &x[p0], &c[0], o, m, &buf[0])
		} else {
			sparseBlockAVX2(&prog[0], n, &x[p0], &c[0], o, m, &buf[0])
		}
	}
}

// sparsePoolKernel runs the AVX-512 pooled kernel on the block of m. Its
// rows of window maxima need a quarter of the scratch, but a buffer of
// that size made the whole plan measurably slower on a Zen 4, so it has
// the other kernels' size.
func sparsePoolKernel(prog []int32, n int, x []uint8, c []int32, m *PoolMap) {
	var buf [sparseChunk * sparseBlockMax]int16
	sparsePoolAVX512(&prog[0], n, &x[0], &c[0], &m.offs[0], len(m.win), &buf[0], &m.idx[0][0])
}
