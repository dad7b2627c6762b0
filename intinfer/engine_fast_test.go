package intinfer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// fusedCases returns integer models covering the fused pipeline's ops:
// the reference CNN, the MLP (flatten first), a chain ESPCN (padding, float
// pixel shuffle after the last layer), and tiny models with signed activations,
// a 1×1 convolution and a pixel shuffle of integer activations.
func fusedCases(t *testing.T) map[string]*Model {
	t.Helper()
	out := map[string]*Model{}
	for _, cfg := range []models.Config{
		{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3},
		{Model: "mlp", InC: 1, InH: 12, InW: 12, Classes: 10, Seed: 4},
		{Model: "espcn", InC: 1, InH: 9, InW: 7, Scale: 2, Seed: 5, Graph: chainESPCN(1, 9, 7, 2)},
	} {
		cfg.Hidden = quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
		cfg.First, cfg.Last = models.DefaultEdge(quant.A2QPlus), models.DefaultEdge(quant.A2QPlus)
		m, err := models.Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			l.W.InitFromWeights(true)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		x := make([]float32, 8*cfg.InH*cfg.InW*cfg.InC)
		for i := range x {
			x[i] = float32(rng.Float64())
		}
		tp := autodiff.NewTape(1)
		m.Forward(tp, tp.Constant(tensor.FromData(x, 8, cfg.InH, cfg.InW, cfg.InC)), false)
		im, err := FromModel(m)
		if err != nil {
			t.Fatal(err)
		}
		out[cfg.Model] = im
		if cfg.Model == "cnn" {
			// The CNN with a 3×3 pool of stride 2 after conv1 (the same
			// shapes after it): a pool the product cannot take, so on
			// VNNI conv1 reads its image in place instead.
			p3 := *im
			p3.Ops = slices.Clone(im.Ops)
			for i, op := range p3.Ops {
				if op.Kind == OpMaxPool {
					p3.Ops[i].K, p3.Ops[i].Stride = 3, 2
					break
				}
			}
			if err := p3.Validate(); err != nil {
				t.Fatal(err)
			}
			out["cnn-pool3"] = &p3
		}
	}
	for i, sp := range []tinySpec{
		{h: 12, w: 12, cin: 8, cout: 24, k: 3, pad: 1, classes: 5, l1: 128},
		{h: 9, w: 11, cin: 3, cout: 72, k: 3, pad: 0, classes: 7, l1: 120, inSigned: true, hiddenSigned: true},
		{h: 7, w: 7, cin: 40, cout: 16, k: 1, pad: 0, classes: 3, l1: 128},
		{h: 10, w: 6, cin: 5, cout: 20, k: 5, pad: 2, classes: 4, l1: 128, hiddenSigned: true},
	} {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		out[fmt.Sprintf("tiny%d", i)] = tinyModel(rng, sp)
		if sp.cout%4 == 0 {
			// ReLU before the pool, then a pixel shuffle of the integers.
			m := tinyModel(rng, sp)
			m.Ops = []Op{m.Ops[0], {Kind: OpReLU}, {Kind: OpMaxPool, K: 2}, {Kind: OpPixelShuffle, R: 2}, {Kind: OpFlatten}, m.Ops[4]}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("tiny%d-shuffle", i)] = m
		}
	}
	// A grouped convolution (two groups of 4 input channels).
	rng := rand.New(rand.NewPCG(5, 5))
	m := tinyModel(rng, tinySpec{h: 9, w: 8, cin: 8, cout: 24, k: 3, pad: 1, classes: 5, l1: 128})
	conv := m.Ops[0].Layer
	conv.Groups, conv.K = 2, 3*3*4
	conv.Weights = randWeights(rng, conv.OutC, conv.K, 128)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	out["tiny-groups"] = m
	return out
}

// chainESPCN is ESPCN without the zoo's skip of the image into its last
// layer: a chain (conv 5×5, ReLU, conv 3×3, ReLU, conv 3×3, pixel
// shuffle), which the fused pipeline runs.
func chainESPCN(c, h, w, r int) *graph.Graph {
	return &graph.Graph{Input: "input", InShape: []int{h, w, c}, Output: "shuffle", Nodes: []graph.Node{
		{Name: "conv1", Op: graph.Conv, Inputs: []string{"input"}, In: c, Out: 64, Kernel: 5, Stride: 1, Pad: 2, Groups: 1, Bias: true},
		{Name: "relu1", Op: graph.ReLU, Inputs: []string{"conv1"}},
		{Name: "conv2", Op: graph.Conv, Inputs: []string{"relu1"}, In: 64, Out: 32, Kernel: 3, Stride: 1, Pad: 1, Groups: 1, Bias: true},
		{Name: "relu2", Op: graph.ReLU, Inputs: []string{"conv2"}},
		{Name: "conv3", Op: graph.Conv, Inputs: []string{"relu2"}, In: 32, Out: c * r * r, Kernel: 3, Stride: 1, Pad: 1, Groups: 1, Bias: true},
		{Name: "shuffle", Op: graph.DepthToSpace, Inputs: []string{"conv3"}, Factor: r},
	}}
}

// TestFusedMatchesScalar runs the fused pipeline on every
// kernel path and thread count, on batches that end in a partial chunk:
// outputs must equal the scalar reference bit for bit.
func TestFusedMatchesScalar(t *testing.T) {
	for name, m := range fusedCases(t) {
		lo := 0.0
		if m.Layers()[0].InputSigned {
			lo = -0.6
		}
		for _, n := range []int{0, 1, chunkImages + 5, 3*chunkImages + 1} {
			x := randImages(rand.New(rand.NewPCG(uint64(n), 1)), n, m, lo, 1)
			ref, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: PathScalar})
			if err != nil {
				t.Fatal(err)
			}
			want := ref.Run(x, n, true)
			for _, path := range []Path{PathPreferred, PathAcc16, PathAcc32, PathSparse, PathDense} {
				for _, th := range []int{1, 3} {
					e, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: path, Threads: th})
					if err != nil {
						t.Fatal(err)
					}
					if e.plan == nil {
						t.Fatalf("%s, %v: no fused pipeline (layers %+v)", name, path, e.Layers())
					}
					if th > 1 {
						e.plan.chunk = 3 // odd chunks; a single chunk runs its kernels on th threads
					}
					if models := name == "cnn" || name == "cnn-pool3" || name == "mlp" || name == "espcn"; models && len(vecImpls()) > 0 {
						// Models built by FromModel keep the float form of
						// their requantisation: the vector kernel must take it.
						for _, st := range e.plan.stages {
							if st.lr.l.OutBits > 0 && st.q.vec == nil {
								t.Errorf("%s: layer %s requantises without the vector kernel", name, st.lr.l.Name)
							}
						}
					}
					if name == "cnn" && (path == PathPreferred || path == PathDense) && !e.plan.stages[0].pooled {
						// The first layer (K = 9 on 32-bit lanes, a 2×2
						// pool after it) pools inside its product.
						t.Errorf("%s, %v: conv1 does not pool in its product (%s)", name, path, e.Layers()[0].Reason)
					}
					if name == "cnn" && path == PathSparse && intgemm.HasVNNI() && cpuAVX512 && hasVBMI && e.plan.stages[1].sp != nil &&
						e.plan.stages[0].planar == nil {
						// conv1 feeds sparse planes: this test is where the
						// planar first layer is checked in the pipeline.
						t.Errorf("%s, %v: conv1 does not write conv2's planes (%s)", name, path, e.Layers()[0].Reason)
					}
					if name == "cnn-pool3" && intgemm.HasVNNI() && (path == PathPreferred || path == PathDense) && e.plan.stages[0].inPlace == nil {
						// On VNNI a first layer (one channel, 3×3) whose
						// pool the product cannot take reads its image in
						// place: this test is where that path is checked.
						t.Errorf("%s, %v: conv1 does not read its image in place (%s)", name, path, e.Layers()[0].Reason)
					}
					got := e.Run(x, n, false)
					if !slices.Equal(got.Out, want.Out) || !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Overflows, want.Overflows) {
						t.Errorf("%s, n = %d, %v, %d threads: fused output differs from the scalar reference", name, n, path, th)
					}
					// Captured inputs agree too, and repeated runs reuse scratch.
					again := e.Run(x, n, true)
					if !slices.Equal(again.Out, want.Out) {
						t.Errorf("%s, n = %d, %v: captured run differs", name, n, path)
					}
					for li := range want.Inputs {
						if !slices.Equal(again.Inputs[li], want.Inputs[li]) {
							t.Errorf("%s, n = %d, %v: layer %d's captured input differs", name, n, path, li)
						}
					}
				}
			}
		}
	}
}

// TestFusedFallsBack checks that an engine with a layer on the scalar path
// (not certified at the chosen width) takes the general path.
func TestFusedFallsBack(t *testing.T) {
	m := fusedCases(t)["cnn"]
	e, err := NewEngine(m, Options{Mode: intgemm.Wrap, AccBits: map[string]int{"conv2": 8}})
	if err != nil {
		t.Fatal(err)
	}
	if e.plan != nil {
		t.Errorf("uncertified layer but fused pipeline planned: %+v", e.Layers())
	}
}

// TestRequantRows checks the threshold counts (full-range and clamped
// bucket tables, the guessed window) against a plain count, with clamping at a ReLU floor.
func TestRequantRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	fulls := 0
	for trial := 0; trial < 400; trial++ {
		regular := trial%4 < 2
		tc := randThresholds(rng, regular, func(hi int32) int32 { return hi + 1 })
		ts, lo, hi, cout, thr, guess, acc := tc.ts, tc.lo, tc.hi, tc.cout, tc.thr, tc.guess, tc.acc
		outLo := -int32(rng.IntN(ts))
		floor := int32(-1 << 31)
		if trial%2 == 1 {
			floor = 0
		}
		lr := &layerRun{l: &Layer{OutC: cout}, tsize: ts, thr32: thr, guess: guess, outLo: outLo}
		q := newRequant(lr, nil, floor == 0, lo, hi)
		if regular && q.buckets == nil {
			t.Fatalf("trial %d: no bucket tables for regular thresholds", trial)
		}
		if q.full {
			fulls++
		}
		out := make([]uint8, len(acc))
		q.rows(acc, out)
		// Clamped buckets (when q.full, else the same again).
		q.buckets, q.chans = bucketTables(thr, cout, ts-1, lo, hi, outLo, floor, false)
		q.full = false
		clamped := make([]uint8, len(acc))
		q.rows(acc, clamped)
		q.buckets = nil // the guessed window
		window := make([]uint8, len(acc))
		q.rows(acc, window)
		for i, v := range acc {
			c := i % cout
			want := max(tc.count(c, v, outLo), floor)
			if out[i] != uint8(want) || clamped[i] != uint8(want) || window[i] != uint8(want) {
				t.Fatalf("trial %d: acc %d, channel %d: buckets %d (full %v), clamped %d, window %d, want %d",
					trial, v, c, int8(out[i]), q.full, int8(clamped[i]), int8(window[i]), want)
			}
		}
	}
	if fulls == 0 {
		t.Error("no trial built full-range bucket tables")
	}
}

// BenchmarkRunThreads measures the fused pipeline of the reference CNN on
// batches of 128 images with one and two threads, without and with the
// captured layer inputs of verification.
func BenchmarkRunThreads(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 128, im, 0, 1)
	for _, th := range []int{1, 2} {
		for _, capture := range []bool{false, true} {
			e, err := NewEngine(im, Options{Path: PathPreferred, Threads: th})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("threads=%d/capture=%v", th, capture), func(b *testing.B) {
				for b.Loop() {
					e.Run(x, 128, capture)
				}
				b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
