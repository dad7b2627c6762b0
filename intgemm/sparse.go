package intgemm

import (
	"fmt"
	"slices"
)

// The sparse kernel: the non-zero weights of each output channel, grouped by
// value, applied to many output positions at once in 16-bit lanes.
//
// A2Q's budgets leave most weights of a constrained layer at zero and most
// of the rest at small magnitudes. A dense kernel multiplies every zero; this
// one walks, for each output channel, only its non-zero weights, and for a
// block of output positions adds the activations each one reads. Weights of
// equal value share one multiplication: the activations of all weights of
// value v are summed first, then multiplied by v (and ±1 need none). The
// activations are bytes laid out so that the positions of a block are
// contiguous for every term k of the dot product: term k of position p is
// x[off[k] + p]. For a stride-1 convolution over channel-major planes that
// is off[(kh, kw, cin)] = cin·planeStride + kh·W + kw, and no im2col copy is
// needed at all. Bytes are half the memory of int16 planes; the vector
// kernels read them as 16-bit words of two positions each and take the two
// apart only once per channel (sparse_amd64.s), not once per term.
//
// Signed activations are stored with 128 added (the int8's bits with the
// sign bit flipped), so that every byte reads as unsigned; each channel's
// sums start at −128·Σₖ W[j][k] instead of zero, which takes the offset out
// again.
//
// Exactness. Two's-complement addition and multiplication in 16-bit lanes
// are exact modulo 2^16, so the kernel's result equals the exact dot
// product, whatever the order and grouping of the terms and however the
// intermediate sums (and the offset of signed inputs) wrap, as long as the
// exact result itself lies in [−2^15, 2^15). NewSparse checks that for
// every channel and every input in the declared range from the weights
// themselves (docs/MATH.md, “Exact bound”), so the kernel is never built
// on a certificate alone.
//
// Outputs. The kernels produce, per block, one int16 vector of positions
// per channel, while c holds a row of channels per position. The vector
// kernels (sparse_amd64.s: AVX2, and AVX-512 on blocks twice as long)
// compute a block for 8 channels at a time into a small int16 scratch on
// the stack and transpose it in registers into rows of 8 int32, so that
// every store writes 8 outputs.

// sparseBlock is the number of positions the AVX2 kernel (and the Go
// reference) computes per output channel at a time: two 32-byte vectors,
// their words and their high bytes summed in four registers. Inputs must be
// readable up to the end of the last block of the largest kernel (see
// Sparse.InputLen).
//
// Measured with the AVX2 kernel of int16 lanes on the reference CNN's
// conv2 (AMD Zen 3):
// blocks of 32 positions are clearly slower (the per-term offset load and
// the per-group branches are paid for half the work), blocks of 128 (eight
// accumulators, the other groups summed in two halves) slightly slower
// (likely because a block's n·128 int32 outputs no longer fit L1 beside the
// activations), so 64.
const sparseBlock = 64

// sparseBlock512 is the AVX-512 kernel's block: two 64-byte vectors, the
// per-term offset load and loop step shared by twice the positions
// (measured a little faster than blocks of 64). sparseBlockMax
// is the largest block of any kernel.
const (
	sparseBlock512 = 128
	sparseBlockMax = sparseBlock512
)

// Sparse is a layer's integer weights prepared for the sparse kernel. It is
// read-only after NewSparse and safe for concurrent use.
type Sparse struct {
	n, k int
	// prog is the program the kernels walk, channel after channel: the
	// sums' start (the signed inputs' offset, as int16), the number of
	// value groups, then for each group its value, its count and the
	// offsets of its activations.
	prog   []int32
	nnz    int
	groups int
	muls   int // groups of a value other than ±1
	maxOff int
	bits   int
	signed bool
}

// NewSparse prepares n×k weights w (row-major, values in [−127, 127]) for
// the sparse kernel, with off[k] the offset of term k in the activation
// layout (see Mul). The activations are inputBits-bit integers (at most 8),
// signed or not. It returns an error wrapping ErrNotCertified when certifiedBits
// exceeds 16, or when the weights' exact bound for that input range does
// not fit 16 bits (a certificate the weights break).
func NewSparse(w []int8, n, k int, off []int32, inputBits int, inputSigned bool, certifiedBits int) (*Sparse, error) {
	if n < 0 || k < 0 {
		return nil, fmt.Errorf("intgemm: negative shape %d×%d", n, k)
	}
	if len(w) != n*k {
		return nil, fmt.Errorf("intgemm: weights have %d values, want n·k = %d·%d = %d", len(w), n, k, n*k)
	}
	if len(off) != k {
		return nil, fmt.Errorf("intgemm: %d offsets for %d terms", len(off), k)
	}
	if inputBits < 1 || inputBits > 8 {
		return nil, fmt.Errorf("intgemm: %d-bit activations: the sparse kernel reads bytes (1 to 8 bits)", inputBits)
	}
	if certifiedBits < 1 {
		return nil, fmt.Errorf("intgemm: certified accumulator width %d bits is not positive", certifiedBits)
	}
	if certifiedBits > 16 {
		return nil, fmt.Errorf("intgemm: certificate needs %d-bit accumulator; the sparse kernel requires ≤ 16: %w", certifiedBits, ErrNotCertified)
	}
	xlo, xhi := int64(0), int64(1)<<inputBits-1
	if inputSigned {
		xlo, xhi = -(int64(1) << (inputBits - 1)), int64(1)<<(inputBits-1)-1
	}
	s := &Sparse{n: n, k: k, signed: inputSigned}
	for i, o := range off {
		if o < 0 {
			return nil, fmt.Errorf("intgemm: offset of term %d is negative (%d)", i, o)
		}
		s.maxOff = max(s.maxOff, int(o))
	}
	order := make([]int, 0, k)
	for j := 0; j < n; j++ {
		row := w[j*k : (j+1)*k]
		pos, neg, err := rowSums(row, j)
		if err != nil {
			return nil, err
		}
		order = order[:0]
		for i, v := range row {
			if v != 0 {
				order = append(order, i)
			}
		}
		// Every input in [xlo, xhi]: the sum lies in [lo, hi].
		lo, hi := xlo*pos-xhi*neg, xhi*pos-xlo*neg
		b := bitsFor(lo, hi)
		s.bits = max(s.bits, b)
		if b > 16 {
			return nil, fmt.Errorf("intgemm: certificate claims a %d-bit accumulator but output %d of the weights needs %d bits for %d-bit inputs; the sparse kernel requires ≤ 16: %w",
				certifiedBits, j, b, inputBits, ErrNotCertified)
		}
		// Group the non-zero weights by value, in increasing offset within
		// a group (the activations are then read in memory order).
		slices.SortStableFunc(order, func(a, b int) int { return int(row[a]) - int(row[b]) })
		var start16 int32
		if inputSigned {
			start16 = int32(int16(-128 * (pos - neg))) // wraps like the lanes
		}
		s.prog = append(s.prog, start16)
		start := len(s.prog)
		s.prog = append(s.prog, 0)
		for g := 0; g < len(order); {
			v := row[order[g]]
			e := g
			for e < len(order) && row[order[e]] == v {
				e++
			}
			s.prog = append(s.prog, int32(v), int32(e-g))
			for _, i := range order[g:e] {
				s.prog = append(s.prog, off[i])
			}
			s.prog[start]++
			s.groups++
			if v != 1 && v != -1 {
				s.muls++
			}
			g = e
		}
		s.nnz += len(order)
	}
	return s, nil
}

// N returns the number of output channels.
func (s *Sparse) N() int { return s.n }

// K returns the dot-product length.
func (s *Sparse) K() int { return s.k }

// NonZeros returns the number of non-zero weights.
func (s *Sparse) NonZeros() int { return s.nnz }

// Groups returns the number of (channel, value) groups.
func (s *Sparse) Groups() int { return s.groups }

// Multiplies returns the number of groups whose value is not ±1: the
// kernel's multiplications per position.
func (s *Sparse) Multiplies() int { return s.muls }

// AccBits returns the exact accumulator bound of the weights for the
// declared input range.
func (s *Sparse) AccBits() int { return s.bits }

// InputLen returns the length the activations of a Mul over np positions
// must have: the kernels read whole blocks of positions past np (of the
// largest block of any kernel).
func (s *Sparse) InputLen(np int) int {
	return s.maxOff + (np+sparseBlockMax-1)/sparseBlockMax*sparseBlockMax
}

// Impl names the implementation Mul runs with the current CPU features:
// "avx512-sparse16", "avx2-sparse16" or "go-sparse16".
func (s *Sparse) Impl() string {
	switch sparseImpl() {
	case sparseAVX512:
		return "avx512-sparse16"
	case sparseAVX2:
		return "avx2-sparse16"
	}
	return "go-sparse16"
}

// Mul computes, for the np positions p and the n output channels j,
//
//	c[p·ldc + j] = Σ_k W[j][k] · a(x[off[k] + p])
//
// exactly, in 16-bit lanes, where a(b) is the activation byte b holds: b
// itself for unsigned inputs, b − 128 for signed ones (an int8 a is stored
// as uint8(a) ^ 0x80). x must hold at least InputLen(np) bytes (those past
// the positions' terms are read and ignored). Elements of c outside the
// np×n block are not touched. Mul does not allocate.
func (s *Sparse) Mul(np int, x []uint8, c []int32, ldc int) {
	s.MulRows(np, x, c, ldc, nil)
}

// MulRows is Mul with position p's outputs in row rows[p] of c:
// c[rows[p]·ldc + j]. Positions may share a row (the last one's outputs
// stay), which lets a caller send positions it does not need to one
// scratch row instead of storing them among the others. A nil rows is Mul.
// MulRows prepares the map on every call (NewRowMap, which allocates); a
// caller that runs the same map again and again prepares it once and calls
// MulMap.
func (s *Sparse) MulRows(np int, x []uint8, c []int32, ldc int, rows []int32) {
	if rows == nil {
		s.mul(np, x, c, ldc, nil, nil, np-1)
		return
	}
	if len(rows) < np {
		panic(fmt.Sprintf("intgemm: sparse Mul of %d positions with %d rows", np, len(rows)))
	}
	m, err := NewRowMap(rows[:np], ldc)
	if err != nil {
		panic("intgemm: sparse Mul: " + err.Error())
	}
	s.MulMap(np, x, c, m)
}

// MulMap is MulRows with the rows of m, for the first np of its
// positions.
func (s *Sparse) MulMap(np int, x []uint8, c []int32, m *RowMap) {
	if np > len(m.rows) {
		panic(fmt.Sprintf("intgemm: sparse Mul of %d positions with %d rows", np, len(m.rows)))
	}
	last := -1
	if np > 0 {
		last = int(m.last[np-1])
	}
	s.mul(np, x, c, m.ldc, m.rows, m.offs, last)
}

// mul runs the kernel on a product whose largest row is last, its
// arguments checked.
func (s *Sparse) mul(np int, x []uint8, c []int32, ldc int, rows []int32, offs []int, last int) {
	if s.check("Mul", np, x, c, ldc, last) {
		sparseKernel(s.prog, s.n, np, x, c, ldc, rows, offs)
	}
}

// check panics, naming the method op, unless a product over np positions
// can read its activations from x and write rows up to last of c, ldc
// apart; it reports whether the product has anything to compute.
func (s *Sparse) check(op string, np int, x []uint8, c []int32, ldc, last int) bool {
	if np < 0 || ldc < s.n {
		panic(fmt.Sprintf("intgemm: sparse %s of %d positions with row stride %d for %d outputs", op, np, ldc, s.n))
	}
	if np == 0 || s.n == 0 {
		return false
	}
	if len(x) < s.InputLen(np) {
		panic(fmt.Sprintf("intgemm: sparse %s reads %d activation bytes, has %d", op, s.InputLen(np), len(x)))
	}
	if len(c) < last*ldc+s.n {
		panic(fmt.Sprintf("intgemm: sparse %s writes %d outputs, has %d", op, last*ldc+s.n, len(c)))
	}
	return true
}

// RowMap is a map from positions to output rows (see MulRows), checked
// and prepared once: with the byte offsets the vector kernels store at
// and the largest row of every prefix, a product on it pays for neither.
// It is read-only and safe for concurrent use.
type RowMap struct {
	rows []int32
	ldc  int
	offs []int   // 4·rows[p]·ldc: position p's row from c, in bytes
	last []int32 // max(rows[:p+1])
}

// NewRowMap prepares rows (position p to row rows[p], none negative) for
// outputs ldc apart. It keeps rows, which must not change afterwards.
func NewRowMap(rows []int32, ldc int) (*RowMap, error) {
	if ldc < 0 {
		return nil, fmt.Errorf("intgemm: row stride %d is negative", ldc)
	}
	m := &RowMap{rows: rows, ldc: ldc, offs: make([]int, len(rows)), last: make([]int32, len(rows))}
	var last int32
	for p, r := range rows {
		if r < 0 {
			return nil, fmt.Errorf("intgemm: position %d maps to row %d", p, r)
		}
		last = max(last, r)
		m.offs[p], m.last[p] = 4*int(r)*ldc, last
	}
	return m, nil
}

// Len returns the number of positions m maps.
func (m *RowMap) Len() int { return len(m.rows) }

// sparseGo is the reference kernel: blocks of sparseBlock positions, for
// each channel its start plus the program's groups summed in wrapping int16
// lanes, as the vector kernels do; position p's row is rows[p] (p when
// rows is nil).
func sparseGo(prog []int32, n, np int, x []uint8, c []int32, ldc int, rows []int32) {
	var acc, t [sparseBlock]int16
	for p0 := 0; p0 < np; p0 += sparseBlock {
		pc := 0
		for j := 0; j < n; j++ {
			start, ng := int16(prog[pc]), int(prog[pc+1])
			pc += 2
			for l := range acc {
				acc[l] = start
			}
			for g := 0; g < ng; g++ {
				v, cnt := int16(prog[pc]), int(prog[pc+1])
				offs := prog[pc+2 : pc+2+cnt]
				pc += 2 + cnt
				switch v {
				case 1:
					for _, o := range offs {
						xs := x[int(o)+p0:][:sparseBlock]
						for l := range acc {
							acc[l] += int16(xs[l])
						}
					}
				case -1:
					for _, o := range offs {
						xs := x[int(o)+p0:][:sparseBlock]
						for l := range acc {
							acc[l] -= int16(xs[l])
						}
					}
				default:
					t = [sparseBlock]int16{}
					for _, o := range offs {
						xs := x[int(o)+p0:][:sparseBlock]
						for l := range t {
							t[l] += int16(xs[l])
						}
					}
					for l := range acc {
						acc[l] += v * t[l]
					}
				}
			}
			for l := 0; l < sparseBlock && p0+l < np; l++ {
				r := p0 + l
				if rows != nil {
					r = int(rows[r])
				}
				c[r*ldc+j] = int32(acc[l])
			}
		}
	}
}

// Block returns the number of positions the running kernel computes at a
// time: Mul's work grows with np rounded up to a multiple of it.
func (s *Sparse) Block() int { return implBlock(sparseImpl()) }

// implBlock returns the block of the implementation impl.
func implBlock(impl int) int {
	if impl == sparseAVX512 {
		return sparseBlock512
	}
	return sparseBlock
}

// The sparse kernel's implementations.
const (
	sparseGoImpl = iota
	sparseAVX2
	sparseAVX512
)

// sparseImpl returns the implementation Mul runs with the current CPU
// features: the one owner of the choice that Impl, Block and the kernels
// follow.
func sparseImpl() int {
	switch {
	case useAVX2 && useAVX512:
		return sparseAVX512
	case useAVX2:
		return sparseAVX2
	}
	return sparseGoImpl
}
