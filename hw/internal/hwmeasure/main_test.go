package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/hw"
)

func TestA2QWeightsMeetBudget(t *testing.T) {
	tests := []struct {
		ch, k, m int
		budget   float64
	}{
		{64, 288, 8, 127.996}, // T_A2Q(16, 8, unsigned)
		{8, 32, 4, 20.5},
		{4, 1600, 8, 1000},
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(3, 4))
		w, sparsity, l1max := a2qWeights(rng, tt.ch, tt.k, tt.m, tt.budget)
		hi := int32(1)<<(tt.m-1) - 1
		for c := range tt.ch {
			var l1 int64
			for _, q := range w[c*tt.k : (c+1)*tt.k] {
				if q < -hi || q > hi {
					t.Fatalf("weight %d outside the narrow %d-bit range", q, tt.m)
				}
				l1 += int64(max(q, -q))
			}
			// The bisection fills the budget to within one largest weight step.
			if float64(l1) > tt.budget || float64(l1) < tt.budget-float64(hi) {
				t.Errorf("channel %d: ||q||_1 = %d, budget %g", c, l1, tt.budget)
			}
		}
		if float64(l1max) > tt.budget || sparsity <= 0 || sparsity >= 1 {
			t.Errorf("l1max %d, sparsity %g", l1max, sparsity)
		}
	}
}

func TestUniformThresholds(t *testing.T) {
	u := hw.Unit{Name: "u", Weights: []int32{3, -2, 0, 1, -1, -1, -1, -1}, OutChannels: 2, K: 4,
		WeightBits: 4, InputBits: 2, AccBits: 8, SIMD: 2, OutputBits: 2}
	got := uniformThresholds(u)
	// Channel 0 reaches [−2·3, 4·3] = [−6, 12]; channel 1 [−4·3, 0] = [−12, 0].
	want := []int64{-6 + 18/4, -6 + 36/4, -6 + 54/4, -12 + 12/4, -12 + 24/4, -12 + 36/4}
	if !slices.Equal(got, want) {
		t.Errorf("uniformThresholds = %v, want %v", got, want)
	}
}
