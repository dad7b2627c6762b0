package data

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// indexSet returns a classification set whose example i is filled with
// the value i/n (so the example can be recognised) and has label i%3.
func indexSet(n, c, h, w int) *Set {
	s := &Set{Name: "index", N: n, C: c, H: h, W: w, Classes: 3, X: make([]float32, n*c*h*w), Labels: make([]int, n)}
	for i := range n {
		for k := range c * h * w {
			s.X[i*c*h*w+k] = float32(i) / float32(n)
		}
		s.Labels[i] = i % 3
	}
	return s
}

func TestBatcherCoversEpoch(t *testing.T) {
	tests := []struct {
		n, batch int
		shuffle  bool
	}{
		{10, 3, false},
		{10, 3, true},
		{12, 4, true},
		{5, 8, true},
		{1, 1, false},
	}
	for _, tt := range tests {
		s := indexSet(tt.n, 1, 2, 2)
		var rng *rand.Rand
		if tt.shuffle {
			rng = rand.New(rand.NewPCG(1, 2))
		}
		b := NewBatcher(s, tt.batch, rng, Augment{})
		if want := (tt.n + tt.batch - 1) / tt.batch; b.Batches() != want {
			t.Errorf("%+v: Batches() = %d, want %d", tt, b.Batches(), want)
		}
		x := make([]float32, tt.batch*4)
		labels := make([]int, tt.batch)
		var orders [][]int
		for epoch := range 3 {
			seen := make([]int, tt.n)
			var order []int
			batches := 0
			for {
				n, ok := b.Next(x, labels, nil)
				if !ok {
					break
				}
				batches++
				if n < 1 || n > tt.batch {
					t.Fatalf("%+v: batch of %d", tt, n)
				}
				for k := range n {
					i := int(x[k*4]*float32(tt.n) + 0.5)
					seen[i]++
					order = append(order, i)
					if labels[k] != i%3 {
						t.Fatalf("%+v: example %d with label %d", tt, i, labels[k])
					}
				}
			}
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("%+v epoch %d: example %d seen %d times", tt, epoch, i, c)
				}
			}
			if batches != b.Batches() || b.Epoch() != epoch+1 {
				t.Errorf("%+v epoch %d: %d batches (Batches %d), Epoch() = %d", tt, epoch, batches, b.Batches(), b.Epoch())
			}
			orders = append(orders, order)
		}
		sorted := true
		for i, v := range orders[0] {
			sorted = sorted && v == i
		}
		if sorted == tt.shuffle && tt.n > 2 {
			t.Errorf("%+v: first epoch order %v", tt, orders[0])
		}
		if tt.shuffle && tt.n > 4 && slices.Equal(orders[0], orders[1]) {
			t.Errorf("%+v: epochs 1 and 2 in the same order %v", tt, orders[0])
		}
	}
}

func TestBatcherPanicsOnShortBuffer(t *testing.T) {
	s := indexSet(4, 1, 2, 2)
	defer func() {
		if recover() == nil {
			t.Error("no panic for a short x buffer")
		}
	}()
	NewBatcher(s, 2, nil, Augment{}).Next(make([]float32, 7), nil, nil)
}

func TestAugmentInto(t *testing.T) {
	// 1×2×3 image with values 1..6, padded by 1.
	src := []float32{1, 2, 3, 4, 5, 6}
	tests := []struct {
		oy, ox int
		flip   bool
		want   []float32
	}{
		{0, 0, false, []float32{1, 2, 3, 4, 5, 6}},
		{0, 0, true, []float32{3, 2, 1, 6, 5, 4}},
		{-1, -1, false, []float32{0, 0, 0, 0, 1, 2}},
		{1, 1, false, []float32{5, 6, 0, 0, 0, 0}},
		{0, 1, true, []float32{0, 3, 2, 0, 6, 5}},
	}
	for _, tt := range tests {
		dst := make([]float32, 6)
		augmentInto(dst, src, 1, 2, 3, tt.oy, tt.ox, tt.flip)
		if !slices.Equal(dst, tt.want) {
			t.Errorf("offset (%d,%d) flip %v: %v, want %v", tt.oy, tt.ox, tt.flip, dst, tt.want)
		}
	}
}

// epochOf returns all inputs of one epoch.
func epochOf(s *Set, batch int, rng *rand.Rand, aug Augment) []float32 {
	b := NewBatcher(s, batch, rng, aug)
	x := make([]float32, batch*s.Size())
	var all []float32
	for {
		n, ok := b.Next(x, nil, nil)
		if !ok {
			return all
		}
		all = append(all, x[:n*s.Size()]...)
	}
}

func TestAugmentDeterministic(t *testing.T) {
	// Example i holds a ramp so that crops and flips change it.
	s := &Set{Name: "ramp", N: 20, C: 2, H: 6, W: 6, Classes: 1, X: make([]float32, 20*72), Labels: make([]int, 20)}
	for i := range s.X {
		s.X[i] = float32(i%37) / 36
	}
	aug := Augment{Pad: 2, Flip: true, Seed: 5}
	a := epochOf(s, 7, rand.New(rand.NewPCG(3, 3)), aug)
	b := epochOf(s, 7, rand.New(rand.NewPCG(3, 3)), aug)
	if !slices.Equal(a, b) {
		t.Error("same seeds gave different augmented epochs")
	}
	aug2 := aug
	aug2.Seed = 6
	if c := epochOf(s, 7, rand.New(rand.NewPCG(3, 3)), aug2); slices.Equal(a, c) {
		t.Error("augmentation seeds 5 and 6 gave the same epoch")
	}
	if plain := epochOf(s, 7, rand.New(rand.NewPCG(3, 3)), Augment{}); slices.Equal(a, plain) {
		t.Error("augmentation changed nothing")
	}
	// Augmentation only moves values and adds zeros: every output value is
	// 0 or present in the source.
	present := map[float32]bool{0: true}
	for _, v := range s.X {
		present[v] = true
	}
	for _, v := range a {
		if !present[v] {
			t.Fatalf("augmented value %v not in the source", v)
		}
	}
}

func TestAugmentSRAligned(t *testing.T) {
	// A super-resolution pair whose target is the nearest-neighbour ×2
	// upscale of the input stays so under crop and flip.
	const n, h, w = 6, 4, 5
	s := &Set{Name: "sr", N: n, C: 1, H: h, W: w, TC: 1, TH: 2 * h, TW: 2 * w,
		X: make([]float32, n*h*w), Y: make([]float32, n*4*h*w)}
	for i := range s.X {
		s.X[i] = float32(i%11+1) / 11
	}
	for i := range n {
		for y := range 2 * h {
			for x := range 2 * w {
				s.Y[i*4*h*w+y*2*w+x] = s.X[i*h*w+(y/2)*w+x/2]
			}
		}
	}
	b := NewBatcher(s, 4, nil, Augment{Pad: 2, Flip: true, Seed: 1})
	x, y := make([]float32, 4*h*w), make([]float32, 4*4*h*w)
	for {
		m, ok := b.Next(x, nil, y)
		if !ok {
			break
		}
		for k := range m {
			for yy := range 2 * h {
				for xx := range 2 * w {
					if got, want := y[k*4*h*w+yy*2*w+xx], x[k*h*w+(yy/2)*w+xx/2]; got != want {
						t.Fatalf("example %d target (%d,%d) = %v, input says %v", k, yy, xx, got, want)
					}
				}
			}
		}
	}
}

func TestSubsetSplit(t *testing.T) {
	s := indexSet(10, 2, 1, 1)
	sub := s.Subset([]int{7, 2, 7})
	if sub.N != 3 || !slices.Equal(sub.Labels, []int{1, 2, 1}) || sub.Example(1)[1] != s.Example(2)[1] {
		t.Errorf("Subset: N=%d labels %v", sub.N, sub.Labels)
	}
	sub.X[0] = 9
	if s.X[14] == 9 {
		t.Error("Subset shares storage")
	}
	a, b := s.Split(4)
	if a.N != 4 || b.N != 6 || b.Labels[0] != s.Labels[4] || b.Example(0)[0] != s.Example(4)[0] || len(a.X) != 8 {
		t.Errorf("Split(4): %d and %d examples", a.N, b.N)
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
	if err := b.Validate(); err != nil {
		t.Error(err)
	}
	// Appending to a must not clobber b.
	_ = append(a.X, 42)
	if b.X[0] == 42 {
		t.Error("append to the first half overwrote the second")
	}
}

func TestSpread(t *testing.T) {
	s := indexSet(10, 1, 1, 1) // example i holds i/10
	tests := []struct {
		n    int
		want []float32 // the examples' values
	}{
		{n: 5, want: []float32{0, 0.2, 0.4, 0.6, 0.8}},
		{n: 3, want: []float32{0, 0.3, 0.6}},
		{n: 1, want: []float32{0}},
		{n: 0, want: nil},  // all of s
		{n: 10, want: nil}, // all of s
		{n: 11, want: nil}, // all of s
	}
	for _, tt := range tests {
		got := s.Spread(tt.n)
		if tt.want == nil {
			if got != s {
				t.Errorf("Spread(%d) is a copy, want s itself", tt.n)
			}
			continue
		}
		if got.N != tt.n || !slices.Equal(got.X, tt.want) {
			t.Errorf("Spread(%d): %d examples %v, want %v", tt.n, got.N, got.X, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []func(s *Set){
		func(s *Set) { s.X = s.X[:3] },
		func(s *Set) { s.X[2] = 1.5 },
		func(s *Set) { s.Labels[1] = 3 },
		func(s *Set) { s.Labels = s.Labels[:2] },
		func(s *Set) { s.C = 0 },
		func(s *Set) { s.Labels = nil },
	}
	for i, mutate := range bad {
		s := indexSet(4, 1, 2, 2)
		mutate(s)
		if s.Validate() == nil {
			t.Errorf("mutation %d passed validation", i)
		}
	}
}
