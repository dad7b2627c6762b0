package ptq

import (
	"math/rand/v2"
	"testing"
)

// TestBalance: balance leaves every channel (every tile with Budget.Tile)
// summing to zero, moving weights only toward zero.
func TestBalance(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 2000; trial++ {
		k := 1 + rng.IntN(40)
		outC := 1 + rng.IntN(4)
		var b Budget
		if trial%2 == 1 {
			b.Tile = 1 + rng.IntN(k)
		}
		q := make([]int32, outC*k)
		for i := range q {
			if rng.IntN(3) > 0 {
				q[i] = int32(rng.IntN(15) - 7)
			}
		}
		orig := append([]int32(nil), q...)
		balance(q, k, b)
		tile := b.Tile
		if tile == 0 {
			tile = k
		}
		for c := 0; c < outC; c++ {
			for lo := c * k; lo < (c+1)*k; lo += tile {
				hi := min(lo+tile, (c+1)*k)
				var sum int32
				for i := lo; i < hi; i++ {
					sum += q[i]
					// Weights only move toward zero, never past it.
					if abs32(q[i]) > abs32(orig[i]) || q[i]*orig[i] < 0 {
						t.Fatalf("trial %d: weight %d went from %d to %d", trial, i, orig[i], q[i])
					}
				}
				if sum != 0 {
					t.Fatalf("trial %d channel %d tile %d: sum %d after balance (was %v, now %v)", trial, c, (lo-c*k)/tile, sum, orig[lo:hi], q[lo:hi])
				}
			}
		}
	}
}
