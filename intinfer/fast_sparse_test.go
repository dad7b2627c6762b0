package intinfer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestTransposeBytes checks the byte-to-plane transpose of every kernel set
// against its definition, for channel counts and pixel runs with and
// without whole blocks of 16, signed and unsigned, and that nothing outside
// the planes' rows is written.
func TestTransposeBytes(t *testing.T) {
	for _, impl := range append(vecImpls(), "go") {
		for _, c := range []int{1, 3, 16, 32, 48, 64} {
			for _, n := range []int{1, 15, 16, 17, 40, 169} {
				for _, signed := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/c%d/n%d/signed=%v", impl, c, n, signed), func(t *testing.T) {
						forceVec(t, impl)
						rng := rand.New(rand.NewPCG(uint64(c), uint64(n)))
						x := make([]uint8, n*c)
						for i := range x {
							x[i] = uint8(rng.IntN(256))
						}
						ld := n + 7
						const sentinel = 0xA5
						dst := make([]uint8, c*ld)
						for i := range dst {
							dst[i] = sentinel
						}
						transposeBytes(dst, ld, x, c, signed)
						want := slices.Repeat([]uint8{sentinel}, c*ld)
						for p := 0; p < n; p++ {
							for ci := 0; ci < c; ci++ {
								v := x[p*c+ci]
								if signed {
									v = uint8(int16(int8(v)) + 128) // the int8 value + 128
								}
								want[ci*ld+p] = v
							}
						}
						if !slices.Equal(dst, want) {
							t.Fatalf("planes differ from the transposed bytes")
						}
					})
				}
			}
		}
	}
}

// TestToPlanes checks the padded planes of a chunk against their
// definition, for rows of whole 16-pixel blocks (transposed in place) and
// ragged ones (copied into bordered images first), with and without the
// vector kernels.
func TestToPlanes(t *testing.T) {
	for _, w := range []int{16, 7, 20} {
		for _, impl := range append(vecImpls(), "go") {
			forceVec(t, impl)
			const nb, chunk, h, c, pad = 2, 3, 5, 16, 1
			g := tensor.ConvGeom{N: nb, H: h, W: w, C: c, KH: 3, KW: 3, Stride: 1, Pad: pad, Groups: 1, Cout: 1}
			sr := &sparseRun{hp: h + 2*pad, wp: w + 2*pad}
			sr.ldp = chunk * sr.hp * sr.wp
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			x := make([]uint8, nb*h*w*c)
			for i := range x {
				x[i] = uint8(rng.IntN(256))
			}
			sr.planeLen = c * sr.ldp
			planes := sr.newPlanes(true)
			var buf []uint8
			sr.toPlanes(planes, x, nb, &g, true, &buf)
			for b := 0; b < nb; b++ {
				for y := 0; y < sr.hp; y++ {
					for xx := 0; xx < sr.wp; xx++ {
						for ci := 0; ci < c; ci++ {
							want := uint8(0x80) // the signed activation 0
							if iy, ix := y-pad, xx-pad; iy >= 0 && iy < h && ix >= 0 && ix < w {
								want = uint8(int16(int8(x[((b*h+iy)*w+ix)*c+ci])) + 128)
							}
							if got := planes[ci*sr.ldp+(b*sr.hp+y)*sr.wp+xx]; got != want {
								t.Fatalf("%s, width %d: image %d (%d, %d) channel %d: %d, want %d", impl, w, b, y, xx, ci, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkTransposeBytes measures the transpose of a chunk of 8 inputs of
// the reference CNN's conv2 (13×13×32 bytes each), per image.
func BenchmarkTransposeBytes(b *testing.B) {
	const n, c = 8 * 169, 32
	x := make([]uint8, n*c)
	dst := make([]uint8, c*n)
	for _, impl := range append(vecImpls(), "go") {
		b.Run(impl, func(b *testing.B) {
			old := useAVX2
			defer func() { useAVX2 = old }()
			useAVX2 = impl != "go" && cpuAVX2
			for b.Loop() {
				transposeBytes(dst, n, x, c, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/8, "ns/image")
		})
	}
}

// TestSparseNeedsTheWeights checks that the sparse kernel is never taken on
// a claim: an integer model file stores no sparse tables and no
// certificate, only weights and each layer's target P. A file whose conv
// weights were raised past what its P allows loads (the engine can show the
// overflows), but the layer leaves every narrow path for the scalar one,
// which counts the overflows the sparse kernel would have hidden.
func TestSparseNeedsTheWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	m := tinyModel(rng, tinySpec{h: 12, w: 12, cin: 8, cout: 24, k: 3, pad: 1, classes: 5, l1: 128})
	e, err := NewEngine(m, Options{Path: PathSparse, Mode: intgemm.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	if k := e.Layers()[0].Kernel; k != "sparse16" {
		t.Fatalf("certified conv runs on %q, want sparse16", k)
	}
	// Break the certificate: one channel's positive weights sum past
	// 32767/255.
	conv := m.Layers()[0]
	for i := 0; i < conv.K; i++ {
		conv.Weights[i] = 127
	}
	path := t.TempDir() + "/broken.a2qint"
	if err := Save(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err = NewEngine(back, Options{Path: PathSparse, Mode: intgemm.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	info := e.Layers()[0]
	if info.Kernel != "scalar" || info.Certified() {
		t.Fatalf("uncertified conv runs on %q (certified %v), want the scalar path", info.Kernel, info.Certified())
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 4, back, 0.9, 1)
	if r := e.Run(x, 4, false); r.Overflows[0] == 0 {
		t.Fatalf("bright inputs through the broken conv: no overflow counted")
	}
}

// TestSparsePoolTaken checks that the reference CNN's conv2 on the sparse
// kernel takes the pool inside it where the kernel can (AVX-512: one block
// holds an image's 127 positions) and says so, and runs unpooled
// otherwise: the tests of the outputs pass either way, so they would not
// notice the pooled kernel silently dropped.
func TestSparsePoolTaken(t *testing.T) {
	im, err := FromModel(calibrated(t, quant.A2QPlus, 16))
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(im, Options{Path: PathSparse, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := &e.plan.stages[1]
	if st.sp == nil {
		t.Fatalf("conv2: no sparse kernel (%v)", st.fit)
	}
	want := st.sp.kern.PoolsInKernel()
	reason := e.Layers()[1].Reason
	said := strings.Contains(reason, "inside the sparse kernel")
	if got := st.sp.pool != nil; got != want || st.pooled != want || said != want {
		t.Errorf("%s: pool in the kernel %v, stage pooled %v, reason %q; want %v (the kernel pools: %v)",
			st.sp.kern.Impl(), got, st.pooled, reason, want, want)
	}
	if want && st.sp.pool.Len() != 25 {
		t.Errorf("%d windows, want 25 (5×5)", st.sp.pool.Len())
	}
}
