package autodiff

import "github.com/a2qtoolkit/a2q/tensor"

// depthwise computes a depthwise convolution (one input and one output
// channel per group) directly: lowering it to one matrix product per
// channel would run Cout products of width one.
func (t *Tape) depthwise(g *tensor.ConvGeom, x, w, b *Var) *Var {
	C := g.C
	kk := g.KH * g.KW
	xd, wd := x.Value.Data, w.Value.Data
	out := t.alloc(g.N, g.OH, g.OW, C)
	od := out.Data
	// Weights are [C, KH, KW, 1]; transpose to [KH·KW, C] so the inner loop
	// runs over contiguous channels.
	wt := make([]float32, kk*C)
	for c := 0; c < C; c++ {
		for k := 0; k < kk; k++ {
			wt[k*C+c] = wd[c*kk+k]
		}
	}
	tensor.For(t.Threads, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					o := od[((n*g.OH+oh)*g.OW+ow)*C:][:C]
					kh0, kh1, kw0, kw1 := g.Window(oh, ow)
					for kh := kh0; kh < kh1; kh++ {
						ih := oh*g.Stride - g.Pad + kh
						for kw := kw0; kw < kw1; kw++ {
							iw := ow*g.Stride - g.Pad + kw
							xi := xd[((n*g.H+ih)*g.W+iw)*C:][:C]
							wk := wt[(kh*g.KW+kw)*C:][:C]
							for c := range o {
								o[c] += xi[c] * wk[c]
							}
						}
					}
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
		gx, gw := x.grad(), w.grad()
		// Weight gradients are summed per goroutine, then reduced.
		nt := min(t.Threads, g.N)
		parts := make([][]float32, max(nt, 1))
		chunk := (g.N + len(parts) - 1) / len(parts)
		tensor.For(len(parts), len(parts), func(tlo, thi int) {
			for ti := tlo; ti < thi; ti++ {
				dwt := make([]float32, kk*C)
				for n := ti * chunk; n < min((ti+1)*chunk, g.N); n++ {
					for oh := 0; oh < g.OH; oh++ {
						for ow := 0; ow < g.OW; ow++ {
							d := dy[((n*g.OH+oh)*g.OW+ow)*C:][:C]
							kh0, kh1, kw0, kw1 := g.Window(oh, ow)
							for kh := kh0; kh < kh1; kh++ {
								ih := oh*g.Stride - g.Pad + kh
								for kw := kw0; kw < kw1; kw++ {
									iw := ow*g.Stride - g.Pad + kw
									off := ((n*g.H+ih)*g.W + iw) * C
									xi := xd[off:][:C]
									k := (kh*g.KW + kw) * C
									dk := dwt[k:][:C]
									for c := range d {
										dk[c] += d[c] * xi[c]
									}
									if gx != nil {
										gi := gx.Data[off:][:C]
										wk := wt[k:][:C]
										for c := range d {
											gi[c] += d[c] * wk[c]
										}
									}
								}
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
