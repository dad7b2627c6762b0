package intinfer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// BenchmarkRun measures integer inference of the reference CNN (A2Q+,
// hidden layer at P = 16) on batches of 128 images, per path.
func BenchmarkRun(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 128, im, 0, 1)
	for _, path := range []Path{PathPreferred, PathSparse, PathAcc16, PathAcc32, PathScalar} {
		e, err := NewEngine(im, Options{Path: path, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(path.String(), func(b *testing.B) {
			for b.Loop() {
				e.Run(x, 128, false)
			}
			b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkKernelSets measures the fused pipeline of the reference CNN
// (batch 128, one thread, each layer's preferred kernel) with each set of
// vector kernels for requantisation, input quantisation and patch copies:
// AVX-512, AVX2, and none (bucket tables and Go loops).
func BenchmarkKernelSets(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	x := randImages(rand.New(rand.NewPCG(1, 1)), 128, im, 0, 1)
	for _, impl := range append(vecImpls(), "go") {
		b.Run(impl, func(b *testing.B) {
			old512, old2 := useAVX512, useAVX2
			defer func() { useAVX512, useAVX2 = old512, old2 }()
			useAVX512 = impl == "avx512" && cpuAVX512
			useAVX2 = impl != "go" && cpuAVX2
			e, err := NewEngine(im, Options{Path: PathPreferred, Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				e.Run(x, 128, false)
			}
			b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkCostModel checks the kernel cost model (cost.go) against the
// time the fused pipeline's accumulation takes, on the reference CNN's
// conv2 with weights of A2Q's kind (mostly ±1 and ±2, each channel's
// positive and negative parts within the 16-bit budget) at sparsities from
// 60 % to 99 %: for each it reports the predicted and the measured
// microseconds per image of the sparse and the dense kernel (metrics
// pred-sparse-µs, sparse-µs, pred-dense-µs, dense-µs; where the dense
// kernel is VNNI's, the 16-bit one's too). Recalibrate the costs of the
// CPU kind when the ratios drift apart.
func BenchmarkCostModel(b *testing.B) {
	im, err := FromModel(calibrated(b, quant.A2QPlus, 16))
	if err != nil {
		b.Fatal(err)
	}
	conv2 := im.Layers()[1]
	orig := slices.Clone(conv2.Weights)
	defer copy(conv2.Weights, orig)
	x := randImages(rand.New(rand.NewPCG(1, 1)), chunkImages, im, 0, 1)
	for _, sparsity := range []float64{0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99} {
		rng := rand.New(rand.NewPCG(uint64(1000*sparsity), 2))
		a2qWeights(rng, conv2.Weights, conv2.OutC, conv2.K, sparsity)
		es, err := NewEngine(im, Options{Path: PathSparse, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		ed, err := NewEngine(im, Options{Path: PathDense, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		in := ed.Run(x, chunkImages, true).Inputs
		si := 1
		ss, sd := &es.plan.stages[si], &ed.plan.stages[si]
		// Where the dense kernel is a 32-bit one, the 16-bit kernel
		// (PathAcc16) is timed too: the model costs it when an engine
		// keeps 32-bit layers off VNNI.
		var e16 *Engine
		if denseKernel(sd.lr) != "dense16" {
			if e16, err = NewEngine(im, Options{Path: PathAcc16, Threads: 1}); err != nil {
				b.Fatal(err)
			}
		}
		if ss.sp == nil {
			b.Fatalf("conv2 at %.0f %% zeros: no sparse kernel (%v)", 100*sparsity, ss.fit)
		}
		nb := es.plan.chunk
		xb := make([]uint8, nb*ss.inSize+slack)
		for i, v := range in[si][:nb*ss.inSize] {
			xb[i] = uint8(v)
		}
		b.Run(fmt.Sprintf("conv2-%.0f%%", 100*sparsity), func(b *testing.B) {
			g := ss.g
			g.N = nb
			scs := es.plan.scratch.Get().(*fastScratch)
			scd := ed.plan.scratch.Get().(*fastScratch)
			var s16 *fastStage
			var sc16 *fastScratch
			if e16 != nil {
				s16, sc16 = &e16.plan.stages[si], e16.plan.scratch.Get().(*fastScratch)
			}
			var ts, td, t16 time.Duration
			for b.Loop() {
				t0 := time.Now()
				ss.accumulate(scs, si, 1, xb, nb, &g, false)
				t1 := time.Now()
				sd.accumulate(scd, si, 1, xb, nb, &g, false)
				t2 := time.Now()
				if s16 != nil {
					s16.accumulate(sc16, si, 1, xb, nb, &g, false)
				}
				ts, td, t16 = ts+t1.Sub(t0), td+t2.Sub(t1), t16+time.Since(t2)
			}
			sp := ss.sp.kern
			c := runningCosts(sp)
			per := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(b.N*nb) }
			b.ReportMetric(c.sparseCost(ss, ss.sp, nb)/1e3/float64(nb), "pred-sparse-µs")
			b.ReportMetric(per(ts), "sparse-µs")
			b.ReportMetric(c.denseCost(sd, denseKernel(sd.lr), nb)/1e3/float64(nb), "pred-dense-µs")
			b.ReportMetric(per(td), "dense-µs")
			if s16 != nil {
				b.ReportMetric(c.denseCost(s16, denseKernel(s16.lr), nb)/1e3/float64(nb), "pred-dense16-µs")
				b.ReportMetric(per(t16), "dense16-µs")
			}
			b.ReportMetric(float64(sp.NonZeros()), "nnz")
			b.ReportMetric(float64(sp.Multiplies()), "mul-groups")
		})
	}
}

// a2qWeights fills w (cout rows of k) with weights of A2Q's kind at the
// given share of zeros: the non-zero ones ±1 (two thirds), ±2 or ±3, each
// row's positive and negative sums at most 128 (the 16-bit budget of 8-bit
// unsigned inputs).
func a2qWeights(rng *rand.Rand, w []int32, cout, k int, sparsity float64) {
	clear(w)
	nz := int(float64(k)*(1-sparsity) + 0.5)
	for j := 0; j < cout; j++ {
		pos, neg := 128, 128
		for _, i := range rng.Perm(k)[:nz] {
			v := int32(1)
			if rng.IntN(3) == 0 {
				v = int32(2 + rng.IntN(2))
			}
			if rng.IntN(2) == 0 && pos >= int(v) {
				w[j*k+i], pos = v, pos-int(v)
			} else if neg >= int(v) {
				w[j*k+i], neg = -v, neg-int(v)
			}
		}
	}
}

// BenchmarkGraph measures integer inference of the zoo's graph networks
// (ResNet-style and MobileNet-style, A2Q+ at P = 16, projection-initialised
// weights, 28×28 images, batch 128, one thread): the fused form with this
// CPU's vector kernels and without, and the general graph path.
func BenchmarkGraph(b *testing.B) {
	for _, name := range []string{"resnet", "mobilenet"} {
		cfg := models.Config{Model: name, InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
			First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}
		m, err := models.Build(cfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range m.Layers {
			l.W.InitFromWeights(true)
		}
		const n = 128
		rng := rand.New(rand.NewPCG(1, 1))
		x := make([]float32, n*28*28)
		for i := range x {
			x[i] = rng.Float32()
		}
		tp := autodiff.NewTape(1)
		m.Forward(tp, tp.Constant(tensor.FromData(x, n, 28, 28, 1)), false) // calibrates
		im, err := FromModel(m)
		if err != nil {
			b.Fatal(err)
		}
		for _, impl := range append(vecImpls(), "go", "general") {
			b.Run(name+"/"+impl, func(b *testing.B) {
				old512, old2 := useAVX512, useAVX2
				defer func() { useAVX512, useAVX2 = old512, old2 }()
				useAVX512 = impl == "avx512" && cpuAVX512
				useAVX2 = impl != "go" && impl != "general" && cpuAVX2
				e, err := NewEngine(im, Options{Threads: 1})
				if err != nil {
					b.Fatal(err)
				}
				if impl == "general" {
					e.dagFast = nil
				}
				for b.Loop() {
					e.Run(x, n, false)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
