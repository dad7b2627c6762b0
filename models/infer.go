package models

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// inferBytes is the working set Infer aims a chunk of images at: the
// largest activation (or patch matrix) of a chunk stays within a core's
// L2 cache, so that the layers after the GEMM read what it just wrote
// from cache instead of memory. The chunk is then rounded up to whole
// row strips of the GEMM.
const inferBytes = 256 << 10

// Infer runs the network in evaluation mode on the images x (N×H×W×C)
// and returns its outputs, without recording anything for a backward
// pass: the images go through in chunks small enough to stay in cache,
// spread over threads goroutines, each with its own tape. The outputs
// are Forward's on the whole batch, bit for bit (every layer computes an
// image from that image alone, in the same order of operations).
//
// A model with an activation quantizer that has not been calibrated yet
// runs as one batch, so that the calibration sees all of x, as Forward's
// would. Infer must not run while a layer's Observe hook is set.
func (m *Model) Infer(ctx context.Context, x *tensor.Tensor, threads int) (*tensor.Tensor, error) {
	if len(x.Shape) < 1 || x.Shape[0] < 1 {
		return nil, fmt.Errorf("models: infer: no images in a tensor of shape %v", x.Shape)
	}
	n := x.Shape[0]
	per := x.Len() / n
	threads = max(threads, 1)
	if !m.calibrated() {
		tp := autodiff.NewTape(threads)
		tp.NoGrad = true
		return m.Forward(tp, tp.Constant(x), false).Value, nil // the tape is never reset: its buffers are the caller's
	}
	run := func(tp *autodiff.Tape, lo, hi int) *tensor.Tensor {
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		return m.Forward(tp, tp.Constant(tensor.FromData(x.Data[lo*per:hi*per], shape...)), false).Value
	}
	// The first image alone gives the output's shape and the size of the
	// largest tensor an image makes, from which the chunk size follows.
	tp := inferTape()
	first := run(tp, 0, 1)
	outPer := first.Len()
	res := tensor.New(append([]int{n}, first.Shape[1:]...)...)
	copy(res.Data, first.Data)
	// A whole number of the GEMM's row strips: a dense layer after the
	// convolutions has a row per image, and a partial strip is computed
	// padded to a whole one.
	strip := gemm.RowStrip()
	chunk := max(1, inferBytes/max(4*tp.Largest(), 1))
	chunk = (chunk + strip - 1) / strip * strip
	chunk = max(1, min(chunk, (n-1+threads-1)/threads))
	tp.Reset()
	// Chunk c covers images 1+c·chunk up to 1+(c+1)·chunk.
	chunks := (n - 1 + chunk - 1) / chunk
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func(tp *autodiff.Tape) {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks || ctx.Err() != nil {
				return
			}
			lo, hi := 1+c*chunk, min(1+(c+1)*chunk, n)
			copy(res.Data[lo*outPer:hi*outPer], run(tp, lo, hi).Data)
			tp.Reset()
		}
	}
	for i := 1; i < min(threads, chunks); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(inferTape())
		}()
	}
	work(tp)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("models: infer: %w", err)
	}
	return res, nil
}

// inferTape returns a one-thread tape that records nothing and packs
// each weight matrix once.
func inferTape() *autodiff.Tape {
	tp := autodiff.NewTape(1)
	tp.NoGrad, tp.Frozen = true, true
	return tp
}

// calibrated reports whether every activation quantizer of the model
// (the layers' input quantizers and the grid quantizers) has its scale.
func (m *Model) calibrated() bool {
	for _, l := range m.Layers {
		if l.In != nil && !l.In.IsCalibrated() {
			return false
		}
	}
	for _, q := range m.Grids {
		if !q.IsCalibrated() {
			return false
		}
	}
	return true
}
