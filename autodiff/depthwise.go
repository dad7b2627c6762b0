package autodiff

import (
	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/tensor"
)

// depthwise computes a depthwise convolution (one input and one output
// channel per group) directly: lowering it to one matrix product per
// channel would run Cout products of width one. The kernels of f32 sum
// over contiguous channels, a run of pixels with the same window taps at
// a time, in the order of a direct loop over the output pixels: an output
// sums its taps in (kh, kw) order, an input gradient the output pixels
// that read it in raster order, a weight gradient the pixels of its
// goroutine's images in raster order.
func (t *Tape) depthwise(g *tensor.ConvGeom, x, w, b *Var) *Var {
	C := g.C
	kk := g.KH * g.KW
	xd, wd := x.Value.Data, w.Value.Data
	out := t.allocNoZero(g.N, g.OH, g.OW, C)
	od := out.Data
	// Weights are [C, KH, KW, 1]; transpose to [KH·KW, C] so that the
	// sums run over contiguous channels.
	wt := make([]float32, kk*C)
	for c := 0; c < C; c++ {
		for k := 0; k < kk; k++ {
			wt[k*C+c] = wd[c*kk+k]
		}
	}
	cols := outputRuns(g)
	tensor.For(t.Threads, g.N, func(lo, hi int) {
		var taps []f32.Tap
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for _, r := range cols {
					taps = r.taps(taps[:0], g, n, oh)
					f32.DepthwiseRun(od[((n*g.OH+oh)*g.OW+r.lo)*C:], C, xd, g.Stride*C, wt, taps, r.hi-r.lo, C, false)
				}
			}
		}
	})
	if b != nil {
		t.addRowVector(od, b.Value.Data)
	}
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		gx, fresh := x.gradFresh()
		gw := w.grad()
		var ins []inputRun
		if gx != nil {
			ins = inputRuns(g)
		}
		// Weight gradients are summed per goroutine, then reduced.
		nt := max(min(t.Threads, g.N), 1)
		parts := make([][]float32, nt)
		chunk := (g.N + nt - 1) / nt
		tensor.For(nt, nt, func(tlo, thi int) {
			var taps []f32.Tap
			for ti := tlo; ti < thi; ti++ {
				var dwt []float32
				if gw != nil {
					dwt = make([]float32, kk*C)
				}
				for n := ti * chunk; n < min((ti+1)*chunk, g.N); n++ {
					if gw != nil {
						for oh := 0; oh < g.OH; oh++ {
							for _, r := range cols {
								taps = r.taps(taps[:0], g, n, oh)
								f32.DepthwiseGradRun(dwt, dy[((n*g.OH+oh)*g.OW+r.lo)*C:], C, xd, g.Stride*C, taps, r.hi-r.lo, C)
							}
						}
					}
					if gx != nil {
						for ih := 0; ih < g.H; ih++ {
							for _, r := range ins {
								taps = r.taps(taps[:0], g, n, ih)
								f32.DepthwiseRun(gx.Data[((n*g.H+ih)*g.W+r.lo)*C:], g.Stride*C, dy, C, wt, taps, r.n, C, !fresh)
							}
						}
					}
				}
				parts[ti] = dwt
			}
		})
		if gw != nil {
			for _, p := range parts {
				for c := 0; c < C; c++ {
					for k := 0; k < kk; k++ {
						gw.Data[c*kk+k] += p[k*C+c]
					}
				}
			}
		}
		if b != nil {
			if gb := b.grad(); gb != nil {
				t.sumRows(gb.Data, dy)
			}
		}
	}, x, w, b)
	return v
}

// outputRun is a run of output columns [lo, hi) whose windows cover the
// same kernel columns [kw0, kw1).
type outputRun struct{ lo, hi, kw0, kw1 int }

// outputRuns splits an output row into runs: the left border, the
// interior, the right border, and more where the padding is wide.
func outputRuns(g *tensor.ConvGeom) []outputRun {
	var runs []outputRun
	for ow := 0; ow < g.OW; ow++ {
		_, _, kw0, kw1 := g.Window(0, ow)
		if n := len(runs); n > 0 && runs[n-1].kw0 == kw0 && runs[n-1].kw1 == kw1 {
			runs[n-1].hi = ow + 1
			continue
		}
		runs = append(runs, outputRun{ow, ow + 1, kw0, kw1})
	}
	return runs
}

// taps appends the taps of the run's first pixel in output row oh of
// image n, in (kh, kw) order: input offsets into the whole input,
// weight offsets into the [KH·KW, C] weights.
func (r outputRun) taps(taps []f32.Tap, g *tensor.ConvGeom, n, oh int) []f32.Tap {
	kh0, kh1, _, _ := g.Window(oh, r.lo)
	for kh := kh0; kh < kh1; kh++ {
		ih := oh*g.Stride - g.Pad + kh
		for kw := r.kw0; kw < r.kw1; kw++ {
			iw := r.lo*g.Stride - g.Pad + kw
			taps = append(taps, f32.Tap{X: ((n*g.H+ih)*g.W + iw) * g.C, W: (kh*g.KW + kw) * g.C})
		}
	}
	return taps
}

// inputRun is a run of n input columns lo, lo+Stride, … that the same
// kernel columns read: cnt output columns, from ow0 (at kernel column
// kw0) for the first pixel, one further for each next pixel.
type inputRun struct{ lo, n, ow0, kw0, cnt int }

// inputRuns splits an input row into runs for the input gradient, the
// columns of each residue modulo the stride in turn.
func inputRuns(g *tensor.ConvGeom) []inputRun {
	var runs []inputRun
	for res := 0; res < min(g.Stride, g.W); res++ {
		first := len(runs)
		for iw := res; iw < g.W; iw += g.Stride {
			ow0, ow1 := readers(iw, g.Pad, g.KW, g.Stride, g.OW)
			cur := inputRun{lo: iw, n: 1, cnt: max(ow1-ow0, 0)}
			if cur.cnt > 0 {
				cur.ow0, cur.kw0 = ow0, iw+g.Pad-ow0*g.Stride
			}
			// The same first kernel column a stride further on is the next
			// output column.
			if n := len(runs); n > first {
				p := &runs[n-1]
				if p.cnt == cur.cnt && p.kw0 == cur.kw0 {
					p.n++
					continue
				}
			}
			runs = append(runs, cur)
		}
	}
	return runs
}

// readers returns the outputs [o0, o1) of a convolution axis (padding
// pad, kernel k, stride s, no outputs) whose windows read input i.
func readers(i, pad, k, s, no int) (o0, o1 int) {
	// Output o reads input i at kernel index i + pad − o·s ∈ [0, k).
	if num := i + pad - k + 1; num > 0 {
		o0 = (num + s - 1) / s
	}
	return o0, min(no, (i+pad)/s+1)
}

// taps appends the taps of the run's first pixel in input row ih of image
// n: the output pixels that read it in raster order, output-gradient
// offsets into the whole output gradient, weight offsets into the
// [KH·KW, C] weights.
func (r inputRun) taps(taps []f32.Tap, g *tensor.ConvGeom, n, ih int) []f32.Tap {
	oh0, oh1 := readers(ih, g.Pad, g.KH, g.Stride, g.OH)
	for oh := oh0; oh < oh1; oh++ {
		kh := ih + g.Pad - oh*g.Stride
		for k := 0; k < r.cnt; k++ {
			ow, kw := r.ow0+k, r.kw0-k*g.Stride
			taps = append(taps, f32.Tap{X: ((n*g.OH+oh)*g.OW + ow) * g.C, W: (kh*g.KW + kw) * g.C})
		}
	}
	return taps
}
