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

// TestVecMapPairs checks that the edge programs of the graph test models
// take a requantisation's multiply and add (and a batch norm's operations)
// as the fused pairs: no program holds a multiply followed by an add or a
// subtraction followed by a multiply, and a layer's requantisation is one
// vecMulAdd.
func TestVecMapPairs(t *testing.T) {
	if !cpuAVX2 {
		t.Skip("no AVX2 on this CPU: no vector programs")
	}
	requant := 0
	for i, cfg := range dagCases() {
		_, im, _ := dagCase(t, cfg, i, rand.New(rand.NewPCG(8, uint64(i))))
		e, err := NewEngine(im, Options{Path: PathPreferred})
		if err != nil {
			t.Fatal(err)
		}
		for _, vm := range vecMaps(e.dagFast) {
			if vm.ops[0] == vecMulAdd {
				requant++
			}
			for j := 1; j < len(vm.ops); j++ {
				if a, b := vm.ops[j-1], vm.ops[j]; a == vecMul && b == vecAdd || a == vecSub && b == vecMul {
					t.Errorf("%s: program %v holds an unfused pair at %d", cfg.Model, vm.ops, j-1)
				}
			}
		}
	}
	if requant == 0 {
		t.Error("no layer's requantisation as a vecMulAdd among the edge programs")
	}
}
