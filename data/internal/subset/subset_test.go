package subset

import (
	"bytes"
	"slices"
	"testing"
)

func TestBalanced(t *testing.T) {
	tests := []struct {
		labels   []byte
		classes  int
		perClass int
		want     []int
		wantErr  bool
	}{
		{[]byte{0, 0, 1, 0, 1, 1}, 2, 2, []int{0, 1, 2, 4}, false},
		{[]byte{1, 0, 1, 0}, 2, 1, []int{0, 1}, false},
		{[]byte{0, 0, 0}, 2, 1, nil, true}, // class 1 missing
		{[]byte{0, 3}, 2, 1, nil, true},    // label out of range
	}
	for _, tt := range tests {
		got, err := Balanced(tt.labels, tt.classes, tt.perClass)
		if (err != nil) != tt.wantErr {
			t.Errorf("Balanced(%v, %d, %d) error = %v, want error %v", tt.labels, tt.classes, tt.perClass, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !slices.Equal(got, tt.want) {
			t.Errorf("Balanced(%v, %d, %d) = %v, want %v", tt.labels, tt.classes, tt.perClass, got, tt.want)
		}
	}
}

func TestGather(t *testing.T) {
	body := []byte{0, 1, 10, 11, 20, 21}
	if got, want := Gather(body, 2, []int{2, 0}), []byte{20, 21, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("Gather = %v, want %v", got, want)
	}
}
