package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refEntropy computes H = log2 n − (1/n)·Σ_v c_v·log2 c_v with a plain
// quadratic count, independently of Histogram.
func refEntropy(q []int32) float64 {
	n := float64(len(q))
	seen := map[int]bool{}
	var s float64
	for i, v := range q {
		if seen[i] {
			continue
		}
		c := 0
		for j := i; j < len(q); j++ {
			if q[j] == v {
				c++
				seen[j] = true
			}
		}
		s += float64(c) * math.Log2(float64(c))
	}
	return math.Log2(n) - s/n
}

func TestSparsity(t *testing.T) {
	tests := []struct {
		q    []int32
		want float64
	}{
		{nil, 0}, {[]int32{0}, 1}, {[]int32{1}, 0}, {[]int32{0, 1, 0, -1}, 0.5}, {[]int32{3, 0, 0, 0, 0}, 0.8},
	}
	for _, tt := range tests {
		if got := Sparsity(tt.q); got != tt.want {
			t.Errorf("Sparsity(%v) = %v, want %v", tt.q, got, tt.want)
		}
		h := histogram(tt.q)
		if got := h.Sparsity(); got != tt.want {
			t.Errorf("Histogram(%v).Sparsity() = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestEntropy(t *testing.T) {
	uniform := func(k int) []int32 {
		q := make([]int32, 1<<k)
		for i := range q {
			q[i] = int32(i) - 1<<(k-1)
		}
		return q
	}
	tests := []struct {
		name string
		q    []int32
		want float64
	}{
		{"empty", nil, 0},
		{"constant", []int32{5, 5, 5}, 0},
		{"two equiprobable", []int32{-1, 1}, 1},
		{"uniform 3 bits", uniform(3), 3},
		{"uniform 8 bits", uniform(8), 8},
		// p = 1/4, 3/4: −(1/4)log2(1/4) − (3/4)log2(3/4) = 2 − (3/4)·log2 3.
		{"quarter", []int32{0, 0, 0, 7}, 2 - 0.75*math.Log2(3)},
	}
	for _, tt := range tests {
		if got := Entropy(tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Entropy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEntropyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 100 {
		n := 1 + rng.IntN(500)
		m := 2 + rng.IntN(7)
		wm := int32(1)<<(m-1) - 1
		q := make([]int32, n)
		for i := range q {
			if rng.IntN(2) == 0 { // sparse, peaked like trained weights
				q[i] = rng.Int32N(2*wm+1) - wm
			}
		}
		e := Entropy(q)
		if want := refEntropy(q); math.Abs(e-want) > 1e-9 {
			t.Fatalf("trial %d: Entropy = %v, want %v", trial, e, want)
		}
		if e < 0 || e > float64(m) {
			t.Fatalf("trial %d: entropy %v outside [0, M=%d]", trial, e, m)
		}
		// The order of the weights does not change the result, to the bit.
		p := append([]int32(nil), q...)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		if Entropy(p) != e {
			t.Fatalf("trial %d: entropy depends on order: %v vs %v", trial, Entropy(p), e)
		}
		if got, want := CompressionRate(q, m), float64(m)/e; e > 0 && got != want {
			t.Fatalf("trial %d: CompressionRate = %v, want %v", trial, got, want)
		}
	}
}

func TestHistogramLayers(t *testing.T) {
	a := []int32{0, 0, 1, -1, 3}
	b := []int32{0, 2, 2, 0, 0, 0, -3}
	var h Histogram
	h.Add(a)
	h.Add(b)
	all := append(append([]int32(nil), a...), b...)
	if h.Total() != int64(len(all)) || h.Count(0) != 6 || h.Count(2) != 2 || h.Count(9) != 0 {
		t.Errorf("counts: total %d, zeros %d, twos %d", h.Total(), h.Count(0), h.Count(2))
	}
	if h.Sparsity() != Sparsity(all) {
		t.Errorf("Sparsity over layers %v, over concatenation %v", h.Sparsity(), Sparsity(all))
	}
	if math.Abs(h.Entropy()-refEntropy(all)) > 1e-12 {
		t.Errorf("Entropy over layers %v, want %v", h.Entropy(), refEntropy(all))
	}
	var empty Histogram
	if empty.Sparsity() != 0 || empty.Entropy() != 0 || !math.IsInf(empty.CompressionRate(8), 1) {
		t.Errorf("empty histogram: %v %v %v", empty.Sparsity(), empty.Entropy(), empty.CompressionRate(8))
	}
}

func TestCompressionRate(t *testing.T) {
	tests := []struct {
		name string
		q    []int32
		m    int
		want float64
	}{
		{"dead layer", []int32{0, 0, 0}, 8, math.Inf(1)},
		{"one bit of entropy", []int32{0, 1, 0, 1}, 8, 8},
		{"two bits of entropy", []int32{0, 1, 2, 3}, 4, 2},
	}
	for _, tt := range tests {
		if got := CompressionRate(tt.q, tt.m); got != tt.want {
			t.Errorf("%s: CompressionRate = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPSNR(t *testing.T) {
	target := []float32{0, 0.25, 0.5, 1}
	off := make([]float32, len(target))
	for i, v := range target {
		off[i] = v + 0.125 // MSE = 1/64, exact in binary
	}
	tests := []struct {
		name      string
		pred, tgt []float32
		peak      float64
		want      float64
	}{
		{"identical", target, target, 1, math.Inf(1)},
		{"offset peak 1", off, target, 1, 10 * math.Log10(64)},
		{"offset peak 255", off, target, 255, 10 * math.Log10(255*255*64)},
		{"single pixel", []float32{3}, []float32{1}, 2, 0},
	}
	for _, tt := range tests {
		if got := PSNR(tt.pred, tt.tgt, tt.peak); math.Abs(got-tt.want) > 1e-9 && got != tt.want {
			t.Errorf("%s: PSNR = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !math.IsNaN(PSNR(nil, nil, 1)) {
		t.Error("PSNR of empty images is not NaN")
	}
}

func TestAccuracyAndShare(t *testing.T) {
	tests := []struct {
		pred, labels []int
		want         float64
	}{
		{[]int{1}, []int{1}, 1}, {[]int{1}, []int{2}, 0}, {[]int{0, 1, 2, 3}, []int{0, 1, 0, 0}, 0.5},
	}
	for _, tt := range tests {
		if got := Accuracy(tt.pred, tt.labels); got != tt.want {
			t.Errorf("Accuracy(%v, %v) = %v, want %v", tt.pred, tt.labels, got, tt.want)
		}
	}
	if !math.IsNaN(Accuracy(nil, nil)) {
		t.Error("Accuracy of nothing is not NaN")
	}
	if got := ShareOfFloat(30.56, 31.03); math.Abs(got-30.56/31.03) > 1e-15 || got >= 1 {
		t.Errorf("ShareOfFloat = %v", got)
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"PSNR lengths", func() { PSNR([]float32{1}, nil, 1) }},
		{"PSNR peak", func() { PSNR([]float32{1}, []float32{1}, 0) }},
		{"PSNR NaN peak", func() { PSNR([]float32{1}, []float32{1}, math.NaN()) }},
		{"Accuracy lengths", func() { Accuracy([]int{1}, nil) }},
		{"CompressionRate m=0", func() { CompressionRate([]int32{1, 2}, 0) }},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tt.name)
				}
			}()
			tt.f()
		}()
	}
}

func BenchmarkEntropy(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	q := make([]int32, 1<<20)
	for i := range q {
		if rng.IntN(10) == 0 {
			q[i] = rng.Int32N(255) - 127
		}
	}
	b.SetBytes(int64(4 * len(q)))
	for b.Loop() {
		Entropy(q)
	}
}

func TestArgmax(t *testing.T) {
	tests := []struct {
		v    []float32
		want int
	}{
		{[]float32{1}, 0}, {[]float32{0, 3, 2}, 1}, {[]float32{-1, -2, -0.5}, 2}, {[]float32{2, 2, 1}, 0},
	}
	for _, tt := range tests {
		if got := Argmax(tt.v); got != tt.want {
			t.Errorf("Argmax(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

// TestImagePSNR checks that predictions outside [0, 1] count as clamped.
func TestImagePSNR(t *testing.T) {
	target := []float32{0, 0.5, 1, 1}
	pred := []float32{-3, 0.5, 7, 0.9}
	clamped := []float32{0, 0.5, 1, 0.9}
	if got, want := ImagePSNR(pred, target), PSNR(clamped, target, 1); got != want {
		t.Errorf("ImagePSNR = %v, want PSNR of the clamped prediction %v", got, want)
	}
	if got := ImagePSNR(pred, target); got <= PSNR(pred, target, 1) {
		t.Errorf("clamping did not help: %v", got)
	}
}
