package f32

import (
	"math"
	"unsafe"

	"github.com/a2qtoolkit/a2q/thresh"
)

// The Go twins below define the kernels' results; the assembly versions
// reproduce them bit for bit. They assume the lengths checked by the
// exported functions. Products are converted to float32 explicitly so that
// no compiler fuses them into a multiply-add.

func addRowsGo(m, v []float32) {
	c := len(v)
	for r := 0; r+c <= len(m) && c > 0; r += c {
		row := m[r : r+c]
		for i := range row {
			row[i] += v[i]
		}
	}
}

func reluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v, 0)
	}
}

func reluGradGo(g, d, out []float32) {
	d, out = d[:len(g)], out[:len(g)]
	for i := range g {
		if out[i] > 0 {
			g[i] += d[i]
		}
	}
}

func reluGradToGo(g, d, out []float32) {
	d, out = d[:len(g)], out[:len(g)]
	for i := range g {
		v := float32(0)
		if out[i] > 0 {
			v += d[i]
		}
		g[i] = v
	}
}

func sumRowsGo(acc, m []float32) {
	c := len(acc)
	for r := 0; r+c <= len(m) && c > 0; r += c {
		row := m[r : r+c]
		for i := range acc {
			acc[i] += row[i]
		}
	}
}

func maxPool2Go(c int, y []float32, arg []uint8, x0, x1 []float32) {
	for o := 0; o < len(y)/c; o++ {
		a, b := x0[2*o*c:][:2*c], x1[2*o*c:][:2*c]
		yo, ao := y[o*c:][:c], arg[o*c:][:c]
		for j := range yo {
			m, p := a[j], uint32(0)
			m, p = keepGreater(m, p, a[c+j], 1)
			m, p = keepGreater(m, p, b[j], 2)
			m, p = keepGreater(m, p, b[c+j], 3)
			yo[j] = m
			ao[j] = uint8(p)
		}
	}
}

// keepGreater returns (v, pv) if v > m, else (m, pm), without a branch: on
// real activations the comparisons are unpredictable, and mispredictions
// cost more than the arithmetic.
func keepGreater(m float32, pm uint32, v float32, pv uint32) (float32, uint32) {
	gt := v > m
	mask := -uint32(*(*uint8)(unsafe.Pointer(&gt)))
	mb := math.Float32bits(m)&^mask | math.Float32bits(v)&mask
	return math.Float32frombits(mb), pm&^mask | pv&mask
}

func maxPool2GradGo(c int, dx0, dx1, dy []float32, arg []uint8) {
	for o := 0; o < len(dy)/c; o++ {
		a, b := dx0[2*o*c:][:2*c], dx1[2*o*c:][:2*c]
		d, p := dy[o*c:][:c], arg[o*c:][:c]
		for j, v := range d {
			switch p[j] {
			case 0:
				a[j] += v
			case 1:
				a[c+j] += v
			case 2:
				b[j] += v
			case 3:
				b[c+j] += v
			}
		}
	}
}

func maxPool2GradToGo(c int, dx0, dx1, dy []float32, arg []uint8) {
	for o := 0; o < len(dy)/c; o++ {
		a, b := dx0[2*o*c:][:2*c], dx1[2*o*c:][:2*c]
		d, p := dy[o*c:][:c], arg[o*c:][:c]
		for j, v := range d {
			a[j], a[c+j], b[j], b[c+j] = 0, 0, 0, 0
			switch p[j] {
			case 0:
				a[j] = 0 + v
			case 1:
				a[c+j] = 0 + v
			case 2:
				b[j] = 0 + v
			case 3:
				b[c+j] = 0 + v
			}
		}
	}
}

func requantGo(out, a, scale, bias []float32) {
	c := len(scale)
	for r := 0; r+c <= len(a) && c > 0; r += c {
		ar, or := a[r:r+c], out[r:r+c]
		for i, v := range ar {
			or[i] = thresh.Requant(v, scale[i], bias[i])
		}
	}
}

func requantGradGo(ds, db, ga, d, a, scale []float32) {
	c := len(scale)
	for r := 0; r+c <= len(d) && c > 0; r += c {
		dr, ar := d[r:r+c], a[r:r+c]
		if len(ga) != 0 {
			gr := ga[r : r+c]
			for i, dv := range dr {
				ds[i] += float32(dv * ar[i])
				db[i] += dv
				gr[i] += float32(dv * scale[i])
			}
		} else {
			for i, dv := range dr {
				ds[i] += float32(dv * ar[i])
				db[i] += dv
			}
		}
	}
}

func requantReLUGradToGo(ds, db, ga, d, out, a, scale []float32) {
	c := len(scale)
	for r := 0; r+c <= len(d) && c > 0; r += c {
		dr, or, ar, gr := d[r:r+c], out[r:r+c], a[r:r+c], ga[r:r+c]
		for i, v := range dr {
			dv := float32(0)
			if or[i] > 0 {
				dv += v
			}
			ds[i] += float32(dv * ar[i])
			db[i] += dv
			z := float32(0)
			gr[i] = z + float32(dv*scale[i])
		}
	}
}

func quantizeGo(dst, x []float32, s, lo, hi float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = thresh.Quantize(v, s, lo, hi)
	}
}

// quantizeGradGo keeps eight partial sums of the scale's gradient, element
// i in p[i%8], and adds them pairwise as the assembly's lanes do. The
// product of two float32 values is exact in float64, so it reads the same
// whether or not a compiler fuses it with the subtraction.
func quantizeGradGo(gx, d, x []float32, s, lo, hi float32, set bool) float64 {
	var p [8]float64
	d = d[:len(x)]
	lo, hi = lo-0.5, hi+0.5
	for i, v := range x {
		if set && len(gx) != 0 {
			gx[i] = 0
		}
		u := v / s
		if u < lo || u > hi {
			continue
		}
		if len(gx) != 0 {
			gx[i] += d[i] / s
		}
		p[i%8] -= float64(d[i]) * float64(u)
	}
	return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]))
}

func requantQuantizeGo(xi, a, scale, bias []float32, relu bool, s, lo, hi float32) {
	c := len(scale)
	for r := 0; r+c <= len(a) && c > 0; r += c {
		ar, xr := a[r:r+c], xi[r:r+c]
		for i, v := range ar {
			y := thresh.Requant(v, scale[i], bias[i])
			if relu {
				y = max(y, 0)
			}
			xr[i] = thresh.Quantize(y, s, lo, hi)
		}
	}
}

// requantQuantizeGradToGo keeps the partial sums of the scale's gradient
// by channel, p[i%8], as the assembly's lanes do.
func requantQuantizeGradToGo(ds, db, ga, d, a, scale, bias []float32, relu bool, s, lo, hi float32) float64 {
	var p [8]float64
	c := len(scale)
	lo, hi = lo-0.5, hi+0.5
	for r := 0; r+c <= len(d) && c > 0; r += c {
		dr, ar, gr := d[r:r+c], a[r:r+c], ga[r:r+c]
		for i, v := range ar {
			y := thresh.Requant(v, scale[i], bias[i])
			if relu {
				y = max(y, 0)
			}
			u := y / s
			dv := float32(0)
			if !(u < lo || u > hi) {
				p[i%8] -= float64(dr[i]) * float64(u)
				if !relu || y > 0 {
					z := float32(0)
					dv = z + dr[i]/s
				}
			}
			ds[i] += float32(dv * v)
			db[i] += dv
			z := float32(0)
			gr[i] = z + float32(dv*scale[i])
		}
	}
	return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]))
}

// depthwiseRunGo adds the taps into the output pixel one after the other,
// each over contiguous channels: every value gets its sum in tap order.
func depthwiseRunGo(out []float32, ostep int, x []float32, xstep int, w []float32, taps []Tap, n, c int, acc bool) {
	for p := 0; p < n; p++ {
		o := out[p*ostep:][:c]
		if !acc {
			clear(o)
		}
		xp := x[p*xstep:]
		for _, t := range taps {
			xt, wt := xp[t.X:][:c], w[t.W:][:c]
			for j := range o {
				o[j] += float32(xt[j] * wt[j])
			}
		}
	}
}

func depthwiseGradRunGo(dw, d []float32, dstep int, x []float32, xstep int, taps []Tap, n, c int) {
	for _, t := range taps {
		dk := dw[t.W:][:c]
		for p := 0; p < n; p++ {
			dp, xp := d[p*dstep:][:c], x[p*xstep+t.X:][:c]
			for j := range dk {
				dk[j] += float32(dp[j] * xp[j])
			}
		}
	}
}

func colSums64Go(sum, sq []float64, x []float32, rows, stride int) {
	c := len(sum)
	sq = sq[:c]
	for r := 0; r < rows; r++ {
		for i, v := range x[r*stride:][:c] {
			sum[i] += float64(v)
			sq[i] += float64(v) * float64(v)
		}
	}
}

// normalize is x̂ = (x − μ)·invStd as batch norm's kernels compute it.
func normalize(x, mu, invStd float32) float32 { return float32((x - mu) * invStd) }

func batchNormSumsGo(sum, prod []float64, d, x, mu, invStd []float32, rows, stride int) {
	c := len(sum)
	prod, mu, invStd = prod[:c], mu[:c], invStd[:c]
	for r := 0; r < rows; r++ {
		dr, xr := d[r*stride:][:c], x[r*stride:][:c]
		for i, v := range dr {
			h := normalize(xr[i], mu[i], invStd[i])
			sum[i] += float64(v)
			prod[i] += float64(v) * float64(h)
		}
	}
}

func batchNormRowsGo(out, x, mu, invStd, gamma, beta []float32) {
	c := len(mu)
	invStd, gamma, beta = invStd[:c], gamma[:c], beta[:c]
	for r := 0; r+c <= len(x) && c > 0; r += c {
		xr, or := x[r:r+c], out[r:r+c]
		for i, v := range xr {
			or[i] = float32(gamma[i]*normalize(v, mu[i], invStd[i])) + beta[i]
		}
	}
}

func batchNormGradRowsGo(g, d, x, mu, invStd, a, b1, b2 []float32, acc bool) {
	c := len(a)
	mu, invStd, b1, b2 = mu[:c], invStd[:c], b1[:c], b2[:c]
	for r := 0; r+c <= len(g) && c > 0; r += c {
		gr, dr, xr := g[r:r+c], d[r:r+c], x[r:r+c]
		for i, dv := range dr {
			h := normalize(xr[i], mu[i], invStd[i])
			v := float32(a[i] * ((dv - b1[i]) - float32(h*b2[i])))
			if acc {
				gr[i] += v
			} else {
				gr[i] = 0 + v
			}
		}
	}
}
