package ptq

import (
	"runtime"

	"github.com/a2qtoolkit/a2q/gemm"
)

// lazyBlock is the number of weights GPTQ and GPFQ fix, updating only the
// block's own columns, before they bring the later columns up to date with
// one product (GPTQ's lazy batch updates).
const lazyBlock = 128

// lazy applies the deferred updates of a block with the project's GEMM:
// dst[:, i2:] += sign·E·M[i1:i2, i2:], E holding a coefficient per channel
// and column of the block.
type lazy struct {
	k, outC int
	m       []float32 // K×K
	e       []float32 // outC×lazyBlock
	tmp     []float32
	threads int
}

func newLazy(m []float64, k, outC int) *lazy {
	z := &lazy{k: k, outC: outC, m: make([]float32, k*k), e: make([]float32, outC*lazyBlock),
		tmp: make([]float32, outC*k), threads: runtime.GOMAXPROCS(0)}
	for i, v := range m {
		z.m[i] = float32(v)
	}
	return z
}

// set records channel c's coefficient for column i of the block at i1.
func (z *lazy) set(c, i, i1 int, v float64) { z.e[c*lazyBlock+i-i1] = float32(v) }

// flush updates the columns right of the block [i1, i2) of dst (outC rows
// of K) and clears the coefficients.
func (z *lazy) flush(dst []float64, i1, i2 int, sign float64) {
	k, n, rest := z.k, i2-i1, z.k-i2
	if rest > 0 {
		gemm.SgemmParallel(z.threads, false, false, z.outC, rest, n, z.e, lazyBlock, z.m[i1*k+i2:], k, 0, z.tmp, rest)
		for c := 0; c < z.outC; c++ {
			row := dst[c*k+i2 : (c+1)*k]
			for j, v := range z.tmp[c*rest : (c+1)*rest] {
				row[j] += sign * float64(v)
			}
		}
	}
	clear(z.e)
}
