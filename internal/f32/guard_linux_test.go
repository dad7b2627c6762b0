package f32

import (
	"syscall"
	"testing"
	"unsafe"
)

// pageEnd returns n float32s that end where an inaccessible page begins,
// so that a kernel reading or writing past them faults.
func pageEnd(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	s := unsafe.Slice((*float32)(unsafe.Pointer(&mem[page-4*n])), n)
	for i := range s {
		s[i] = float32(i%5) - 2
	}
	return s
}

// TestPageEnd runs the quantizer kernels, whose tails use masked loads and
// stores, on slices that end at an inaccessible page.
func TestPageEnd(t *testing.T) {
	for _, avx := range paths() {
		use(t, avx)
		for n := 1; n <= 17; n++ {
			x, d, gx, dst := pageEnd(t, n), pageEnd(t, n), pageEnd(t, n), pageEnd(t, n)
			Quantize(dst, x, 0.5, -2, 1)
			QuantizeGrad(gx, d, x, 0.5, -2, 1)
			QuantizeGrad(nil, d, x, 0.5, -2, 1)
		}
	}
}

// TestPageEndConvNorm runs the depthwise and batch-norm kernels, whose
// tails are scalar, on slices that end at an inaccessible page.
func TestPageEndConvNorm(t *testing.T) {
	for _, avx := range paths() {
		use(t, avx)
		for c := 1; c <= 41; c++ {
			x, w, out, dw := pageEnd(t, 2*c), pageEnd(t, c), pageEnd(t, 2*c), pageEnd(t, c)
			taps := []Tap{{X: 0, W: 0}, {X: c, W: 0}}
			DepthwiseRun(out, c, x, 0, w, taps, 2, c, true)
			DepthwiseGradRun(dw, out, c, x, c, taps[:1], 2, c)
			v, h, g := pageEnd(t, c), pageEnd(t, 2*c), pageEnd(t, 2*c)
			BatchNormRows(g, h, v, v, v, v)
			BatchNormGradRows(g, out, h, v, v, v, v, v, true)
			BatchNormGradRows(g, out, h, v, v, v, v, v, false)
			s, p := make([]float64, c), make([]float64, c)
			ColSums64(s, p, x, 2, c)
			BatchNormSums(s, p, out, h, v, v, 2, c)
		}
	}
}
