package ptq

import (
	"math/rand/v2"
	"testing"
)

func TestBalance(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 2000; trial++ {
		k := 1 + rng.IntN(40)
		outC := 1 + rng.IntN(4)
		q := make([]int32, outC*k)
		for i := range q {
			if rng.IntN(3) > 0 {
				q[i] = int32(rng.IntN(15) - 7)
			}
		}
		orig := append([]int32(nil), q...)
		balance(q, k)
		for c := 0; c < outC; c++ {
			var sum int32
			for i := c * k; i < (c+1)*k; i++ {
				sum += q[i]
				// Weights only move toward zero, never past it.
				if abs32(q[i]) > abs32(orig[i]) || q[i]*orig[i] < 0 {
					t.Fatalf("trial %d: weight %d went from %d to %d", trial, i, orig[i], q[i])
				}
			}
			if sum != 0 {
				t.Fatalf("trial %d channel %d: sum %d after balance (was %v, now %v)", trial, c, sum, orig[c*k:(c+1)*k], q[c*k:(c+1)*k])
			}
		}
	}
}
