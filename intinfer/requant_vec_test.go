package intinfer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// vecLayer builds a layer of cout channels with random positive scales and
// biases, OutBits-bit outputs, thresholds from Thresholds for the next
// layer's input scale s, and its requant for accumulators in [amin, amax].
func vecLayer(rng *rand.Rand, cout, bits int, signed, relu bool, amin, amax int32) (*Layer, *Layer, requant) {
	lo, hi := levels(bits, signed)
	n := int(hi - lo)
	l := &Layer{OutC: cout, OutBits: bits, OutSigned: signed, Scale: make([]float32, cout), Bias: make([]float32, cout),
		Thresholds: make([]int64, cout*n)}
	next := &Layer{InputScale: float32(math.Exp2(-3 - 4*rng.Float64()))}
	for c := range cout {
		l.Scale[c] = float32(math.Exp2(-12 - 6*rng.Float64()))
		l.Bias[c] = float32(rng.NormFloat64()) * 0.5
		Thresholds(l.Scale[c], l.Bias[c], next.InputScale, lo, hi, l.Thresholds[c*n:(c+1)*n])
	}
	lr := &layerRun{l: l, tsize: n + 1, outLo: lo}
	lr.thr32 = make([]int32, cout*(n+1))
	lr.guess = make([]thrGuess, cout)
	for c := range cout {
		row := lr.thr32[c*(n+1) : (c+1)*(n+1)]
		for i, t := range l.Thresholds[c*n : (c+1)*n] {
			row[i] = int32(min(max(t, int64(amin)), int64(amax)+1))
		}
		row[n] = amax + 1
		lr.guess[c] = fitGuess(row[:n], amin, amax+1)
	}
	return l, next, newRequant(lr, next, relu, amin, amax)
}

// TestVecRequant checks the vector kernel against the thresholds' binary
// search on random accumulators, pooled over four rows, for unsigned and
// signed outputs of 2 to 8 bits, with and without a ReLU floor, and for
// channel counts that leave a masked tail.
func TestVecRequant(t *testing.T) {
	if len(vecImpls()) == 0 {
		t.Skip("no vector kernels on this CPU (or a noasm build): the bucket tables requantise")
	}
	for _, impl := range vecImpls() {
		t.Run(impl, func(t *testing.T) {
			forceVec(t, impl)
			testVecRequant(t)
		})
	}
}

func testVecRequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for trial := range 60 {
		cout := 1 + rng.IntN(70)
		bits := 2 + rng.IntN(7)
		signed, relu := trial%3 == 1, trial%2 == 1
		amin, amax := int32(-1<<15-rng.IntN(1<<18)), int32(1<<15+rng.IntN(1<<18))
		_, _, q := vecLayer(rng, cout, bits, signed, relu, amin, amax)
		if q.vec == nil {
			t.Fatalf("trial %d: the float form of a threshold layer was not verified", trial)
		}
		rows := make([][]int32, 4)
		for i := range rows {
			rows[i] = make([]int32, cout)
		}
		got := make([]uint8, cout)
		for range 200 {
			for _, r := range rows {
				for c := range r {
					r[c] = amin + int32(rng.Int64N(int64(amax-amin)+1))
				}
			}
			q.span(got, rows[0], rows[1], rows[2], rows[3])
			for c := range cout {
				v := max(rows[0][c], rows[1][c], rows[2][c], rows[3][c])
				if want := q.level(c, v); got[c] != want {
					t.Fatalf("trial %d (%d bits, signed %v, relu %v): channel %d, acc %d: kernel %d, thresholds %d",
						trial, bits, signed, relu, c, v, int8(got[c]), int8(want))
				}
			}
		}
		// A 2×2 max pool over an h×w accumulator image, a row of output
		// pixels per call.
		h, w := 2+rng.IntN(5), 2+rng.IntN(9)
		img := make([]int32, h*w*cout)
		for i := range img {
			img[i] = amin + int32(rng.Int64N(int64(amax-amin)+1))
		}
		oh, ow := h/2, w/2
		out := make([]uint8, oh*ow*cout)
		poolRequant(1, h, w, cout, 2, 2, img, out, &q)
		for i := range oh {
			for j := range ow {
				for c := range cout {
					at := func(di, dj int) int32 { return img[((2*i+di)*w+2*j+dj)*cout+c] }
					v := max(at(0, 0), at(0, 1), at(1, 0), at(1, 1))
					if got, want := out[(i*ow+j)*cout+c], q.level(c, v); got != want {
						t.Fatalf("trial %d: pooled pixel (%d, %d) channel %d of %d: kernel %d, thresholds %d", trial, i, j, c, cout, int8(got), int8(want))
					}
				}
			}
		}
	}
}

// TestVecRequantRefuses checks that a float form that disagrees with the
// thresholds anywhere in the range is refused: a threshold moved by one
// is caught. The fused form may take such thresholds only with the
// corrections that give the moved levels.
func TestVecRequantRefuses(t *testing.T) {
	if len(vecImpls()) == 0 {
		t.Skip("no vector kernels on this CPU (or a noasm build)")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	l, next, q := vecLayer(rng, 20, 8, false, true, -1<<16, 1<<16)
	if q.vec == nil {
		t.Fatal("the unmodified layer was not verified")
	}
	n := q.n
	moved := 0
	for c := range l.OutC {
		for i := n / 2; i < n; i++ {
			tv := &q.t[c*(n+1)+i]
			if *tv > -1<<16 && *tv <= 1<<16 {
				*tv++
				moved++
				break
			}
		}
	}
	if moved == 0 {
		t.Fatal("no threshold inside the range to move")
	}
	v := newVecRequant(&q, l, next, -1<<16, 1<<16)
	if v != nil && v.fma == nil {
		t.Error("a float form that differs from the thresholds at one accumulator was accepted")
	}
	four := &vecRequant{scale: l.Scale, bias: l.Bias, div: next.InputScale, lo: 0, hi: 255}
	if four.verify(&q, -1<<16, 1<<16) {
		t.Error("the four-operation form was verified against moved thresholds")
	}
	if v != nil {
		// The fused form, corrected where the thresholds moved, must give
		// the moved levels everywhere.
		x := q.critical(-1<<16, 1<<16)
		got := make([]uint8, len(x))
		v.run(got, x, l.OutC, len(x)/l.OutC, l.OutC, [4]int{})
		if !q.matches(x, got) {
			t.Error("the fused form accepted for moved thresholds misses them")
		}
	}
}

// BenchmarkPoolRequant times the reference CNN's first requantisation: a
// 2×2 max pool and the vector map over one image's 26×26×32 accumulators,
// to 13×13×32 bytes.
func BenchmarkPoolRequant(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	const h, w, c = 26, 26, 32
	_, _, q := vecLayer(rng, c, 8, false, true, -1<<18, 1<<18)
	if q.vec == nil {
		b.Skip("no vector requantisation on this CPU")
	}
	acc := make([]int32, h*w*c)
	for i := range acc {
		acc[i] = int32(rng.IntN(1<<19)) - 1<<18
	}
	out := make([]uint8, h/2*w/2*c)
	b.SetBytes(int64(len(acc) * 4))
	for b.Loop() {
		poolRequant(1, h, w, c, 2, 2, acc, out, &q)
	}
}
