package intinfer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestVecMapKernel compares the vector program kernel with its Go twin on
// random programs of every operation (the fused pairs included), over row counts that leave every
// remainder of the eight-row blocks and channel counts with every tail.
func TestVecMapKernel(t *testing.T) {
	if !cpuAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{8, 9, 16, 23, 35} {
		for rows := 1; rows <= 19; rows++ {
			m := &vecMap{n: n, div: 0.05 + rng.Float32(), lo: -128, hi: 127, off: -128}
			for k := 0; k < 7; k++ {
				op := int64(rng.IntN(7))
				m.ops = append(m.ops, op)
				for i := range operands(op) {
					mul := op == vecMul || op == vecMulAdd && i == 0 || op == vecSubMul && i == 1
					for range n {
						a := float32(rng.NormFloat64())
						if mul {
							a = 0.01 + rng.Float32()
						}
						m.par = append(m.par, a)
					}
				}
			}
			x := make([]int32, rows*n)
			for i := range x {
				x[i] = int32(rng.IntN(1<<16) - 1<<15)
				if i%7 == 0 {
					x[i] = 0
				}
			}
			got := make([]uint8, len(x))
			m.rows(x, got)
			want := make([]uint8, len(x))
			for i, v := range x {
				want[i] = m.level(i%n, v)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%d channels, %d rows: kernel and Go twin differ", n, rows)
			}
		}
	}
}

// TestFusePairs checks the pairs fusePairs forms and leaves.
func TestFusePairs(t *testing.T) {
	for _, c := range []struct{ in, want []int64 }{
		{[]int64{vecMul, vecAdd, vecSub, vecMul, vecMul, vecAdd}, []int64{vecMulAdd, vecSubMul, vecMulAdd}},
		{[]int64{vecMul}, []int64{vecMul}},
		{[]int64{vecMul, vecMul}, []int64{vecMul, vecMul}},
		{[]int64{vecAdd, vecMul, vecAdd, vecMax}, []int64{vecAdd, vecMulAdd, vecMax}},
		{[]int64{vecSub, vecMul, vecAdd}, []int64{vecSubMul, vecAdd}},
	} {
		if got := fusePairs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("fusePairs(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
