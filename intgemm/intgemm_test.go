package intgemm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

// impls lists the kernel implementations this machine can run; forceImpl
// selects one for the duration of a test.
// "go" is the pure-Go kernels, "avx2" the AVX2 ones, "vnni" the AVX2
// 16-bit and AVX-512 VNNI 32-bit kernels.
func impls() []string {
	s := []string{"go"}
	if cpu.X86.HasAVX2 && useAVX2 {
		s = append(s, "avx2")
		if haveVNNI {
			s = append(s, "vnni")
		}
	}
	return s
}

func forceImpl(t testing.TB, impl string) {
	oldAVX2, oldVNNI, old512 := useAVX2, useVNNI, useAVX512
	useAVX2 = impl == "avx2" || impl == "vnni"
	useVNNI = impl == "vnni"
	useAVX512 = impl == "vnni" && haveAVX512 // the AVX-512 kernel set
	t.Cleanup(func() { useAVX2, useVNNI, useAVX512 = oldAVX2, oldVNNI, old512 })
}

// refMul is the int64 oracle: C[i][j] = Σ A[i][k]·W[j][k].
func refMul(m, n, k int, a func(i, kk int) int64, w []int8) []int64 {
	c := make([]int64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int64
			for kk := 0; kk < k; kk++ {
				s += a(i, kk) * int64(w[j*k+kk])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// smallL1Weights draws n×k weights whose positive and negative parts per row
// each sum to at most 128, so that 255·q⁺ ≤ 32767 and 255·q⁻ ≤ 32768: the
// exact bound fits 16 bits for u8 activations (and for s8 ones).
func smallL1Weights(rng *rand.Rand, n, k int) []int8 {
	w := make([]int8, n*k)
	for j := 0; j < n; j++ {
		pos, neg := 128, 128
		for _, i := range rng.Perm(k) {
			if rng.IntN(2) == 0 {
				v := rng.IntN(min(127, pos) + 1)
				w[j*k+i], pos = int8(v), pos-v
			} else {
				v := rng.IntN(min(127, neg) + 1)
				w[j*k+i], neg = int8(-v), neg-v
			}
		}
	}
	return w
}

func fullWeights(rng *rand.Rand, n, k int) []int8 {
	w := make([]int8, n*k)
	for i := range w {
		w[i] = int8(rng.IntN(255) - 127)
	}
	return w
}

const guard = -0x5a5a5a5a // sentinel in the guard bands around C

// mulCase runs one product through kn with offset, strided A and C
// surrounded by guard bands, and checks C against the oracle and the guards.
func mulCase(t *testing.T, kn *Kernel, rng *rand.Rand, m int, signed bool, threads int, w []int8) {
	t.Helper()
	n, k := kn.N(), kn.K()
	lda, ldc := k+rng.IntN(5), n+rng.IntN(5)
	const off = 7
	abuf := make([]uint8, off+max(0, (m-1)*lda+k)+off)
	for i := range abuf {
		abuf[i] = uint8(rng.IntN(256))
	}
	asave := slices.Clone(abuf)
	wsave := slices.Clone(w)
	a := abuf[off : len(abuf)-off]
	if rng.IntN(2) == 0 {
		// Random bytes after the last row, which the kernels may read
		// in place of copying the last row block (MulU8).
		a = abuf[off:]
	}
	cbuf := make([]int32, off+max(0, (m-1)*ldc+n)+off)
	for i := range cbuf {
		cbuf[i] = guard
	}
	c := cbuf[off : len(cbuf)-off]
	var want []int64
	if signed {
		want = refMul(m, n, k, func(i, kk int) int64 { return int64(int8(a[i*lda+kk])) }, w)
		kn.MulS8(threads, m, asInt8(a), lda, c, ldc)
	} else {
		want = refMul(m, n, k, func(i, kk int) int64 { return int64(a[i*lda+kk]) }, w)
		kn.MulU8(threads, m, a, lda, c, ldc)
	}
	for i := range cbuf {
		inside := i >= off && i < len(cbuf)-off && (i-off)%ldc < n
		if inside {
			ii, j := (i-off)/ldc, (i-off)%ldc
			if int64(c[ii*ldc+j]) != want[ii*n+j] {
				t.Fatalf("m=%d n=%d k=%d signed=%v threads=%d: C[%d][%d] = %d, want %d",
					m, n, k, signed, threads, ii, j, c[ii*ldc+j], want[ii*n+j])
			}
		} else if cbuf[i] != guard {
			t.Fatalf("m=%d n=%d k=%d signed=%v: wrote outside C at buffer index %d", m, n, k, signed, i)
		}
	}
	if !slices.Equal(abuf, asave) || !slices.Equal(w, wsave) {
		t.Fatalf("m=%d n=%d k=%d: inputs modified", m, n, k)
	}
}

func asInt8(a []uint8) []int8 {
	out := make([]int8, len(a))
	for i, v := range a {
		out[i] = int8(v)
	}
	return out
}

type shape struct{ m, n, k int }

func testShapes(rng *rand.Rand) []shape {
	s := []shape{
		{1, 1, 1}, {3, 4, 32}, {3, 4, 16}, {2, 3, 1}, {4, 5, 33}, {6, 8, 64}, {7, 9, 31},
		{70, 70, 70}, {1, 70, 69}, {69, 1, 70}, {5, 64, 288}, {130, 64, 288}, {37, 10, 1600},
		{9, 13, 500}, {13, 130, 45}, {12, 64, 8}, {18, 128, 100},
		{12, 32, 12}, {20, 48, 36}, {13, 80, 20}, {7, 90, 8}, // whole narrow panels after the wide ones
	}
	for range 40 {
		s = append(s, shape{1 + rng.IntN(70), 1 + rng.IntN(70), 1 + rng.IntN(70)})
	}
	return s
}

// TestMulAgreesSmallL1 checks that the 16-bit and 32-bit paths, in assembly
// and in Go, all give the exact products on data that meets the 16-bit bound.
func TestMulAgreesSmallL1(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range testShapes(rng) {
		w := smallL1Weights(rng, sh.n, sh.k)
		for _, acc := range []Acc{Acc16, Acc32} {
			kn, err := NewKernel(w, sh.n, sh.k, acc, 16)
			if err != nil {
				t.Fatalf("%+v %v: %v", sh, acc, err)
			}
			if kn.Path(false) != acc || kn.Path(true) != acc {
				t.Fatalf("%+v: kernel for %v takes paths %v/%v", sh, acc, kn.Path(false), kn.Path(true))
			}
			for _, impl := range impls() {
				t.Run(fmt.Sprintf("%s/%v/%dx%dx%d", impl, acc, sh.m, sh.n, sh.k), func(t *testing.T) {
					forceImpl(t, impl)
					for _, signed := range []bool{false, true} {
						mulCase(t, kn, rng, sh.m, signed, 1+rng.IntN(3), w)
					}
				})
			}
		}
	}
}

// TestAcc16Extremes puts the partial sums at the ends of the int16 range.
func TestAcc16Extremes(t *testing.T) {
	const n, k = 5, 70
	w := make([]int8, n*k)
	w[0*k+0], w[0*k+1] = 127, 1 // 255·128 = 32640, one pair
	w[1*k+3], w[1*k+40] = -127, -1
	w[2*k+68], w[2*k+69] = 64, 64
	for i := 0; i < 64; i++ { // q⁺ = 128 spread over every lane
		w[3*k+i] = 2
	}
	w[4*k+2], w[4*k+33] = 127, -127
	kn, err := NewKernel(w, n, k, Acc16, 16)
	if err != nil {
		t.Fatal(err)
	}
	if kn.AccBits(false) != 16 {
		t.Fatalf("AccBits(u8) = %d, want 16", kn.AccBits(false))
	}
	for _, impl := range impls() {
		t.Run(impl, func(t *testing.T) {
			forceImpl(t, impl)
			for _, fill := range []uint8{255, 0, 1, 128} {
				m := 4
				a := make([]uint8, m*k)
				for i := range a {
					a[i] = fill
				}
				c := make([]int32, m*n)
				kn.MulU8(1, m, a, k, c, n)
				want := refMul(m, n, k, func(i, kk int) int64 { return int64(a[i*k+kk]) }, w)
				for i := range c {
					if int64(c[i]) != want[i] {
						t.Fatalf("u8 fill %d: C[%d] = %d, want %d", fill, i, c[i], want[i])
					}
				}
				as := asInt8(a) // 255 → -1, 128 → -128
				kn.MulS8(1, m, as, k, c, n)
				want = refMul(m, n, k, func(i, kk int) int64 { return int64(as[i*k+kk]) }, w)
				for i := range c {
					if int64(c[i]) != want[i] {
						t.Fatalf("s8 fill %d: C[%d] = %d, want %d", int8(fill), i, c[i], want[i])
					}
				}
			}
		})
	}
}

// TestAcc32FullRange checks the 32-bit path against the int64 oracle on
// full-range weights and activations, including sums far outside int16.
func TestAcc32FullRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := append(testShapes(rng), shape{7, 5, 4000}, shape{4, 12, 66000})
	for _, sh := range shapes {
		w := fullWeights(rng, sh.n, sh.k)
		kn, err := NewKernel(w, sh.n, sh.k, Acc32, 32)
		if err != nil {
			t.Fatalf("%+v: %v", sh, err)
		}
		for _, impl := range impls() {
			t.Run(fmt.Sprintf("%s/%dx%dx%d", impl, sh.m, sh.n, sh.k), func(t *testing.T) {
				forceImpl(t, impl)
				for _, signed := range []bool{false, true} {
					mulCase(t, kn, rng, sh.m, signed, 1+rng.IntN(3), w)
				}
			})
		}
	}
}

// TestAcc32AllMax drives every product to its extreme.
func TestAcc32AllMax(t *testing.T) {
	const m, n, k = 3, 4, 4096
	w := make([]int8, n*k)
	for i := range w {
		w[i] = []int8{127, -127, 127, -127}[i/k]
	}
	kn, err := NewKernel(w, n, k, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, impl := range impls() {
		forceImpl(t, impl)
		a := make([]uint8, m*k)
		for i := range a {
			a[i] = 255
		}
		c := make([]int32, m*n)
		kn.MulU8(1, m, a, k, c, n)
		if c[0] != 255*127*k || c[1] != -255*127*k {
			t.Errorf("%s u8: got %d %d, want ±%d", impl, c[0], c[1], 255*127*k)
		}
		as := make([]int8, m*k)
		for i := range as {
			as[i] = -128
		}
		kn.MulS8(1, m, as, k, c, n)
		if c[0] != -128*127*k || c[1] != 128*127*k {
			t.Errorf("%s s8: got %d %d, want ∓%d", impl, c[0], c[1], 128*127*k)
		}
	}
}

// TestAcc16Refused checks that the 16-bit path is never taken for weights
// or certificates that do not allow it.
func TestAcc16Refused(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	full := fullWeights(rng, 8, 288)
	tests := []struct {
		name      string
		w         []int8
		n, k      int
		certified int
		wantErr   string
	}{
		{"certificate too wide", smallL1Weights(rng, 4, 64), 4, 64, 19, "certificate needs 19-bit accumulator; the 16-bit path requires ≤ 16"},
		{"certificate 17", smallL1Weights(rng, 4, 64), 4, 64, 17, "17-bit"},
		{"wrong certificate", full, 8, 288, 16, "weights need"},
		{"zero bits", smallL1Weights(rng, 4, 64), 4, 64, 0, "not positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kn, err := NewKernel(tc.w, tc.n, tc.k, Acc16, tc.certified)
			if err == nil {
				t.Fatalf("NewKernel accepted Acc16 (paths %v/%v)", kn.Path(false), kn.Path(true))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
			if tc.certified > 0 && !errors.Is(err, ErrNotCertified) {
				t.Fatalf("error %q does not wrap ErrNotCertified", err)
			}
		})
	}

	// Weights certified for signed inputs only (q⁺ = 200: 17 bits with u8,
	// 16 with s8): the kernel is accepted but never runs the 16-bit lanes,
	// where a = 255 would saturate the first pair (255·200 > 32767).
	const n, k = 4, 64
	w := make([]int8, n*k)
	for j := 0; j < n; j++ {
		w[j*k], w[j*k+1] = 100, 100
	}
	kn, err := NewKernel(w, n, k, Acc16, 16)
	if err != nil {
		t.Fatalf("NewKernel: %v", err)
	}
	if kn.AccBits(false) != 17 || kn.AccBits(true) != 16 {
		t.Fatalf("AccBits = %d/%d, want 17/16", kn.AccBits(false), kn.AccBits(true))
	}
	if kn.Path(false) != Acc32 || kn.Path(true) != Acc32 {
		t.Fatalf("paths %v/%v, want acc32 for both", kn.Path(false), kn.Path(true))
	}
	for _, impl := range impls() {
		forceImpl(t, impl)
		a := make([]uint8, 3*k)
		for i := range a {
			a[i] = 255
		}
		c := make([]int32, 3*n)
		kn.MulU8(2, 3, a, k, c, n)
		for i, v := range c {
			if v != 51000 {
				t.Fatalf("%s: C[%d] = %d, want 51000", impl, i, v)
			}
		}
	}
}

func TestNewKernelErrors(t *testing.T) {
	tests := []struct {
		name    string
		w       []int8
		n, k    int
		acc     Acc
		wantErr string
	}{
		{"short weights", make([]int8, 5), 2, 3, Acc32, "want n·k"},
		{"minus 128", []int8{0, 1, -128, 4}, 2, 2, Acc32, "weight [1][0] = -128"},
		{"bad acc", make([]int8, 4), 2, 2, Acc(7), "unknown accumulator"},
		{"negative", nil, -1, 2, Acc32, "negative shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKernel(tc.w, tc.n, tc.k, tc.acc, 32)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestMulPanics(t *testing.T) {
	kn, err := NewKernel(make([]int8, 3*5), 3, 5, Acc32, 32)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		m, la     int
		lda, lc   int
		ldc       int
		wantPanic string
	}{
		{"lda", 2, 100, 4, 100, 3, "lda < k"},
		{"ldc", 2, 100, 5, 100, 2, "ldc < n"},
		{"short a", 2, 9, 5, 100, 3, "activation slice too short"},
		{"short c", 2, 100, 5, 5, 3, "output slice too short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.wantPanic) {
					t.Fatalf("panic %v, want %q", r, tc.wantPanic)
				}
			}()
			kn.MulU8(1, tc.m, make([]uint8, tc.la), tc.lda, make([]int32, tc.lc), tc.ldc)
		})
	}
}

func TestZeroSizes(t *testing.T) {
	kn, err := NewKernel(nil, 3, 0, Acc16, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := []int32{9, 9, 9, 9}
	kn.MulU8(1, 1, nil, 0, c, 3)
	if !slices.Equal(c, []int32{0, 0, 0, 9}) {
		t.Fatalf("k = 0: C = %v, want zeros then the untouched 9", c)
	}
	kn.MulU8(1, 0, nil, 0, nil, 3) // m = 0 touches nothing
}

func TestImplAndPreferred(t *testing.T) {
	w := []int8{1, -2, 3, 4}
	kn16, err := NewKernel(w, 2, 2, Acc16, 16)
	if err != nil {
		t.Fatal(err)
	}
	kn32, err := NewKernel(w, 2, 2, Acc32, 16)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		impl       string
		want16     string
		want32     string
		preferred  Acc // for a 16-bit certificate
		preferred2 Acc // for a 17-bit one
	}{
		{"go", "go-int16", "go-int32", Acc16, Acc32},
		{"avx2", "avx2-int16", "avx2-int32", Acc16, Acc32},
		{"vnni", "avx2-int16", "avx512vnni-int32", Acc32, Acc32},
	}
	for _, tc := range tests {
		if !slices.Contains(impls(), tc.impl) {
			continue
		}
		t.Run(tc.impl, func(t *testing.T) {
			forceImpl(t, tc.impl)
			if got := kn16.Impl(false); got != tc.want16 {
				t.Errorf("Acc16 kernel runs %s, want %s", got, tc.want16)
			}
			if got := kn32.Impl(true); got != tc.want32 {
				t.Errorf("Acc32 kernel runs %s, want %s", got, tc.want32)
			}
			if got := Preferred(16); got != tc.preferred {
				t.Errorf("Preferred(16) = %v, want %v", got, tc.preferred)
			}
			if got := Preferred(17); got != tc.preferred2 {
				t.Errorf("Preferred(17) = %v, want %v", got, tc.preferred2)
			}
		})
	}
}
