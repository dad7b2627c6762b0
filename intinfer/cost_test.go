package intinfer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/quant"
)

// TestCostModelChoice checks the calibrated costs of every CPU kind and of
// the pure-Go kernels at the ends of the range BenchmarkCostModel measures:
// on the reference CNN's conv2, the dense kernel at 60 % zeros, the sparse
// one at 99 %.
func TestCostModelChoice(t *testing.T) {
	im, err := FromModel(calibrated(t, quant.A2QPlus, 16))
	if err != nil {
		t.Fatal(err)
	}
	conv2 := im.Layers()[1]
	orig := slices.Clone(conv2.Weights)
	defer copy(conv2.Weights, orig)
	for _, tc := range []struct {
		sparsity float64
		sparse   bool
	}{{0.6, false}, {0.99, true}} {
		a2qWeights(rand.New(rand.NewPCG(7, 7)), conv2.Weights, conv2.OutC, conv2.K, tc.sparsity)
		e, err := NewEngine(im, Options{Path: PathSparse, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		st := &e.plan.stages[1]
		if st.sp == nil {
			t.Fatalf("%.0f %% zeros: no sparse kernel (%v)", 100*tc.sparsity, st.fit)
		}
		nb := e.plan.chunk
		for _, kind := range []struct {
			goKernels bool
			cpu       cpuKind
			dense     string
		}{{false, kindAVX2, "dense16"}, {false, kindVNNI, "dense32-vnni"}, {false, kindIntelVNNI, "dense32-vnni"}, {false, kindZen4VNNI, "dense32-vnni"}, {true, kindAVX2, "dense16"}} {
			t.Run(fmt.Sprintf("zeros=%.0f%%/go=%v/cpu=%d", 100*tc.sparsity, kind.goKernels, kind.cpu), func(t *testing.T) {
				c := costsFor(kind.goKernels, kind.cpu)
				ts, td := c.sparseCost(st, st.sp, nb), c.denseCost(st, kind.dense, nb)
				if ts <= 0 || td <= 0 {
					t.Fatalf("costs sparse %v, %s %v: want positive", ts, kind.dense, td)
				}
				if got := ts < c.margin*td; got != tc.sparse {
					t.Errorf("sparse chosen %v (sparse %.1f µs, %s %.1f µs per image), want %v",
						got, ts/float64(nb)/1e3, kind.dense, td/float64(nb)/1e3, tc.sparse)
				}
			})
		}
	}
}
