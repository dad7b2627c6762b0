package accum

import "testing"

// benchLayer returns the weights of a 3×3 convolution with 256 input and
// 256 output channels (K = 2304), 8-bit, 90 % zeros.
func benchLayer() ([]int32, int, int) {
	const oc, k = 256, 2304
	rng := newRand(9)
	w := make([]int32, oc*k)
	for i := range w {
		if rng.IntN(10) == 0 {
			w[i] = rng.Int32N(255) - 127
		}
	}
	return w, oc, k
}

func BenchmarkCertify(b *testing.B) {
	w, oc, k := benchLayer()
	l := Layer{Name: "conv", Weights: w, OutChannels: oc, K: k, InputBits: 8, WeightBits: 8, TargetBits: 16,
		Bias: make([]int64, oc)}
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		if _, err := Certify(l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExactRange(b *testing.B) {
	w, oc, k := benchLayer()
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		ExactRange(w, oc, k, 8, false)
	}
}

func BenchmarkTiledBits64(b *testing.B) {
	w, oc, k := benchLayer()
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		TiledBits(w, oc, k, 64, 8, false)
	}
}

func BenchmarkA2QBudget(b *testing.B) {
	for b.Loop() {
		A2QBudget(16, 8, false)
	}
}

func BenchmarkA2QPlusBudget(b *testing.B) {
	for b.Loop() {
		A2QPlusBudget(16, 8)
	}
}

func BenchmarkL1BitsFloat(b *testing.B) {
	for b.Loop() {
		L1Bits(127.5, 8, false)
	}
}
