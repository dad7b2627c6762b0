package quant_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/quant"
)

// An A2Q+ linear layer with 8-bit unsigned inputs (after a ReLU) and a
// 12-bit accumulator: each output channel's integer weights are
// zero-centred and their positive and negative parts each stay within
// half the budget T = (2^P − 2)/(2^N − 1), so the exact accumulator bound
// of the integers fits P. See docs/MATH.md, “A2Q+ weight quantizer”.
func ExampleLayer_a2qPlus() {
	const p, n = 12, 8
	cfg := quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: n, AccBits: p}
	l, err := quant.NewLinear("fc", 8, 2, true, cfg, false, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Start from given float weights (as from a float model), without the
	// projection: the budget alone bounds the integers.
	copy(l.Weight.Value.Data, []float32{
		0.9, -0.5, 0.3, -0.7, 0.2, -0.1, 0.6, -0.4,
		0.05, 0.8, 0.1, -0.2, 0.3, 0.4, -0.6, 0.2,
	})
	l.W.InitFromWeights(false)
	t := accum.A2QPlusBudget(p, n)
	fmt.Printf("budget T = %.3f, T/2 = %.3f\n", t, t/2)

	q, _ := l.W.IntegerWeights()
	k := len(q) / l.OutC
	for c := range l.OutC {
		var pos, neg int32
		for _, v := range q[c*k : (c+1)*k] {
			if v > 0 {
				pos += v
			} else {
				neg -= v
			}
		}
		fmt.Printf("channel %d: q = %v, q+ = %d, q- = %d\n", c, q[c*k:(c+1)*k], pos, neg)
	}
	fmt.Println("exact accumulator bits:", accum.ExactBits(q, l.OutC, k, n, false))
	// ||q||_1 = 12 is beyond A2Q's budget at the same P; A2Q+ gets the
	// extra room from the balance of the two halves.
	fmt.Printf("A2Q budget at P = %d: %.3f\n", p, accum.A2QBudget(p, n, false))

	// Output:
	// budget T = 16.055, T/2 = 8.027
	// channel 0: q = [3 -2 1 -3 0 0 2 -1], q+ = 6, q- = 6
	// channel 1: q = [0 4 0 -2 1 1 -4 0], q+ = 6, q- = 6
	// exact accumulator bits: 12
	// A2Q budget at P = 12: 7.996
}
