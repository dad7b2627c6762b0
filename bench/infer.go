package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
	"github.com/a2qtoolkit/a2q/tensor"
)

// InputError is an error of InferModel due to its inputs rather than the
// measurement: a model without an integer form (intinfer.FromModel), or
// images of another shape than the model takes.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ErrShape is wrapped by the error of Images when the images do not have
// the model's input shape.
var ErrShape = errors.New("images of another shape than the model's input")

// ErrPlansDisagree is wrapped by the error of InferSpeed when two plans
// give different outputs.
var ErrPlansDisagree = errors.New("integer inference disagrees between plans")

// ErrFloatDisagrees is wrapped by the error of InferSpeed when the float
// model's tape-free inference (models.Model.Infer) does not give its
// taped forward pass's outputs bit for bit.
var ErrFloatDisagrees = errors.New("float inference disagrees with the forward pass")

// InferOptions configure Infer and InferModel.
type InferOptions struct {
	Model   string        // Infer: a classifier taking 28×28 one-channel images (default "cnn")
	AccBits int           // Infer: hidden-layer accumulator width P (default 16)
	Batch   int           // images per call (default 128)
	Threads []int         // thread counts to measure
	MinTime time.Duration // minimum measuring time per figure
}

// InferLayer is how the chosen plan (intinfer.PathPreferred) runs one
// layer: its share of zero weights, its exact accumulator bound, the kind
// of kernel and why (intinfer.LayerInfo).
type InferLayer struct {
	Name         string  `json:"name"`
	Sparsity     float64 `json:"sparsity"`
	AccBits      int     `json:"acc_bits"`
	AccBitsExact int     `json:"acc_bits_exact"`
	Kernel       string  `json:"kernel"`
	Reason       string  `json:"reason"`
	Impl         string  `json:"impl"`
}

// InferThreads is the inference throughput at one thread count, in images
// per second.
type InferThreads struct {
	Threads int `json:"threads"`
	// ChosenImagesPerSec is the integer engine's plan
	// (intinfer.PathPreferred): each layer on the kernel its cost model
	// predicts fastest, sparse or dense.
	ChosenImagesPerSec float64 `json:"chosen_images_per_sec"`
	// DenseVNNIImagesPerSec is the dense plan (intinfer.PathDense) on a
	// CPU with AVX-512 VNNI, which it then uses for 32-bit layers; nil
	// (JSON null) on other CPUs.
	DenseVNNIImagesPerSec *float64 `json:"dense_vnni_images_per_sec"`
	// DenseAcc32AVX2ImagesPerSec is the dense plan with 32-bit
	// accumulation on AVX2 kernels (intinfer.PathAcc32, NoVNNI).
	DenseAcc32AVX2ImagesPerSec float64 `json:"dense_acc32_avx2_images_per_sec"`
	// Dense16ImagesPerSec is the dense plan with 16-bit accumulation in
	// the layers certified for it, 32-bit elsewhere (intinfer.PathAcc16).
	Dense16ImagesPerSec float64 `json:"dense16_images_per_sec"`
	// FloatImagesPerSec is the float32 model of the same architecture
	// through package autodiff in evaluation mode.
	FloatImagesPerSec float64 `json:"float_images_per_sec"`
}

// InferResult is the outcome of Infer and InferModel.
type InferResult struct {
	Model string `json:"model"`
	Quant string `json:"quant"`
	// AccBits is the hidden layers' target P.
	AccBits int `json:"acc_bits"`
	Batch   int `json:"batch"`
	// Data names the data set the images come from.
	Data    string         `json:"data"`
	Layers  []InferLayer   `json:"layers"`
	Threads []InferThreads `json:"threads"`
}

// Infer measures integer inference of an A2Q+ model (8-bit weights and
// activations, hidden layers at P = AccBits) as InferModel does. The model
// is built with projection-initialised random weights and calibrated on
// the embedded test images, which it then classifies; speed depends on
// the weights only through their sparsity, which the projection sets.
func Infer(ctx context.Context, o InferOptions) (*InferResult, error) {
	if o.Model == "" {
		o.Model = "cnn"
	}
	if o.AccBits == 0 {
		o.AccBits = 16
	}
	o, err := o.check()
	if err != nil {
		return nil, err
	}
	_, test, err := data.Default()
	if err != nil {
		return nil, fmt.Errorf("bench: inference data: %w", err)
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
	x, n, err := Images(test, o.Batch, qm.Config)
	if err != nil {
		return nil, err
	}
	tp := autodiff.NewTape(1)
	qm.Forward(tp, tp.Constant(tensor.FromData(x, n, test.H, test.W, test.C)), false) // calibrates the activation quantizers
	return InferModel(ctx, qm, test, o)
}

// InferModel measures integer inference of the quantized model m (its
// activation quantizers calibrated, as a checkpoint keeps them) on
// batches of the first images of test, against the float model of the
// same architecture, in images per second, for each thread count: the
// chosen plan, the dense plans and float, timed by InferSpeed. It also
// describes how the chosen plan runs each layer. o.Model and o.AccBits
// are not used. A model or images unfit for integer inference give an
// *InputError.
func InferModel(ctx context.Context, m *models.Model, test *data.Set, o InferOptions) (*InferResult, error) {
	o, err := o.check()
	if err != nil {
		return nil, err
	}
	x, n, err := Images(test, o.Batch, m.Config)
	if err != nil {
		return nil, &InputError{err}
	}
	im, err := intinfer.FromModel(m)
	if err != nil {
		return nil, &InputError{fmt.Errorf("bench: %w", err)}
	}
	fm, err := models.Build(recipe.FloatConfig(m.Config))
	if err != nil {
		return nil, &InputError{fmt.Errorf("bench: the float model: %w", err)}
	}
	h := m.Config.Hidden
	res := &InferResult{Model: m.Config.Model, Quant: string(h.Mode), AccBits: h.AccBits, Batch: n, Data: test.Name}
	plans := []intinfer.Options{
		{Path: intinfer.PathPreferred},
		{Path: intinfer.PathAcc32, NoVNNI: true},
		{Path: intinfer.PathAcc16},
	}
	vnni := intgemm.HasVNNI()
	if vnni {
		plans = append(plans, intinfer.Options{Path: intinfer.PathDense})
	}
	for _, t := range o.Threads {
		sp, err := InferSpeed(ctx, im, x, n, SpeedOptions{Plans: plans, Float: fm, Threads: t, MinTime: o.MinTime})
		if err != nil {
			return nil, err
		}
		if res.Layers == nil {
			for _, l := range sp.Layers {
				res.Layers = append(res.Layers, InferLayer{Name: l.Name, Sparsity: l.Sparsity, AccBits: l.AccBits,
					AccBitsExact: l.AccBitsExact, Kernel: l.Kernel, Reason: l.Reason, Impl: l.Impl})
			}
		}
		r := sp.ImagesPerSec
		it := InferThreads{Threads: t, ChosenImagesPerSec: r[0], DenseAcc32AVX2ImagesPerSec: r[1], Dense16ImagesPerSec: r[2],
			FloatImagesPerSec: sp.FloatImagesPerSec}
		if vnni {
			it.DenseVNNIImagesPerSec = &r[3]
		}
		res.Threads = append(res.Threads, it)
	}
	return res, nil
}

// check fills in the default batch and checks the batch and thread
// counts.
func (o InferOptions) check() (InferOptions, error) {
	if o.Batch == 0 {
		o.Batch = 128
	}
	if o.Batch < 1 || len(o.Threads) == 0 {
		return o, fmt.Errorf("bench: inference needs a positive batch and at least one thread count")
	}
	for _, t := range o.Threads {
		if t < 1 {
			return o, fmt.Errorf("bench: thread count %d must be positive", t)
		}
	}
	return o, nil
}

// Images returns a batch of n images of s, the first ones repeated as
// needed, as one NHWC float slice for a model of configuration cfg, and n;
// an error wrapping ErrShape when the images do not have the model's input
// shape.
func Images(s *data.Set, n int, cfg models.Config) ([]float32, int, error) {
	if s.C != cfg.InC || s.H != cfg.InH || s.W != cfg.InW {
		return nil, 0, fmt.Errorf("bench: %w: the model takes %d×%d×%d images (H×W×C), data set %s has %d×%d×%d",
			ErrShape, cfg.InH, cfg.InW, cfg.InC, s.Name, s.H, s.W, s.C)
	}
	if s.N == 0 || n < 1 {
		return nil, 0, fmt.Errorf("bench: no images (data set %s has %d, %d asked for)", s.Name, s.N, n)
	}
	size := s.Size()
	nchw := make([]float32, n*size)
	for i := range n {
		copy(nchw[i*size:], s.Example(i%s.N))
	}
	x := make([]float32, n*size)
	tensor.NCHWToNHWC(x, nchw, n, s.C, s.H, s.W)
	return x, n, nil
}

// SpeedOptions configure InferSpeed.
type SpeedOptions struct {
	// Plans are the integer engine's configurations to time; InferSpeed
	// sets their Threads. Each plan's outputs must equal the first's.
	Plans []intinfer.Options
	// Float, when set, is a float model taking the same images, timed
	// too (models.Model.Infer, checked once against the taped forward
	// pass).
	Float *models.Model
	// Threads is the number of threads of every plan and of Float.
	Threads int
	// MinTime is the minimum measuring time of each figure.
	MinTime time.Duration
}

// Speed is the outcome of InferSpeed.
type Speed struct {
	// ImagesPerSec holds each plan's throughput, in the order of Plans.
	ImagesPerSec []float64
	// FloatImagesPerSec is the float model's throughput (0 without one).
	FloatImagesPerSec float64
	// Layers describes how the first plan runs each layer.
	Layers []intinfer.LayerInfo
}

// InferSpeed times the integer model im on the n NHWC images x under each
// of o.Plans (and the float model o.Float), in images per second. The
// plans alternate call by call, so that load from other processes hits
// them alike, for at least o.MinTime each; each reports its fastest call.
// Every plan must give the first plan's outputs, bit for bit: an error
// wrapping ErrPlansDisagree says which does not.
func InferSpeed(ctx context.Context, im *intinfer.Model, x []float32, n int, o SpeedOptions) (*Speed, error) {
	if len(o.Plans) == 0 || n < 1 || len(x) != n*im.InH*im.InW*im.InC {
		return nil, fmt.Errorf("bench: InferSpeed needs at least one plan and %d×%d×%d images (%d values for %d)",
			im.InH, im.InW, im.InC, len(x), n)
	}
	th := max(o.Threads, 1)
	var runs []func() error
	sp := &Speed{}
	var first []float32
	for i, p := range o.Plans {
		p.Threads = th
		e, err := intinfer.NewEngine(im, p)
		if err != nil {
			return nil, fmt.Errorf("bench: plan %v: %w", p.Path, err)
		}
		out := e.Run(x, n, false).Out
		if i == 0 {
			sp.Layers, first = e.Layers(), out
		} else if !slices.Equal(out, first) {
			return nil, fmt.Errorf("bench: %w: %v (NoVNNI %v) and %v (NoVNNI %v)",
				ErrPlansDisagree, o.Plans[0].Path, o.Plans[0].NoVNNI, p.Path, p.NoVNNI)
		}
		runs = append(runs, func() error { e.Run(x, n, false); return nil })
	}
	if fm := o.Float; fm != nil {
		xt := tensor.FromData(x, n, im.InH, im.InW, im.InC)
		tp := autodiff.NewTape(th)
		want := fm.Forward(tp, tp.Constant(xt), false).Value.Data
		got, err := fm.Infer(ctx, xt, th)
		if err != nil {
			return nil, fmt.Errorf("bench: float inference: %w", err)
		}
		if !slices.Equal(got.Data, want) {
			return nil, fmt.Errorf("bench: %w", ErrFloatDisagrees)
		}
		tp.Reset()
		runs = append(runs, func() error {
			_, err := fm.Infer(ctx, xt, th)
			return err
		})
	}
	best := make([]time.Duration, len(runs))
	spent := make([]time.Duration, len(runs))
	for i := range best {
		best[i] = 1 << 62
	}
	for slices.Min(spent) < o.MinTime || spent[0] == 0 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bench: inference: %w", err)
		}
		for i, run := range runs {
			start := time.Now()
			if err := run(); err != nil {
				return nil, fmt.Errorf("bench: float inference: %w", err)
			}
			d := time.Since(start)
			best[i], spent[i] = min(best[i], d), spent[i]+d
		}
	}
	rate := func(d time.Duration) float64 { return float64(n) / max(d, time.Nanosecond).Seconds() }
	for i := range o.Plans {
		sp.ImagesPerSec = append(sp.ImagesPerSec, rate(best[i]))
	}
	if o.Float != nil {
		sp.FloatImagesPerSec = rate(best[len(o.Plans)])
	}
	return sp, nil
}
