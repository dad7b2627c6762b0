package data

import (
	"fmt"
	"math"
)

// bicubicA is the free parameter of the cubic convolution kernel (Keys,
// 1981). −0.5 is the value used by PIL, MATLAB's imresize and most
// super-resolution papers; OpenCV uses −0.75.
const bicubicA = -0.5

// cubic is the cubic convolution kernel with parameter bicubicA.
func cubic(x float64) float64 {
	const a = bicubicA
	x = math.Abs(x)
	switch {
	case x <= 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}

// taps holds, for each output coordinate, the four input indices (clamped
// to the border) and their normalised weights.
type taps struct {
	idx [][4]int
	w   [][4]float32
}

// bicubicTaps computes the taps that resample a line of n values to m
// values. Output sample o sits at input coordinate (o+0.5)·n/m − 0.5 (pixel
// centres aligned, as in PIL and MATLAB) and reads the four nearest inputs.
func bicubicTaps(n, m int) taps {
	t := taps{idx: make([][4]int, m), w: make([][4]float32, m)}
	scale := float64(n) / float64(m)
	for o := range m {
		c := (float64(o)+0.5)*scale - 0.5
		base := int(math.Floor(c)) - 1
		var w [4]float64
		sum := 0.0
		for k := range 4 {
			w[k] = cubic(c - float64(base+k))
			sum += w[k]
		}
		for k := range 4 {
			t.idx[o][k] = min(max(base+k, 0), n-1)
			t.w[o][k] = float32(w[k] / sum)
		}
	}
	return t
}

// ResizeBicubic resamples the h×w plane src (row-major) to the oh×ow plane
// dst with separable bicubic interpolation (cubic convolution, a = −0.5),
// replicating border pixels. It does not low-pass filter before
// downscaling ("antialias-free": the kernel keeps its 4-tap support at every
// scale), like MATLAB's imresize(I, 1/s, 'bicubic', 'Antialiasing', false)
// away from the borders (MATLAB mirrors the border where this replicates
// it); PIL's BICUBIC instead widens the kernel by the scale. Downscaling by
// 2 thus weights the 4×4 neighbourhood of each output pixel by
// (−1, 9, 9, −1)/16 per axis, and by 3 picks the centre pixel of each 3×3
// block. Values are not clamped.
//
// It panics if a size is not positive or a slice is too short.
func ResizeBicubic(dst []float32, oh, ow int, src []float32, h, w int) {
	if h <= 0 || w <= 0 || oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("data: ResizeBicubic: bad sizes %d×%d → %d×%d", h, w, oh, ow))
	}
	if len(src) < h*w || len(dst) < oh*ow {
		panic("data: ResizeBicubic: slice too short")
	}
	tx, ty := bicubicTaps(w, ow), bicubicTaps(h, oh)
	// Horizontal pass: h×w → h×ow.
	tmp := make([]float32, h*ow)
	for y := range h {
		row := src[y*w : (y+1)*w]
		out := tmp[y*ow : (y+1)*ow]
		for o := range ow {
			i, wt := &tx.idx[o], &tx.w[o]
			out[o] = wt[0]*row[i[0]] + wt[1]*row[i[1]] + wt[2]*row[i[2]] + wt[3]*row[i[3]]
		}
	}
	// Vertical pass: h×ow → oh×ow.
	for o := range oh {
		i, wt := &ty.idx[o], &ty.w[o]
		r0, r1, r2, r3 := tmp[i[0]*ow:], tmp[i[1]*ow:], tmp[i[2]*ow:], tmp[i[3]*ow:]
		out := dst[o*ow : (o+1)*ow]
		for x := range out {
			out[x] = wt[0]*r0[x] + wt[1]*r1[x] + wt[2]*r2[x] + wt[3]*r3[x]
		}
	}
}
