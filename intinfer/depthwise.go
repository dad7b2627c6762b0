package intinfer

import "github.com/a2qtoolkit/a2q/tensor"

// Depthwise convolutions (one input and one output channel per group) in
// the fused pipelines. Through im2col they would copy single bytes, group
// by group, and run a one-row product per channel; computed directly,
// each output pixel adds its window's taps channel by channel, the
// channels of a pixel being contiguous in NHWC.

// depthwise is a depthwise layer's weights, tap-major.
type depthwise struct {
	// w holds tap t = kh·KW + kw of every channel at w[t·c:(t+1)·c].
	w []int32
	c int
}

// newDepthwise returns the direct form of lr, or nil when lr is not a
// depthwise convolution.
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
	return d
}

// run computes the layer's accumulators for the g.N byte images x (int8
// when signed) into acc (g.Rows() rows of C), adding in the order of the
// im2col row, (kh, kw), exactly.
func (d *depthwise) run(g *tensor.ConvGeom, x []uint8, signed bool, acc []int32) {
	c := d.c
	for n := 0; n < g.N; n++ {
		img := x[n*g.H*g.W*c : (n+1)*g.H*g.W*c]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				a := acc[((n*g.OH+oh)*g.OW+ow)*c:][:c]
				clear(a)
				kh0, kh1, kw0, kw1 := g.Window(oh, ow)
				ih0, iw0 := oh*g.Stride-g.Pad, ow*g.Stride-g.Pad
				for kh := kh0; kh < kh1; kh++ {
					for kw := kw0; kw < kw1; kw++ {
						xs := img[((ih0+kh)*g.W+iw0+kw)*c:][:c]
						ws := d.w[(kh*g.KW+kw)*c:][:c]
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
		}
	}
}
