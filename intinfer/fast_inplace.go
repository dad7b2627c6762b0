package intinfer

import (
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// In-place convolution of a one-channel image. The first layer of an image
// network has one input channel and a small kernel: K = 9 for 3×3, which
// the dense kernels read as im2col rows, copied for every output position.
// With VNNI, whose kernels read each row in groups of 4 bytes, a kernel at
// most 4 wide needs no copy at all: group kh of output position (y, x) is
// the 4 image bytes from (y+kh, x), and consecutive positions are
// consecutive bytes. The layer's weights are repacked to K' = 4·KH (kernel
// row kh at 4kh, zero weights past its KW taps, so the extra byte a group
// reads adds nothing) and intgemm.Kernel.MulU8Groups reads the image with
// row stride 1 and group stride W. The accumulators then lie on the image's
// own H×W grid: the positions past OH×OW (the last KH−1 rows and KW−1
// columns) are computed and ignored, as the pool that follows reads the
// grid in place (poolRequantGrid). The sums are those of the im2col rows,
// so the integers are the same.

// fitInPlace gives st an in-place kernel (st.inPlace) when it can take one: a dense,
// one-channel, one-group, stride-1, unpadded convolution at most 4 wide,
// with unsigned inputs, followed by one pool that it does not already run
// inside its product (fast_pooled.go), whose dense kernel runs on VNNI. It returns the accumulators it needs per image (0 when it cannot).
func (st *fastStage) fitInPlace() int {
	lr, g := st.lr, &st.g
	l := lr.l
	if st.sp != nil || st.dw != nil || st.direct || st.pooled || l.Kind != "conv" || g.C != 1 || g.Groups != 1 ||
		g.Stride != 1 || g.Pad != 0 || g.KW > 4 || l.InputSigned || len(st.pools) != 1 ||
		len(st.kerns) != 1 || !st.kerns[0].UsesVNNI() {
		return 0
	}
	k := 4 * g.KH
	w := make([]int8, l.OutC*k)
	for j := 0; j < l.OutC; j++ {
		for kh := 0; kh < g.KH; kh++ {
			copy(w[j*k+4*kh:j*k+4*kh+g.KW], lr.w8[j*l.K+kh*g.KW:j*l.K+(kh+1)*g.KW])
		}
	}
	kn, err := intgemm.NewKernel(w, l.OutC, k, st.kerns[0].Acc(), lr.info.AccBitsExact)
	if err != nil || !kn.UsesGroups() {
		return 0
	}
	st.inPlace = kn
	lr.info.Reason += "; reads its one-channel image in place (no patch copies)"
	return g.H * g.W * l.OutC
}

// runInPlace computes st's layer on nb images x (H×W bytes each, then at
// least 3 bytes of slack) into acc on the images' grid: position (b, y, x)
// at row (b·H + y)·W + x, every row up to the last valid position. It
// returns the accumulators of the nb grids (the rows past that position
// left as they were).
func (st *fastStage) runInPlace(th int, x []uint8, nb int, g *tensor.ConvGeom, acc []int32) []int32 {
	n := st.lr.l.OutC
	m := (nb-1)*g.H*g.W + (g.OH-1)*g.W + g.OW
	st.inPlace.MulU8Groups(th, m, x, 1, g.W, acc, n)
	return acc[:nb*g.H*g.W*n]
}
