package intinfer

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Sparse stages of the fused pipeline. A layer on the sparse kernel
// (intgemm.Sparse) reads its input as channel-major planes of activation
// bytes (signed ones with 128 added, as intgemm.Sparse.Mul reads them):
// plane c holds channel c of every image of the chunk, each image padded
// to hp×wp with zeros, images one after the other. Output
// position p = (b·hp + oh)·wp + ow of a stride-1 convolution then reads
// term (kh, kw, c) at c·ldp + kh·wp + kw + p: the same offset for every
// position, so the kernel needs no patch copies. It computes every
// position of the padded grid, the valid ones (oh < OH, ow < OW) among
// them, and stores the valid ones' accumulators in NHWC order (row
// (b·OH + oh)·OW + ow), each other position's in the row of the next valid
// one, which overwrites them (intgemm.Sparse.MulRows keeps the last
// position's outputs): nothing is stored for the grid's padding but in
// cache lines about to be written anyway, and the rows need no compaction
// afterwards. A linear layer is the 1×1 case: one position per image.

// sparseRun is a stage's sparse kernel with its plane layout.
type sparseRun struct {
	kern *intgemm.Sparse
	// hp, wp: the padded plane of one image; ldp: the stride between
	// channel planes (a whole chunk).
	hp, wp, ldp int
	// planeLen is the length of the planes buffer (with the kernel's
	// read-ahead).
	planeLen int
	// rows maps the grid positions of a chunk to accumulator rows: the
	// valid ones in NHWC order, the others to the next valid one's; one
	// maps those of the first image that the kernel computes when it runs
	// image by image (every image's, from its own first row).
	rows, one *intgemm.RowMap
	// pool, when set, is the layer's 2×2 max pool inside the kernel, on
	// the grid of one image (fitPool); the kernel then runs image by image
	// and stores the pooled accumulators.
	pool *intgemm.PoolMap
}

// sparseFit says whether the sparse kernel can run st (its geometry and
// pools set), or why not.
func sparseFit(st *fastStage) error {
	l, g := st.lr.l, &st.g
	switch {
	case !st.lr.info.Certified() || st.lr.info.AccBitsExact > 16:
		return fmt.Errorf("exact bound %d bits: the sparse kernel's 16-bit lanes need ≤ 16", st.lr.info.AccBitsExact)
	case g.Stride > 1:
		return fmt.Errorf("stride %d: the sparse kernel takes stride 1", g.Stride)
	case g.Groups > 1:
		return fmt.Errorf("%d groups: the sparse kernel takes one", g.Groups)
	case len(st.pools) > 1:
		return fmt.Errorf("%d pools after the layer: the sparse stage fuses one", len(st.pools))
	case l.InputBits > 8:
		return fmt.Errorf("%d-bit inputs: the fused pipeline takes 8", l.InputBits)
	}
	return nil
}

// newSparseRun builds the sparse kernel of st for chunks of chunk images.
func newSparseRun(st *fastStage, chunk int) (*sparseRun, error) {
	l, g := st.lr.l, &st.g
	sr := &sparseRun{hp: g.H + 2*g.Pad, wp: g.W + 2*g.Pad}
	sr.ldp = chunk * sr.hp * sr.wp
	off := make([]int32, l.K)
	for kh := 0; kh < g.KH; kh++ {
		for kw := 0; kw < g.KW; kw++ {
			for c := 0; c < g.C; c++ {
				off[(kh*g.KW+kw)*g.C+c] = int32(c*sr.ldp + kh*sr.wp + kw)
			}
		}
	}
	k, err := intgemm.NewSparse(st.lr.w8, l.OutC, l.K, off, l.InputBits, l.InputSigned, st.lr.info.AccBitsExact)
	if err != nil {
		return nil, err
	}
	sr.kern = k
	// The kernel reads whole blocks past the positions of a call: of the
	// chunk's, or of its last image's when it runs image by image.
	grid := sr.hp * sr.wp
	sr.planeLen = max(k.InputLen(sr.ldp), (chunk-1)*grid+k.InputLen(sr.positions(1, g)), g.C*sr.ldp)
	// From the end: the positions past the last valid one are never
	// computed.
	rows := make([]int32, chunk*grid)
	next := int32(chunk*g.OH*g.OW - 1)
	for q := len(rows) - 1; q >= 0; q-- {
		b, oh, ow := q/grid, q%grid/sr.wp, q%sr.wp
		if oh < g.OH && ow < g.OW {
			next = int32((b*g.OH+oh)*g.OW + ow)
		}
		rows[q] = next
	}
	if sr.rows, err = intgemm.NewRowMap(rows, l.OutC); err != nil {
		return nil, err
	}
	if sr.one, err = intgemm.NewRowMap(rows[:sr.positions(1, g)], l.OutC); err != nil {
		return nil, err
	}
	return sr, nil
}

// fitPool gives sr the stage's 2×2 max pool of stride 2 (fitPooled checks
// it) inside the kernel when it can take it: a kernel that pools in its
// registers (intgemm.Sparse.PoolsInKernel), and an image whose windows fit
// one vector and read positions within one block (intgemm.NewPoolMap
// checks both). It reports whether it did.
func (sr *sparseRun) fitPool(st *fastStage) bool {
	g := &st.g
	if !sr.kern.PoolsInKernel() {
		return false
	}
	var win [][4]int32
	for i := 0; i < g.OH/2; i++ {
		for j := 0; j < g.OW/2; j++ {
			p, w := int32(2*i*sr.wp+2*j), int32(sr.wp)
			win = append(win, [4]int32{p, p + 1, p + w, p + w + 1})
		}
	}
	m, err := intgemm.NewPoolMap(win, st.lr.l.OutC)
	if err != nil {
		return false // an image too large for one block or one vector
	}
	sr.pool = m
	return true
}

// mulPooled runs the pooled kernel on the nb images of planes into acc,
// image by image, and returns the nb·(OH/2)·(OW/2) rows of n it fills.
func (sr *sparseRun) mulPooled(planes []uint8, acc []int32, nb, n int) []int32 {
	grid, out := sr.hp*sr.wp, sr.pool.Len()*n
	for b := 0; b < nb; b++ {
		sr.kern.MulPool(planes[b*grid:], acc[b*out:], sr.pool)
	}
	return acc[:nb*out]
}

// mul runs the kernel on the nb images of planes into acc, whose first
// nb·OH·OW rows of n it returns: image by image (each from its own first
// row, through sr.one) or over the chunk (perImage), the positions in the
// rows of sr.rows.
func (sr *sparseRun) mul(planes []uint8, acc []int32, nb, n int, g *tensor.ConvGeom) []int32 {
	if each, _ := sr.perImage(nb, g, sr.kern.Block()); each {
		grid, out := sr.hp*sr.wp, g.OH*g.OW*n
		for b := 0; b < nb; b++ {
			sr.kern.MulMap(sr.one.Len(), planes[b*grid:], acc[b*out:], sr.one)
		}
	} else {
		sr.kern.MulMap(sr.positions(nb, g), planes, acc, sr.rows)
	}
	return acc[:nb*g.OH*g.OW*n]
}

// positions returns the number of grid positions the kernel computes for
// nb images: up to the last valid one.
func (sr *sparseRun) positions(nb int, g *tensor.ConvGeom) int {
	return ((nb-1)*sr.hp+g.OH-1)*sr.wp + g.OW
}

// perImage reports whether the kernel should run image by image (each call
// up to the image's last valid position) rather than once over the chunk:
// when the grid rows below the valid ones (a pool's unread rows, the
// padding) cost more than rounding each image up to the kernel's block.
// It returns the positions the kernel computes either way.
func (sr *sparseRun) perImage(nb int, g *tensor.ConvGeom, block int) (bool, int) {
	one := roundUp(sr.positions(1, g), block)
	all := roundUp(sr.positions(nb, g), block)
	if nb*one < all {
		return true, nb * one
	}
	return false, all
}

// newPlanes returns a planes buffer for sr whose every byte holds the
// activation 0 (0x80 for signed inputs): the padding, which toPlanes never
// writes when it transposes rows into place, keeps that value.
func (sr *sparseRun) newPlanes(signed bool) []uint8 {
	p := make([]uint8, sr.planeLen)
	if signed {
		for i := range p {
			p[i] = 0x80
		}
	}
	return p
}

// toPlanes writes nb NHWC byte images x (h×w×c) into the planes, at
// offset pad in each padded image. Without padding the pixels of the whole
// chunk are one run in the planes as in x. With padding, rows of a
// multiple of 16 pixels are transposed one by one into place; shorter or
// ragged rows are first copied into zero-bordered images in buf (grown as
// needed), whose pixels are then one run, so that the transpose takes
// whole blocks of 16 pixels rather than leaving each row's tail to Go.
func (sr *sparseRun) toPlanes(planes []uint8, x []uint8, nb int, g *tensor.ConvGeom, signed bool, buf *[]uint8) {
	h, w, c, pad := g.H, g.W, g.C, g.Pad
	if pad == 0 {
		transposeBytes(planes, sr.ldp, x[:nb*h*w*c], c, signed)
		return
	}
	if w%16 == 0 {
		// Rows of whole blocks: transposed in place, no copy.
		for b := 0; b < nb; b++ {
			for y := 0; y < h; y++ {
				base := (b*sr.hp+y+pad)*sr.wp + pad
				transposeBytes(planes[base:], sr.ldp, x[(b*h+y)*w*c:][:w*c], c, signed)
			}
		}
		return
	}
	p := padImages(buf, x, nb, h, w, c, pad)
	transposeBytes(planes, sr.ldp, p[:nb*sr.hp*sr.wp*c], c, signed)
}

// transposeBytes writes the pixels of x (rows of c bytes) to dst as c
// rows of bytes, row i at dst[i·ld:], adding 128 to signed bytes (flipping
// their sign bits). With AVX2 and c a multiple of 16, blocks of 16 pixels
// × 16 channels are transposed in registers, the last block overlapping
// the one before when 16 ∤ n (its pixels are written twice, the same).
func transposeBytes(dst []uint8, ld int, x []uint8, c int, signed bool) {
	n := len(x) / c
	done := 0
	if useAVX2 && c%16 == 0 && n >= 16 {
		_, _ = dst[(c-1)*ld+n-1], x[n*c-1]
		t := transposeU8AVX2
		if signed {
			t = transposeS8AVX2
		}
		t(&dst[0], ld, &x[0], c, n&^15)
		if n%16 != 0 {
			t(&dst[n-16], ld, &x[(n-16)*c], c, 16)
		}
		done = n
	}
	for ci := 0; ci < c && done < n; ci++ {
		row := dst[ci*ld:][done:n]
		src := x[done*c+ci:]
		var flip uint8
		if signed {
			flip = 0x80
		}
		for i := range row {
			row[i] = src[i*c] ^ flip
		}
	}
}
