//go:build !noasm

package f32

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels; tests switch it off to run the Go
// twins.
var useAVX2 = cpu.X86.HasAVX2

// The AVX2 versions of the kernels, in kernels_amd64.s: same arguments and
// results as their Go twins (addRowsGo for addRowsAVX2, and so on), for
// lengths already checked.

//go:noescape
func addRowsAVX2(m, v []float32)

//go:noescape
func reluAVX2(dst, src []float32)

//go:noescape
func reluGradAVX2(g, d, out []float32)

//go:noescape
func reluGradToAVX2(g, d, out []float32)

//go:noescape
func sumRowsAVX2(acc, m []float32)

//go:noescape
func maxPool2AVX2(c int, y []float32, arg []uint8, x0, x1 []float32)

//go:noescape
func maxPool2GradAVX2(c int, dx0, dx1, dy []float32, arg []uint8)

//go:noescape
func maxPool2GradToAVX2(c int, dx0, dx1, dy []float32, arg []uint8)

//go:noescape
func requantAVX2(out, a, scale, bias []float32)

//go:noescape
func requantGradAVX2(ds, db, ga, d, a, scale []float32)

//go:noescape
func requantGradGaAVX2(ds, db, ga, d, a, scale []float32)

//go:noescape
func requantReLUGradToAVX2(ds, db, ga, d, out, a, scale []float32)

//go:noescape
func quantizeAVX2(dst, x []float32, s, lo, hi float32)

//go:noescape
func quantizeGradAVX2(gx, d, x []float32, s, lo, hi float32, set bool) float64

//go:noescape
func requantQuantizeAVX2(xi, a, scale, bias []float32, relu bool, s, lo, hi float32)

//go:noescape
func requantQuantizeGradToAVX2(ds, db, ga, d, a, scale, bias []float32, relu bool, s, lo, hi float32) float64

//go:noescape
func depthwiseRunAVX2(out []float32, ostep int, x []float32, xstep int, w []float32, taps []Tap, n, c int, acc bool)

//go:noescape
func depthwiseGradRunAVX2(dw, d []float32, dstep int, x []float32, xstep int, taps []Tap, n, c int)

//go:noescape
func colSums64AVX2(sum, sq []float64, x []float32, rows, stride int)

//go:noescape
func batchNormSumsAVX2(sum, prod []float64, d, x, mu, invStd []float32, rows, stride int)

//go:noescape
func batchNormRowsAVX2(out, x, mu, invStd, gamma, beta []float32)

//go:noescape
func batchNormGradRowsAVX2(g, d, x, mu, invStd, a, b1, b2 []float32, acc bool)
