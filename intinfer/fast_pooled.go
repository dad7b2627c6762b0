package intinfer

import (
	"github.com/a2qtoolkit/a2q/tensor"
)

// Pooled convolution: a 2×2 max pool of stride 2 computed inside the
// product. A short first layer (K = 9 for a 3×3 kernel on one channel)
// runs on 32-bit lanes, and its accumulators, four per pooled output, are
// the largest buffer of the pipeline: writing them and reading them back
// to pool and requantise costs about as much as the products. With the
// patch rows of each pool window written one after the other
// (im2colPool2), intgemm.Kernel.MulU8Max4 (on the broadcast 32-bit kernel,
// or on VNNI's for unsigned inputs) keeps only each window's maximum, so a
// quarter of the accumulators is ever stored and the requantisation reads
// them without pooling. The maximum of the same sums is the same integer:
// the outputs are those of the unpooled product followed by the pool. On
// VNNI this beats reading a one-channel image in place (fast_inplace.go),
// which stays for the pools the product cannot take.

// fitPooled gives st the pooled product (st.pooled) when it can take it:
// a stage followed by exactly one max pool of 2×2 windows and stride 2 on
// an even output, and either the sparse kernel where it pools in its
// registers (sparseRun.fitPool) or a dense convolution with patch copies
// (not depthwise, direct or in place) of one group whose kernel can run
// the pooled product (intgemm's UsesMax4).
func (st *fastStage) fitPooled() {
	l, g := st.lr.l, &st.g
	if len(st.pools) != 1 || st.pools[0].K != 2 || tensor.PoolStride(st.pools[0].K, st.pools[0].Stride) != 2 ||
		g.OH%2 != 0 || g.OW%2 != 0 {
		return
	}
	where := "the product"
	switch {
	case st.sp != nil:
		if !st.sp.fitPool(st) {
			return
		}
		where = "the sparse kernel"
	case st.dw != nil || st.direct || l.Kind != "conv" || g.Groups != 1 ||
		len(st.kerns) != 1 || !st.kerns[0].UsesMax4(l.InputSigned):
		return
	}
	st.pooled = true
	st.lr.info.Reason += "; pools its 2×2 windows inside " + where + " (a quarter of the accumulators)"
}

// runPooled computes st's pooled product on nb images x into acc: row
// (b·OH/2 + i)·OW/2 + j holds the maximum of window (i, j) of image b.
func (st *fastStage) runPooled(s *fastScratch, th int, x []uint8, nb int, g *tensor.ConvGeom) []int32 {
	l, k := st.lr.l, st.lda
	rows := nb * g.OH * g.OW
	col := s.col[:rows*k+slack]
	im2colPool2(g, x, col, k, &s.pad)
	acc := s.acc[:rows/4*l.OutC]
	if l.InputSigned {
		st.kerns[0].MulS8Max4(th, rows, asInt8(col), k, acc, l.OutC)
	} else {
		st.kerns[0].MulU8Max4(th, rows, col, k, acc, l.OutC)
	}
	return acc
}

// im2colPool2 writes the patches of the g.N NHWC byte images x (one
// group, even OH and OW) into col as im2colU8 does, but in the order of
// 2×2 pool windows: for each image and window (i, j) in row-major order,
// the patches of positions (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1).
// Padded images are first copied into zero-bordered ones in pad.
func im2colPool2(g *tensor.ConvGeom, x []uint8, col []uint8, lda int, pad *[]uint8) {
	if g.Pad > 0 {
		g, x = unpadded(g, x, pad)
	}
	run, k := g.KW*g.C, g.KPerGroup
	rowLen := g.W * g.C
	imgLen := g.H * rowLen
	sh, sw := g.Stride*rowLen, g.Stride*g.C
	oh, ow := g.OH/2, g.OW/2
	per := g.OH * g.OW * lda
	// The word moves reach 8 bytes past the last run read and past the
	// last row's k values.
	last := (g.OH-1)*sh + (g.OW-1)*sw + (g.KH-1)*rowLen
	for n := 0; n < g.N; n++ {
		img := x[n*imgLen:]
		dst := col[n*per:]
		if useAVX2 && g.KH == 3 && g.KW == 3 && g.C == 1 && g.Stride == 1 && lda == 12 {
			_ = img[(2*oh+1)*rowLen+2*ow+1] // the last byte the window blocks read
			im2col3x3Pool1(&dst[0], &img[0], oh, ow, rowLen)
			continue
		}
		if useAVX2 && g.KH == 3 && run <= 8 && k <= lda && lda <= k+8 && last+8 <= len(img) && per+8 <= len(dst) {
			im2colWords3Pool(&dst[0], lda, &img[0], oh, ow, sh, sw, rowLen, run, k)
			continue
		}
		r := 0
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for _, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
					src := (2*i+d[0])*sh + (2*j+d[1])*sw
					row := dst[r*lda : (r+1)*lda]
					r++
					for h := 0; h < g.KH; h++ {
						copy(row[h*run:(h+1)*run], img[src+h*rowLen:])
					}
					clear(row[k:])
				}
			}
		}
	}
}
