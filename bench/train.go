package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/optim"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TrainReport is the JSON document of `a2q bench train --json`.
type TrainReport struct {
	Model        string  `json:"model"`
	Quant        string  `json:"quant"`
	Batch        int     `json:"batch"`
	Threads      int     `json:"threads"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// FloatImagesPerSec is the float model's rate measured in the same
	// run, when Quant is not float.
	FloatImagesPerSec *float64 `json:"float_images_per_sec,omitempty"`
	PeakRSSMB         float64  `json:"peak_rss_mb"`
}

// TrainOptions configure Train.
type TrainOptions struct {
	Model   string
	Quant   quant.Mode
	Batch   int
	Threads int
	MinTime time.Duration
	// AccBits, WeightBits, ActBits configure the quantized hidden layers.
	AccBits, WeightBits, ActBits int
}

// Train measures training throughput (forward, backward and Adam update)
// of a model on synthetic 28×28 one-channel batches with ten classes,
// cycling through trainBatches distinct ones (or,
// for a super-resolution model, random target images). For
// a quantized model the float model is measured in the same run, the two
// alternating in rounds so that load on the machine hits both.
func Train(ctx context.Context, o TrainOptions) (TrainReport, error) {
	r := TrainReport{Model: o.Model, Quant: string(o.Quant), Batch: o.Batch, Threads: o.Threads}
	mk := func(mode quant.Mode) (*trainer, error) {
		m, err := trainModel(o.Model, quant.LayerConfig{Mode: mode, WeightBits: o.WeightBits, ActBits: o.ActBits, AccBits: o.AccBits})
		if err != nil {
			return nil, err
		}
		return newTrainer(m, o.Batch, o.Threads), nil
	}
	q, err := mk(o.Quant)
	if err != nil {
		return r, err
	}
	var f *trainer
	if o.Quant != quant.Float {
		if f, err = mk(quant.Float); err != nil {
			return r, err
		}
	}
	// Warm up (buffer pools, calibration), then alternate rounds.
	for _, t := range []*trainer{q, f} {
		if t != nil {
			t.steps(2)
		}
	}
	deadline := time.Now().Add(o.MinTime)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		q.round()
		if f != nil {
			f.round()
		}
	}
	r.ImagesPerSec = q.rate()
	if f != nil {
		fr := f.rate()
		r.FloatImagesPerSec = &fr
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.PeakRSSMB = float64(ru.Maxrss) / 1024
	}
	if r.ImagesPerSec == 0 {
		return r, fmt.Errorf("bench train: no step completed")
	}
	return r, nil
}

// trainModel builds the network Train measures: model on 28×28
// one-channel inputs with ten classes (or upscaling by 2), its hidden
// layers quantized as hidden says (all float for quant.Float), the first
// and last as the recipes quantize them.
func trainModel(model string, hidden quant.LayerConfig) (*models.Model, error) {
	if hidden.Mode == quant.Float {
		hidden = quant.LayerConfig{Mode: quant.Float}
	}
	return models.Build(models.Config{Model: model, InC: 1, InH: 28, InW: 28, Classes: 10, Scale: 2, Seed: 1,
		Hidden: hidden, First: models.DefaultEdge(hidden.Mode), Last: models.DefaultEdge(hidden.Mode)})
}

type trainer struct {
	m       *models.Model
	params  []*nn.Param
	opt     optim.Optimizer
	tape    *autodiff.Tape
	target  *tensor.Tensor // super-resolution models: the images to regress to
	xs      []*tensor.Tensor
	ys      [][]int
	next    int // the batch of the next step
	images  int
	elapsed time.Duration
}

// trainBatches is the number of distinct random batches a trainer cycles
// through: one batch repeated would be learned within the measurement,
// and the tiny gradients of a learned batch (denormals) slow x86 several
// fold, so the rate would not be that of training.
const trainBatches = 16

func newTrainer(m *models.Model, batch, threads int) *trainer {
	rng := rand.New(rand.NewPCG(1, 2))
	t := &trainer{m: m, params: m.Params(), opt: optim.NewAdam(m.Params(), 0, true), tape: autodiff.NewTape(threads)}
	for range trainBatches {
		x := tensor.New(batch, 28, 28, 1)
		for i := range x.Data {
			x.Data[i] = float32(rng.Float64())
		}
		labels := make([]int, batch)
		for i := range labels {
			labels[i] = rng.IntN(10)
		}
		t.xs, t.ys = append(t.xs, x), append(t.ys, labels)
	}
	if m.Task == models.SuperResolve {
		out := m.Forward(t.tape, t.tape.Constant(t.xs[0]), false)
		t.target = tensor.New(out.Value.Shape...)
		t.tape.Reset()
		for i := range t.target.Data {
			t.target.Data[i] = float32(rng.Float64())
		}
	}
	return t
}

func (t *trainer) steps(n int) {
	for i := 0; i < n; i++ {
		x, labels := t.xs[t.next], t.ys[t.next]
		t.next = (t.next + 1) % len(t.xs)
		nn.ZeroGrad(t.params)
		tp := t.tape
		tp.Backward(t.m.Loss(tp, tp.Constant(x), labels, t.target))
		t.opt.Step(1e-4)
		tp.Reset()
	}
}

// round runs steps for about 300 ms and records them.
func (t *trainer) round() {
	start := time.Now()
	n := 0
	for time.Since(start) < 300*time.Millisecond {
		t.steps(1)
		n++
	}
	t.elapsed += time.Since(start)
	t.images += n * t.xs[0].Shape[0]
}

func (t *trainer) rate() float64 {
	if t.elapsed == 0 {
		return 0
	}
	return float64(t.images) / t.elapsed.Seconds()
}
