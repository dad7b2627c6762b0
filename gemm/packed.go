package gemm

import "fmt"

// PackedB is the right operand op(B) of a product packed once for many
// multiplications by different left operands: a layer's weights, met by
// every batch of an inference. SgemmB with it gives Sgemm's results bit
// for bit and skips the packing Sgemm does on every call.
type PackedB struct {
	kn   *kernel
	n, k int
	data []float32
}

// PackB packs op(B) (k×n; B is stored n×k when transB) for SgemmB. It
// returns nil when Sgemm would not keep a whole packed B for an
// untransposed A of this width (B too wide or too large for the in-place
// loop of the CPU's kernel); such products run through Sgemm. It panics
// on the shape errors Sgemm panics on.
func PackB(transB bool, n, k int, b []float32, ldb int) *PackedB {
	if n < 1 || k < 1 {
		panic(fmt.Sprintf("gemm: PackB: dimensions n=%d k=%d", n, k))
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkOperand("B", br, bc, b, ldb)
	kn := active
	if !kn.wholeB(n, k) {
		return nil
	}
	pb := &PackedB{kn: kn, n: n, k: k, data: make([]float32, roundUp(n, kn.nr)*k)}
	kn.packWholeB(matB{b: b, ldb: ldb, trans: transB}, n, k, pb.data)
	return pb
}

// N returns the columns of the packed op(B).
func (pb *PackedB) N() int { return pb.n }

// K returns the depth (rows) of the packed op(B).
func (pb *PackedB) K() int { return pb.k }

// SgemmB computes C = A·op(B) + beta·C for an untransposed m×k A and op(B)
// packed by PackB, on one goroutine, with Sgemm's results bit for bit.
func SgemmB(m int, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	n, k := pb.n, pb.k
	checkOperand("A", m, k, a, lda)
	checkOperand("C", m, n, c, ldc)
	if m == 0 {
		return
	}
	pb.mul(matA{a: a, lda: lda}, m, beta, c, ldc)
}

// mul computes C = A·op(B) + beta·C for an m-row A (m positive).
func (pb *PackedB) mul(A matA, m int, beta float32, c []float32, ldc int) {
	kn := pb.kn
	_, kc, _ := kn.blocks(m, pb.n, pb.k)
	p := packPool.Get().(*packBuf)
	if na := kn.mr * kc; cap(p.a) < na {
		p.a = make([]float32, na)
	}
	kn.directWhole(A, m, pb.n, pb.k, pb.data, beta, c, ldc, p)
	putPack(p)
}

// RowStrip returns the number of rows of A the CPU's kernel multiplies at
// once: a product whose m is a multiple of it has no padded strip.
func RowStrip() int { return active.mr }
