package ptq

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/quant"
)

// tileOf returns the index of the budget tile holding weight i.
func (b Budget) tileOf(i int) int {
	if b.Tile > 0 {
		return i / b.Tile
	}
	return 0
}

// tiles returns the number of budget tiles of a dot product of length k.
func (b Budget) tiles(k int) int {
	if b.Tile > 0 {
		return (k + b.Tile - 1) / b.Tile
	}
	return 1
}

// room returns the largest positive weight (up) and the largest negative
// weight magnitude (down) the next weight of a tile may take, given the sums
// pos = q⁺ and neg = q⁻ of the tile's weights so far and the weight bound m.
// Any q in [−down, up] keeps the tile within the budget; up and down are
// never negative.
func (b Budget) room(pos, neg, m int64) (up, down int64) {
	up, down = m, m
	if b.L1 > 0 {
		r := left(b.L1, pos+neg, m)
		up, down = min(up, r), min(down, r)
	}
	if b.Half > 0 {
		up = min(up, left(b.Half, pos, m))
		down = min(down, left(b.Half, neg, m))
	}
	return up, down
}

// left returns floor(t − used) clamped to [0, m]. For the budgets of this
// package (t below 2^52, used ≤ t an integer) t − used is exact, so the
// weights it admits never push the integer sum above t.
func left(t float64, used, m int64) int64 {
	r := math.Floor(t - float64(used))
	switch {
	case !(r > 0):
		return 0
	case r >= float64(m):
		return m
	}
	return int64(r)
}

// tracker follows each channel's budget as its weights are fixed in order
// of their index, so that every weight can be bounded by what the earlier
// ones of its tile left. It is the one place where all methods enforce the
// budget.
type tracker struct {
	b        Budget
	m        int64   // weight bound 2^(M−1) − 1
	pos, neg []int64 // per channel: q⁺ and q⁻ of the current tile so far
}

func newTracker(b Budget, bits, outC int) *tracker {
	return &tracker{b: b, m: int64(qmax(bits)), pos: make([]int64, outC), neg: make([]int64, outC)}
}

// start must be called before weight i of every channel is fixed; it opens
// a new tile at tile boundaries.
func (t *tracker) start(i int) {
	if i == 0 || t.b.Tile > 0 && i%t.b.Tile == 0 {
		clear(t.pos)
		clear(t.neg)
	}
}

// bounds returns the interval [lo, hi] of integers channel c's next weight
// may take.
func (t *tracker) bounds(c int) (lo, hi float64) {
	up, down := t.b.room(t.pos[c], t.neg[c], t.m)
	return -float64(down), float64(up)
}

// take clamps the candidate x of channel c's next weight to its bounds,
// rounds it to the nearest integer, records it and returns it.
func (t *tracker) take(c int, x float64) int32 {
	lo, hi := t.bounds(c)
	x = math.RoundToEven(math.Max(lo, math.Min(hi, x)))
	if math.IsNaN(x) {
		x = 0
	}
	q := int64(x)
	if q > 0 {
		t.pos[c] += q
	} else {
		t.neg[c] -= q
	}
	return int32(q)
}

// withinBudget reports the first channel of q (rows of k) whose weights
// break the bit width or, in some tile, the budget b.
func withinBudget(q []int32, k, bits int, b Budget) error {
	m := int64(qmax(bits))
	for c := 0; c < len(q)/k; c++ {
		row := q[c*k : (c+1)*k]
		for t := 0; t < b.tiles(k); t++ {
			lo, hi := 0, k
			if b.Tile > 0 {
				lo, hi = t*b.Tile, min(k, (t+1)*b.Tile)
			}
			var pos, neg int64
			for i, v := range row[lo:hi] {
				if int64(v) > m || int64(v) < -m {
					return fmt.Errorf("channel %d weight %d is %d, beyond ±%d", c, lo+i, v, m)
				}
				if v > 0 {
					pos += int64(v)
				} else {
					neg -= int64(v)
				}
			}
			switch {
			case b.L1 > 0 && float64(pos+neg) > b.L1:
				return fmt.Errorf("channel %d tile %d: ‖q‖₁ = %d above the budget %v", c, t, pos+neg, b.L1)
			case b.Half > 0 && (float64(pos) > b.Half || float64(neg) > b.Half):
				return fmt.Errorf("channel %d tile %d: q⁺ = %d, q⁻ = %d, above the half budget %v", c, t, pos, neg, b.Half)
			}
		}
	}
	return nil
}

// thresholds returns AXE's soft thresholds, in units of the integer weights
// (w/s), one per channel and tile (OutC rows of b.tiles(K)): the shift θ of
// the Euclidean projection of the tile's scaled weights onto the L1 ball of
// the budget, |v| ↦ max(|v| − θ, 0). For A2Q+ the weights are centred first
// and the ball's radius is the full budget 2·Half, as in Brevitas's
// get_scales_and_thresholds; with both bounds the larger shift is taken.
// The zero Budget gives zero thresholds.
func thresholds(l *Layer) []float64 {
	b, k := l.Budget, l.K
	nt := b.tiles(k)
	th := make([]float64, l.OutC*nt)
	if b.L1 == 0 && b.Half == 0 {
		return th
	}
	var u []float64
	for c := 0; c < l.OutC; c++ {
		s := float64(l.Scale[c])
		for t := 0; t < nt; t++ {
			lo, hi := 0, k
			if b.Tile > 0 {
				lo, hi = t*b.Tile, min(k, (t+1)*b.Tile)
			}
			w := l.W[c*k+lo : c*k+hi]
			var theta float64
			if b.L1 > 0 {
				u = u[:0]
				for _, x := range w {
					u = append(u, math.Abs(float64(x)/s))
				}
				theta = quant.L1Shift(u, b.L1)
			}
			if b.Half > 0 {
				var mean float64
				for _, x := range w {
					mean += float64(x) / s
				}
				mean /= float64(len(w))
				u = u[:0]
				for _, x := range w {
					u = append(u, math.Abs(float64(x)/s-mean))
				}
				theta = max(theta, quant.L1Shift(u, 2*b.Half))
			}
			th[c*nt+t] = theta
		}
	}
	return th
}

// soft applies the soft threshold θ to x.
func soft(x, theta float64) float64 {
	if theta == 0 {
		return x
	}
	return math.Copysign(math.Max(math.Abs(x)-theta, 0), x)
}

// balance makes every channel of q (rows of k), or every tile of the
// budget b in it, sum to zero by moving the weights of its heavier side
// toward zero, the smallest magnitudes first. Weights only shrink, so every
// budget and bit width still holds.
func balance(q []int32, k int, b Budget) {
	for c := 0; c < len(q)/k; c++ {
		for t := 0; t < b.tiles(k); t++ {
			lo, hi := 0, k
			if b.Tile > 0 {
				lo, hi = t*b.Tile, min(k, (t+1)*b.Tile)
			}
			balanceRow(q[c*k+lo : c*k+hi])
		}
	}
}

// balanceRow makes row sum to zero as balance does.
func balanceRow(row []int32) {
	var sum int64
	for _, v := range row {
		sum += int64(v)
	}
	if sum == 0 {
		return
	}
	// The heavier side's weights, by increasing magnitude.
	var idx []int
	for i, v := range row {
		if (sum > 0 && v > 0) || (sum < 0 && v < 0) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(abs32(row[a]) - abs32(row[b])) })
	excess := max(sum, -sum)
	for _, i := range idx {
		if excess == 0 {
			return
		}
		d := min(int64(abs32(row[i])), excess)
		if row[i] > 0 {
			row[i] -= int32(d)
		} else {
			row[i] += int32(d)
		}
		excess -= d
	}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
