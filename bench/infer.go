package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// InferOptions configure Infer.
type InferOptions struct {
	Model   string        // a classifier taking 28×28 one-channel images (default "cnn")
	Batch   int           // images per call (default 128)
	Threads []int         // thread counts to measure
	AccBits int           // hidden-layer accumulator width P (default 16)
	MinTime time.Duration // minimum measuring time per figure
}

// InferThreads is the inference throughput at one thread count.
type InferThreads struct {
	Threads int `json:"threads"`
	// Acc16ImagesPerSec is integer inference with 16-bit accumulation in
	// the layers certified for it (32-bit elsewhere).
	Acc16ImagesPerSec float64 `json:"acc16_images_per_sec"`
	// Acc32ImagesPerSec is integer inference with 32-bit accumulation.
	Acc32ImagesPerSec float64 `json:"acc32_images_per_sec"`
	// FloatImagesPerSec is the float32 model of the same shape through
	// package autodiff in evaluation mode.
	FloatImagesPerSec float64 `json:"float_images_per_sec"`
	// Acc32AVX2ImagesPerSec is the 32-bit path restricted to AVX2 kernels:
	// the same-instruction-set comparison with the 16-bit AVX2 kernel (on
	// CPUs with AVX-512 VNNI, Acc32ImagesPerSec uses VNNI).
	Acc32AVX2ImagesPerSec *float64 `json:"acc32_avx2_images_per_sec"`
}

// InferResult is the outcome of Infer.
type InferResult struct {
	Model   string `json:"model"`
	Quant   string `json:"quant"`
	AccBits int    `json:"acc_bits"`
	Batch   int    `json:"batch"`
	// Acc16Impl and Acc32Impl name the kernel of the hidden layers on each
	// path (e.g. "avx2-int16", "avx512vnni-int32"); the per-layer details,
	// with intgemm's reasons for refusing a 16-bit accumulator, are in
	// Acc16Layers and Acc32Layers.
	Acc16Impl   string               `json:"acc16_impl"`
	Acc32Impl   string               `json:"acc32_impl"`
	Acc16Layers []intinfer.LayerInfo `json:"acc16_layers"`
	Acc32Layers []intinfer.LayerInfo `json:"acc32_layers"`
	Threads     []InferThreads       `json:"threads"`
}

// Infer measures integer inference of an A2Q+ model (8-bit weights and
// activations, hidden layers at P = AccBits) with 16-bit and with 32-bit
// accumulation against the float model, in images per second, for each
// thread count. The model is built with projection-initialised random
// weights and calibrated on the embedded test images, which it then
// classifies; speed does not depend on training. The three paths alternate
// call by call for at least MinTime each, each reporting its fastest call,
// and the two integer paths must give identical outputs (checked).
func Infer(ctx context.Context, o InferOptions) (*InferResult, error) {
	if o.Model == "" {
		o.Model = "cnn"
	}
	if o.Batch == 0 {
		o.Batch = 128
	}
	if o.AccBits == 0 {
		o.AccBits = 16
	}
	if o.Batch < 1 || len(o.Threads) == 0 {
		return nil, fmt.Errorf("bench: inference needs a positive batch and at least one thread count")
	}
	_, test, err := data.Default()
	if err != nil {
		return nil, fmt.Errorf("bench: inference data: %w", err)
	}
	x := make([]float32, o.Batch*test.Size())
	for i := 0; i < o.Batch; i++ {
		copy(x[i*test.Size():], test.Example(i%test.N)) // one channel: NCHW is NHWC
	}
	cfg := models.Config{Model: o.Model, InC: test.C, InH: test.H, InW: test.W, Classes: test.Classes, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: o.AccBits},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}
	qm, err := models.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	for _, l := range qm.Layers {
		l.W.InitFromWeights(true)
	}
	fcfg := cfg
	fcfg.Hidden, fcfg.First, fcfg.Last = models.DefaultEdge(quant.Float), models.DefaultEdge(quant.Float), models.DefaultEdge(quant.Float)
	fm, err := models.Build(fcfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	tp := autodiff.NewTape(1)
	input := func() *autodiff.Var { return tp.Constant(tensor.FromData(x, o.Batch, test.H, test.W, test.C)) }
	qm.Forward(tp, input(), false) // calibrates the activation quantizers
	tp.Reset()
	im, err := intinfer.FromModel(qm)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	res := &InferResult{Model: o.Model, Quant: string(quant.A2QPlus), AccBits: o.AccBits, Batch: o.Batch}
	for _, t := range o.Threads {
		if t < 1 {
			return nil, fmt.Errorf("bench: thread count %d must be positive", t)
		}
		e16, err := intinfer.NewEngine(im, intinfer.Options{Mode: intgemm.Exact, Path: intinfer.PathAcc16, Threads: t})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		e32, err := intinfer.NewEngine(im, intinfer.Options{Mode: intgemm.Exact, Path: intinfer.PathAcc32, Threads: t})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		e32a, err := intinfer.NewEngine(im, intinfer.Options{Mode: intgemm.Exact, Path: intinfer.PathAcc32, Threads: t, NoVNNI: true})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if res.Acc16Layers == nil {
			res.Acc16Layers, res.Acc32Layers = e16.Layers(), e32.Layers()
			res.Acc16Impl, res.Acc32Impl = hiddenImpl(res.Acc16Layers), hiddenImpl(res.Acc32Layers)
			out32 := e32.Run(x, o.Batch, false).Out
			if !slices.Equal(e16.Run(x, o.Batch, false).Out, out32) || !slices.Equal(e32a.Run(x, o.Batch, false).Out, out32) {
				return nil, fmt.Errorf("bench: 16-bit, 32-bit and 32-bit AVX2 integer inference disagree")
			}
		}
		ftp := autodiff.NewTape(t)
		runs := []func(){
			func() { e16.Run(x, o.Batch, false) },
			func() { e32.Run(x, o.Batch, false) },
			func() {
				fm.Forward(ftp, ftp.Constant(tensor.FromData(x, o.Batch, test.H, test.W, test.C)), false)
				ftp.Reset()
			},
			func() { e32a.Run(x, o.Batch, false) },
		}
		best := []time.Duration{1 << 62, 1 << 62, 1 << 62, 1 << 62}
		spent := make([]time.Duration, 4)
		for slices.Min(spent) < o.MinTime || spent[0] == 0 {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("bench: inference: %w", err)
			}
			for i, run := range runs {
				start := time.Now()
				run()
				d := time.Since(start)
				best[i], spent[i] = min(best[i], d), spent[i]+d
			}
		}
		rate := func(d time.Duration) float64 { return float64(o.Batch) / d.Seconds() }
		avx2 := rate(best[3])
		res.Threads = append(res.Threads, InferThreads{Threads: t, Acc16ImagesPerSec: rate(best[0]),
			Acc32ImagesPerSec: rate(best[1]), FloatImagesPerSec: rate(best[2]), Acc32AVX2ImagesPerSec: &avx2})
	}
	return res, nil
}

// hiddenImpl names the kernels of the hidden layers (all but the first
// and the last).
func hiddenImpl(ls []intinfer.LayerInfo) string {
	var names []string
	for i, l := range ls {
		if (i > 0 && i < len(ls)-1) && !slices.Contains(names, l.Impl) {
			names = append(names, l.Impl)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprint(names)
}
