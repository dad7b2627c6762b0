package train

import (
	"slices"
	"testing"
)

// TestInOrder checks the batches inOrder yields: the set's first examples
// in order (the same as FirstInputs), cut at the limit, no targets for a
// labelled set, and an early stop honoured.
func TestInOrder(t *testing.T) {
	s, _ := embedded(t, 250, 10)
	for _, tt := range []struct {
		size, limit int
		want        []int // batch sizes
	}{
		{100, 0, []int{100, 100, 50}},
		{100, 130, []int{100, 30}},
		{64, 64, []int{64}},
		{100, 1000, []int{100, 100, 50}},
	} {
		var got []int
		var xs []float32
		for x, y := range inOrder(s, tt.size, tt.limit) {
			if y != nil {
				t.Fatalf("size %d: targets for a labelled set", tt.size)
			}
			got = append(got, x.Shape[0])
			xs = append(xs, x.Data...)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("size %d, limit %d: batches %v, want %v", tt.size, tt.limit, got, tt.want)
		}
		if first := FirstInputs(s, len(xs)/s.Size()); !slices.Equal(xs, first.Data) {
			t.Errorf("size %d, limit %d: not the set's first examples in order", tt.size, tt.limit)
		}
	}
	n := 0
	for range inOrder(s, 50, 0) {
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("stopped after %d batches, want 2", n)
	}
}
