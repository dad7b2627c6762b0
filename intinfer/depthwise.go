package intinfer

import "github.com/a2qtoolkit/a2q/tensor"

// Depthwise convolutions (one input and one output channel per group) in
// the fused pipelines. Through im2col they would copy single bytes, group
// by group, and run a one-row product per channel; computed directly,
// each output pixel adds its window's taps channel by channel, the
// channels of a pixel being contiguous in NHWC. A padded layer first
// copies each image into a zero-bordered one, so that every window lies
// inside it; the sums are exact in int32 (the layer's exact bound is at
// most 32 bits for the kernels to take it).

// depthwise is a depthwise layer's weights, tap-major, and its taps'
// offsets in the (padded) input image.
type depthwise struct {
	// w holds tap t = kh·KW + kw of every channel at w[t·c:(t+1)·c].
	w []int32
	// offs[t] is tap t's byte offset from its window's first byte.
	offs []int
	c    int
}

// newDepthwise returns the direct form of lr for geometry g, or nil when
// lr is not a depthwise convolution.
func newDepthwise(lr *layerRun, g *tensor.ConvGeom) *depthwise {
	l := lr.l
	if l.Kind != "conv" || g.Groups == 1 || g.CinPerGroup != 1 || g.CoutPerGroup != 1 {
		return nil
	}
	taps := g.KH * g.KW
	d := &depthwise{w: make([]int32, taps*g.C), c: g.C}
	for c := 0; c < g.C; c++ {
		for t := 0; t < taps; t++ {
			d.w[t*g.C+c] = l.Weights[c*taps+t]
		}
	}
	wp := g.W + 2*g.Pad
	for kh := 0; kh < g.KH; kh++ {
		for kw := 0; kw < g.KW; kw++ {
			d.offs = append(d.offs, (kh*wp+kw)*g.C)
		}
	}
	return d
}

// vecChannels is the number of channels the vector kernel computes (the
// others run in Go).
func (d *depthwise) vecChannels() int {
	if !useAVX2 {
		return 0
	}
	return d.c &^ 7
}

// impl names the kernel for LayerInfo.Impl.
func (d *depthwise) impl() string {
	if d.vecChannels() > 0 {
		return "avx2-depthwise32"
	}
	return "go-depthwise32"
}

// run computes the layer's accumulators for the g.N byte images x (int8
// when signed) into acc (g.Rows() rows of C); pad is the caller's buffer
// for the padded images (padImages).
func (d *depthwise) run(g *tensor.ConvGeom, x []uint8, signed bool, acc []int32, pad *[]uint8) {
	c := d.c
	hp, wp := g.H+2*g.Pad, g.W+2*g.Pad
	vec := d.vecChannels()
	if g.Pad > 0 {
		x = padImages(pad, x, g.N, g.H, g.W, c, g.Pad)
	}
	for n := 0; n < g.N; n++ {
		img := x[n*hp*wp*c : (n+1)*hp*wp*c]
		// The last byte a row's windows read, for the kernel's bounds.
		reach := (g.OW-1)*g.Stride*c + d.offs[len(d.offs)-1] + c
		for oh := 0; oh < g.OH; oh++ {
			row := img[oh*g.Stride*wp*c:]
			a := acc[(n*g.OH+oh)*g.OW*c:][:g.OW*c]
			if vec > 0 {
				_ = row[reach-1]
				kern := dwRowU8AVX2
				if signed {
					kern = dwRowS8AVX2
				}
				kern(&a[0], &row[0], &d.offs[0], &d.w[0], len(d.offs), c, g.OW, g.Stride*c)
			}
			if vec < c {
				d.rowGo(a, row, g.OW, g.Stride*c, signed, vec)
			}
		}
	}
}

// rowGo is the kernel in Go for channels [c0, C) of one output row of
// npix pixels, windows step bytes apart in x.
func (d *depthwise) rowGo(acc []int32, x []uint8, npix, step int, signed bool, c0 int) {
	c := d.c
	for p := 0; p < npix; p++ {
		a := acc[p*c+c0 : (p+1)*c]
		clear(a)
		for t, off := range d.offs {
			xs := x[p*step+off+c0:][:len(a)]
			ws := d.w[t*c+c0:][:len(a)]
			if signed {
				for ch, v := range xs {
					a[ch] += int32(int8(v)) * ws[ch]
				}
				continue
			}
			for ch, v := range xs {
				a[ch] += int32(v) * ws[ch]
			}
		}
	}
}
