package intinfer

import "encoding/binary"

// The planar first layer. A network's first layer often reads one channel
// (a grey image) through a 3×3 kernel, and a 2×2 max pool follows. When the
// next layer runs on the sparse kernel, which reads its input as planes
// (fast_sparse.go), the fused pipeline would copy patches (im2colPool2),
// multiply them with the channels in the lanes (the pooled VNNI product),
// requantise the window maxima to NHWC bytes and transpose those into the
// planes. planarVNNI does it all in one pass with the windows in the lanes
// instead: sixteen windows per vector, each lane's four bytes a kernel row
// of one window position gathered by a byte permute from the image rows,
// the weights broadcast per channel. Then each channel's 16 window maxima
// are requantised in the fused form (requant_fma.go) and stored as 16
// bytes of its plane, in the planes' own order, with no patch copy and no
// transpose. It takes the same number of VNNI multiply-adds as the pooled
// product (a kernel row of three taps per four-byte lane, as the product
// pads the nine taps to twelve), and the integers are the same: the same
// sums, their maximum, and the requantisation verified against the
// thresholds.

// planarBlock is the number of pool windows per block (the lanes of a
// vector of int32); planarTab is the bytes of a block's entry in
// planarRun.tab: the byte indices of the window positions dx = 0 and dx =
// 1 (64 each), then the offset of the block's first image row, its lane
// mask and its first window (int32 each).
const (
	planarBlock = 16
	planarTab   = 192
	planarReach = 128 // the bytes each image row load covers
)

// planarRun is a stage's planar first layer.
type planarRun struct {
	tab  []byte
	nblk int
	// w holds each channel's kernel rows as double words w(r, 0), w(r, 1),
	// w(r, 2), 0.
	w []int32
	f *fmaForm
	// perImg: windows per image (the planes' image size); rowLen, imgLen:
	// the input image's row and size in bytes; reach: the bytes of an
	// image the kernel reads, past which the input needs slack.
	perImg, rowLen, imgLen, reach int
}

// fitPlanar gives st the planar first layer (st.planar) when next reads st's
// output as planes and st is a pooled one-channel 3×3 convolution of stride
// 1 on unsigned bytes, on the VNNI kernel, whose requantisation has the
// fused form and unsigned levels, on a CPU with AVX-512 VBMI.
func (st *fastStage) fitPlanar(next *fastStage) {
	l, g := st.lr.l, &st.g
	var f *fmaForm
	if st.q.vec != nil {
		f = st.q.vec.fma
	}
	switch {
	case !useAVX512 || !hasVBMI || f == nil || f.lo < 0 || f.hi > 255:
		return
	case !st.pooled || st.sp != nil || len(st.kerns) != 1 || !st.kerns[0].UsesVNNI() || len(st.shuffles) > 0:
		return
	case g.C != 1 || g.KH != 3 || g.KW != 3 || g.Stride != 1 || g.Pad != 0 || g.Groups != 1 || l.InputSigned:
		return
	case next.sp == nil || next.g.Pad != 0 || next.lr.l.InputSigned:
		return
	}
	pr := newPlanarRun(g.H, g.W, g.OH/2, g.OW/2, st.lr.w8, l.OutC, f)
	if pr == nil {
		return
	}
	st.planar = pr
	st.lr.info.Reason += "; with the pool and requantisation, computed straight into the next layer's planes (windows in the lanes)"
}

// newPlanarRun builds the planar layer of n channels of 3×3 weights w8
// (rows of 9, kernel row by row) on images h×w pooled to oh×ow windows,
// requantised by f, or returns nil when a block's windows span more image
// bytes than its loads (a wide image) or the loads reach past the slack.
func newPlanarRun(h, w, oh, ow int, w8 []int8, n int, f *fmaForm) *planarRun {
	pr := &planarRun{perImg: oh * ow, rowLen: w, imgLen: h * w, f: f}
	pr.nblk = (pr.perImg + planarBlock - 1) / planarBlock
	pr.tab = make([]byte, pr.nblk*planarTab)
	for b := range pr.nblk {
		e := pr.tab[b*planarTab:]
		w0 := b * planarBlock
		i0 := w0 / ow
		base := 2 * i0 * pr.rowLen
		valid := min(planarBlock, pr.perImg-w0)
		for k := range planarBlock {
			off := 0
			if k < valid {
				i, j := (w0+k)/ow, (w0+k)%ow
				off = 2*(i-i0)*pr.rowLen + 2*j
			}
			if off+1+3 >= planarReach {
				return nil // a block's windows span more than the loads
			}
			for dx := range 2 {
				for t := range 4 {
					e[dx*64+4*k+t] = byte(off + dx + t)
				}
			}
		}
		binary.LittleEndian.PutUint32(e[128:], uint32(base))
		binary.LittleEndian.PutUint32(e[132:], uint32(1)<<valid-1)
		binary.LittleEndian.PutUint32(e[136:], uint32(w0))
		pr.reach = max(pr.reach, base+3*pr.rowLen+planarReach)
	}
	if pr.reach > pr.imgLen+slack {
		return nil
	}
	pr.w = make([]int32, 3*n)
	for o := range n {
		for r := range 3 {
			row := w8[o*9+3*r:]
			pr.w[3*o+r] = int32(uint32(uint8(row[0])) | uint32(uint8(row[1]))<<8 | uint32(uint8(row[2]))<<16)
		}
	}
	return pr
}

// run computes the planar layer on nb images x (with slack after them) into
// the planes, ldp bytes from one channel to the next.
func (pr *planarRun) run(x []uint8, nb int, planes []uint8, ldp int) {
	if nb == 0 {
		return
	}
	n := len(pr.f.m)
	_ = x[(nb-1)*pr.imgLen+pr.reach-1]
	_ = planes[(n-1)*ldp+nb*pr.perImg-1]
	planarVNNI(&x[0], nb, pr.imgLen, &pr.tab[0], pr.nblk, &pr.w[0], n, &pr.f.m[0], &pr.f.c[0], first(pr.f.fix),
		&planes[0], ldp, pr.perImg, pr.rowLen, pr.f.lo, pr.f.hi)
}

// unplane writes the nb images of n channels in planes back as NHWC bytes
// into out: what the next layer reads, for a caller that keeps every
// layer's input.
func (pr *planarRun) unplane(out, planes []uint8, nb, n, ldp int) {
	for p := range nb * pr.perImg {
		for c := range n {
			out[p*n+c] = planes[c*ldp+p]
		}
	}
}
