//go:build !amd64 || noasm

package f32

// useAVX2 is false: this build has no assembly kernels, and the names
// below run the Go twins.
var useAVX2 = false

func addRowsAVX2(m, v []float32)       { addRowsGo(m, v) }
func reluAVX2(dst, src []float32)      { reluGo(dst, src) }
func reluGradAVX2(g, d, out []float32) { reluGradGo(g, d, out) }

func reluGradToAVX2(g, d, out []float32) { reluGradToGo(g, d, out) }
func sumRowsAVX2(acc, m []float32)       { sumRowsGo(acc, m) }

func maxPool2AVX2(c int, y []float32, arg []uint8, x0, x1 []float32) {
	maxPool2Go(c, y, arg, x0, x1)
}

func maxPool2GradAVX2(c int, dx0, dx1, dy []float32, arg []uint8) {
	maxPool2GradGo(c, dx0, dx1, dy, arg)
}

func maxPool2GradToAVX2(c int, dx0, dx1, dy []float32, arg []uint8) {
	maxPool2GradToGo(c, dx0, dx1, dy, arg)
}

func requantAVX2(out, a, scale, bias []float32) { requantGo(out, a, scale, bias) }

func requantGradAVX2(ds, db, ga, d, a, scale []float32) {
	requantGradGo(ds, db, ga, d, a, scale)
}

func requantGradGaAVX2(ds, db, ga, d, a, scale []float32) {
	requantGradGo(ds, db, ga, d, a, scale)
}

func quantizeAVX2(dst, x []float32, s, lo, hi float32) { quantizeGo(dst, x, s, lo, hi) }

func quantizeGradAVX2(gx, d, x []float32, s, lo, hi float32, set bool) float64 {
	return quantizeGradGo(gx, d, x, s, lo, hi, set)
}

func depthwiseRunAVX2(out []float32, ostep int, x []float32, xstep int, w []float32, taps []Tap, n, c int, acc bool) {
	depthwiseRunGo(out, ostep, x, xstep, w, taps, n, c, acc)
}

func depthwiseGradRunAVX2(dw, d []float32, dstep int, x []float32, xstep int, taps []Tap, n, c int) {
	depthwiseGradRunGo(dw, d, dstep, x, xstep, taps, n, c)
}

func colSums64AVX2(sum, sq []float64, x []float32, rows, stride int) {
	colSums64Go(sum, sq, x, rows, stride)
}

func batchNormSumsAVX2(sum, prod []float64, d, x, mu, invStd []float32, rows, stride int) {
	batchNormSumsGo(sum, prod, d, x, mu, invStd, rows, stride)
}

func batchNormRowsAVX2(out, x, mu, invStd, gamma, beta []float32) {
	batchNormRowsGo(out, x, mu, invStd, gamma, beta)
}

func batchNormGradRowsAVX2(g, d, x, mu, invStd, a, b1, b2 []float32, acc bool) {
	batchNormGradRowsGo(g, d, x, mu, invStd, a, b1, b2, acc)
}

func requantReLUGradToAVX2(ds, db, ga, d, out, a, scale []float32) {
	requantReLUGradToGo(ds, db, ga, d, out, a, scale)
}

func requantQuantizeAVX2(xi, a, scale, bias []float32, relu bool, s, lo, hi float32) {
	requantQuantizeGo(xi, a, scale, bias, relu, s, lo, hi)
}

func requantQuantizeGradToAVX2(ds, db, ga, d, a, scale, bias []float32, relu bool, s, lo, hi float32) float64 {
	return requantQuantizeGradToGo(ds, db, ga, d, a, scale, bias, relu, s, lo, hi)
}
