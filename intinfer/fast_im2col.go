package intinfer

import (
	"encoding/binary"

	"github.com/a2qtoolkit/a2q/tensor"
)

// Patch copies for the fused pipeline's convolutions, on input bytes.

// im2colU8 writes the patches of group grp of the NHWC byte images x into
// col (g.Rows() rows of lda ≥ g.KPerGroup bytes), in (kh, kw, c) order,
// zeros in the padding and after the KPerGroup values of each row. With one
// group, the kw positions inside the image are one contiguous run of the
// input row.
func im2colU8(g *tensor.ConvGeom, x []uint8, grp int, col []uint8, lda int) {
	cg, c0, k := g.CinPerGroup, grp*g.CinPerGroup, g.KPerGroup
	whole := cg == g.C
	if whole && g.Pad == 0 {
		im2colValid(g, x, col, lda)
		return
	}
	for n := 0; n < g.N; n++ {
		img := x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				row := col[((n*g.OH+oh)*g.OW+ow)*lda:][:lda]
				clear(row[k:])
				iw0 := ow*g.Stride - g.Pad
				_, _, kw0, kw1 := g.Window(oh, ow)
				p := 0
				for kh := 0; kh < g.KH; kh++ {
					ih := oh*g.Stride - g.Pad + kh
					seg := row[p : p+g.KW*cg]
					p += g.KW * cg
					if ih < 0 || ih >= g.H || kw0 >= kw1 {
						clear(seg)
						continue
					}
					xrow := img[ih*g.W*g.C:]
					if kw0 > 0 {
						clear(seg[:kw0*cg])
					}
					if kw1 < g.KW {
						clear(seg[kw1*cg:])
					}
					if whole {
						dst := seg[kw0*cg : kw1*cg]
						src := xrow[(iw0+kw0)*g.C:][:len(dst)]
						if len(dst) <= 16 {
							for i := range dst {
								dst[i] = src[i]
							}
						} else {
							copy(dst, src)
						}
						continue
					}
					for kw := kw0; kw < kw1; kw++ {
						copy(seg[kw*cg:(kw+1)*cg], xrow[(iw0+kw)*g.C+c0:])
					}
				}
			}
		}
	}
}

// im2colPadded is im2colU8 for one group with padding: it copies the
// images into zero-bordered ones (unpadded) and takes their unpadded
// patches, which im2colValid copies a kernel row at a time, where the
// padded windows of im2colU8 go byte run by byte run.
func im2colPadded(g *tensor.ConvGeom, x []uint8, col []uint8, lda int, pad *[]uint8) {
	gp, xp := unpadded(g, x, pad)
	im2colValid(gp, xp, col, lda)
}

// unpadded returns the convolution g of the byte images x as one without
// padding: the geometry of zero-bordered images and those images, copied
// into buf (padImages). Its patches are those of g.
func unpadded(g *tensor.ConvGeom, x []uint8, buf *[]uint8) (*tensor.ConvGeom, []uint8) {
	gp := *g
	gp.H, gp.W, gp.Pad = g.H+2*g.Pad, g.W+2*g.Pad, 0
	return &gp, padImages(buf, x, g.N, g.H, g.W, g.C, g.Pad)
}

// padImages copies n NHWC byte images x (h×w×c) into zero-bordered ones
// of (h+2·pad)×(w+2·pad) in buf, grown as needed, and returns them, with
// slack bytes after them that word-wise copies may read.
func padImages(buf *[]uint8, x []uint8, n, h, w, c, pad int) []uint8 {
	hp, wp := h+2*pad, w+2*pad
	img, row := hp*wp*c, w*c
	if need := n*img + slack; len(*buf) < need {
		*buf = make([]uint8, need)
	}
	p := (*buf)[:n*img+slack]
	clear(p)
	for b := 0; b < n; b++ {
		for y := 0; y < h; y++ {
			copy(p[b*img+((y+pad)*wp+pad)*c:][:row], x[(b*h+y)*row:][:row])
		}
	}
	return p
}

// im2colValid is im2colU8 for one group without padding: every kernel row
// of a patch is one contiguous run of KW·C input bytes. Runs of at most 8
// bytes move as one 8-byte word where both slices have room (the extra
// bytes land in the next run, which is written after).
func im2colValid(g *tensor.ConvGeom, x []uint8, col []uint8, lda int) {
	run, k := g.KW*g.C, g.KPerGroup
	rowLen := g.W * g.C
	imgLen := g.H * rowLen
	kh, oh, ow := g.KH, g.OH, g.OW
	sh, sw := g.Stride*rowLen, g.Stride*g.C
	short := run <= 8
	r := 0
	for n := 0; n < g.N; n++ {
		img := x[n*imgLen : (n+1)*imgLen]
		if useAVX2 && run > 0 && k <= lda {
			// Bounds of the kernels' reads and writes (with slack for
			// the word moves).
			last := (oh-1)*sh + (ow-1)*sw + (kh-1)*rowLen
			end := (r + oh*ow) * lda
			switch {
			case short && kh == 3 && lda <= k+8 && n*imgLen+last+8 <= len(x) && end+8 <= len(col):
				im2colWords3(&col[r*lda], lda, &img[0], oh, ow, sh, sw, rowLen, run, k)
			case short && n*imgLen+last+8 <= len(x) && end+8 <= len(col):
				im2colWords(&col[r*lda], lda, &img[0], oh, ow, sh, sw, rowLen, kh, run, k)
			default:
				_, _ = img[last+run-1], col[end-1]
				im2colValidAVX2(&col[r*lda], lda, &img[0], oh, ow, sh, sw, rowLen, kh, run, k)
			}
			r += oh * ow
			continue
		}
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				src := i*sh + j*sw
				d := r * lda
				r++
				if short && src+(kh-1)*rowLen+8 <= len(img) && d+lda+8 <= len(col) {
					for h := 0; h < kh; h++ {
						binary.LittleEndian.PutUint64(col[d+h*run:], binary.LittleEndian.Uint64(img[src+h*rowLen:]))
					}
					// The last word spilled into the padding: zero it (and
					// what follows, the next row, written later).
					binary.LittleEndian.PutUint64(col[d+k:], 0)
					continue
				}
				for h := 0; h < kh; h++ {
					copy(col[d+h*run:d+(h+1)*run], img[src+h*rowLen:])
				}
				clear(col[d+k : d+lda])
			}
		}
	}
}
