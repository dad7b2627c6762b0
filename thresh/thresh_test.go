package thresh

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSearch checks Search against the maps it is given, by brute force near
// every threshold and at the ends of the range: f(acc) = lo + Count(acc, t).
func TestSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name   string
		lo, hi int32
		f      func(int64) int32
	}{
		{"identity", -8, 7, func(a int64) int32 { return int32(min(max(a, -8), 7)) }},
		{"scaled and rounded", 0, 255, func(a int64) int32 {
			v := math.RoundToEven(float64(float32(a)*0.013) + 0.2)
			return int32(min(max(v, 0), 255))
		}},
		{"relu then unsigned", 0, 15, func(a int64) int32 {
			y := max(float32(a)*0.5-3, 0)
			return int32(min(math.RoundToEven(float64(y)), 15))
		}},
		{"constant", -2, 1, func(int64) int32 { return 0 }},
		{"never above lo", 0, 3, func(int64) int32 { return 0 }},
		{"steps at the ends", 0, 2, func(a int64) int32 {
			switch {
			case a == Max:
				return 2
			case a > Min:
				return 1
			}
			return 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := make([]int64, tt.hi-tt.lo)
			Search(tt.f, tt.lo, tt.hi, th)
			pts := []int64{Min, Min + 1, Max - 1, Max}
			for k, v := range th {
				if k > 0 && v < th[k-1] {
					t.Fatalf("thresholds %v not sorted", th)
				}
				if v > Min && v <= Max {
					pts = append(pts, v-1, v)
				}
			}
			for range 1000 {
				pts = append(pts, rng.Int64N(4096)-2048)
			}
			for _, a := range pts {
				if got, want := tt.lo+int32(Count(a, th)), tt.f(a); got != want {
					t.Fatalf("acc %d: thresholds %v give level %d, the map %d", a, th, got, want)
				}
			}
		})
	}
	th := make([]int64, 3)
	Search(func(int64) int32 { return 0 }, 0, 3, th)
	for _, v := range th {
		if v != Unreached {
			t.Errorf("a map that stays at lo: thresholds %v, want Unreached", th)
		}
	}
}

func TestSearchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Search accepted 2 slots for 3 levels")
		}
	}()
	Search(func(int64) int32 { return 0 }, 0, 3, make([]int64, 2))
}

func TestCount(t *testing.T) {
	ts := []int64{-10, 0, 0, 7}
	tests := []struct {
		acc  int64
		want int
	}{
		{-11, 0}, {-10, 1}, {-1, 1}, {0, 3}, {6, 3}, {7, 4}, {1 << 40, 4},
	}
	for _, tt := range tests {
		if got := Count(tt.acc, ts); got != tt.want {
			t.Errorf("Count(%d, %v) = %d, want %d", tt.acc, ts, got, tt.want)
		}
	}
}
