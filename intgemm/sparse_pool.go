package intgemm

import (
	"fmt"
	"slices"
)

// A max pool inside the sparse kernel. When the positions a layer computes
// for one image fit one block of the AVX-512 kernel (a small feature map,
// such as the reference CNN's second convolution: 10×10 valid outputs on a
// 13-wide grid, 127 positions), every pool window lies within the block,
// and the kernel can take each window's maximum of the int16 sums while
// they are still in registers. It then stores a quarter of the
// accumulators (for 2×2 windows), and the layer's requantisation reads them
// without a pool of its own. The maximum of the exact sums is the same
// integer as the maximum of their int16 forms, since each is exact.
//
// The kernel holds a channel's sums of even positions in two registers and
// those of odd positions in two others (sparse_amd64.s). A window of 2×2
// positions (p, p+1, p+w, p+w+1) has two even positions and two odd ones,
// whatever p and w, so its taps can be ordered even, even, odd, odd: each
// tap is then one VPERMI2W from one parity's 64 lanes, and three VPMAXSW
// take the maximum.

// poolTaps is the number of positions in a window of MulPool.
const poolTaps = 4

// poolLanes bounds the windows of a PoolMap: one ZMM of int16 lanes.
const poolLanes = 32

// PoolMap is a max pool over the positions of one block of a sparse
// product, prepared for Sparse.MulPool: up to 32 windows of four positions
// each, two of them even and two odd (as in any 2×2 window; repeat a
// position of the same parity for smaller windows), every position below
// the AVX-512 kernel's block of 128. It is read-only and safe for
// concurrent use.
type PoolMap struct {
	win [][poolTaps]int32
	// idx is what the AVX-512 kernel loads: for each tap, the VPERMI2W
	// word index of each window's position among the block's even
	// positions (taps 0 and 1) or its odd ones (taps 2 and 3).
	idx  [poolTaps][poolLanes]uint16
	span int
	offs []int // 4·q·ldc, the row of window q
	ldc  int
}

// NewPoolMap prepares the windows win (window q the positions win[q]) for
// outputs ldc apart: MulPool writes window q's maxima to row q.
func NewPoolMap(win [][4]int32, ldc int) (*PoolMap, error) {
	if len(win) == 0 || len(win) > poolLanes {
		return nil, fmt.Errorf("intgemm: %d pool windows: the sparse kernel pools 1 to %d", len(win), poolLanes)
	}
	if ldc < 0 {
		return nil, fmt.Errorf("intgemm: row stride %d is negative", ldc)
	}
	m := &PoolMap{win: slices.Clone(win), ldc: ldc, offs: make([]int, len(win))}
	for q, w := range win {
		m.offs[q] = 4 * q * ldc
		var even, odd []int32
		for _, p := range w {
			if p < 0 || p >= sparseBlock512 {
				return nil, fmt.Errorf("intgemm: pool window %d reads position %d, outside the block [0, %d)", q, p, sparseBlock512)
			}
			m.span = max(m.span, int(p)+1)
			if p%2 == 0 {
				even = append(even, p)
			} else {
				odd = append(odd, p)
			}
		}
		if len(even) != 2 {
			return nil, fmt.Errorf("intgemm: pool window %d reads %d even positions %v: the sparse kernel pools two even and two odd", q, len(even), w)
		}
		// Lane l of the even (odd) table holds position 2l (2l + 1).
		for t, p := range append(even, odd...) {
			m.idx[t][q] = uint16(p / 2)
		}
	}
	return m, nil
}

// Len returns the number of windows.
func (m *PoolMap) Len() int { return len(m.win) }

// Span returns the number of positions the windows read from: the largest
// position plus one.
func (m *PoolMap) Span() int { return m.span }

// PoolsInKernel reports whether MulPool runs on the vector kernel (the
// AVX-512 one) rather than on a product followed by a pool in Go.
func (s *Sparse) PoolsInKernel() bool { return sparseImpl() == sparseAVX512 }

// MulPool computes the product of Mul on the positions of m's windows and
// writes each window's maximum, for the n output channels j:
//
//	c[q·ldc + j] = max over p in window q of Σ_k W[j][k] · a(x[off[k] + p])
//
// x must hold InputLen(m.Span()) bytes; m's stride must be at least n.
// Without the AVX-512 kernel it runs Mul on the span and pools in Go, and
// allocates.
func (s *Sparse) MulPool(x []uint8, c []int32, m *PoolMap) {
	if !s.check("MulPool", m.span, x, c, m.ldc, len(m.win)-1) {
		return
	}
	if sparseImpl() == sparseAVX512 {
		sparsePoolKernel(s.prog, s.n, x, c, m)
		return
	}
	t := make([]int32, m.span*s.n)
	s.Mul(m.span, x, t, s.n)
	for q, w := range m.win {
		row := c[q*m.ldc:][:s.n]
		copy(row, t[int(w[0])*s.n:][:s.n])
		for _, p := range w[1:] {
			for j, v := range t[int(p)*s.n:][:s.n] {
				row[j] = max(row[j], v)
			}
		}
	}
}
