package intinfer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
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
						const sentinel = -12345
						dst := make([]int16, c*ld)
						for i := range dst {
							dst[i] = sentinel
						}
						transposeBytes(dst, ld, x, c, signed)
						want := slices.Repeat([]int16{sentinel}, c*ld)
						for p := 0; p < n; p++ {
							for ci := 0; ci < c; ci++ {
								v := int16(x[p*c+ci])
								if signed {
									v = int16(int8(x[p*c+ci]))
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

// BenchmarkTransposeBytes measures the transpose of a chunk of 8 inputs of
// the reference CNN's conv2 (13×13×32 bytes each), per image.
func BenchmarkTransposeBytes(b *testing.B) {
	const n, c = 8 * 169, 32
	x := make([]uint8, n*c)
	dst := make([]int16, c*n)
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
