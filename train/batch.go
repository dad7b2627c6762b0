package train

import (
	"iter"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Batch holds one mini-batch converted to the engine's NHWC layout.
type Batch struct {
	set        *data.Set
	nchw, x, y []float32
	ynchw      []float32
	Labels     []int
	cap        int
}

// NewBatch allocates buffers for batches of up to n examples of s.
func NewBatch(s *data.Set, n int) *Batch {
	b := &Batch{set: s, cap: n, nchw: make([]float32, n*s.Size()), x: make([]float32, n*s.Size())}
	if s.Labels != nil {
		b.Labels = make([]int, n)
	}
	if s.Y != nil {
		b.ynchw = make([]float32, n*s.TargetSize())
		b.y = make([]float32, n*s.TargetSize())
	}
	return b
}

// Next fills the batch from bt and returns the number of examples.
func (b *Batch) Next(bt *data.Batcher) (int, bool) {
	n, ok := bt.Next(b.nchw, b.Labels, b.ynchw)
	if !ok {
		return 0, false
	}
	s := b.set
	tensor.NCHWToNHWC(b.x, b.nchw, n, s.C, s.H, s.W)
	if b.ynchw != nil {
		tensor.NCHWToNHWC(b.y, b.ynchw, n, s.TC, s.TH, s.TW)
	}
	return n, true
}

// X returns the first n inputs as an N×H×W×C tensor.
func (b *Batch) X(n int) *tensor.Tensor {
	s := b.set
	return tensor.FromData(b.x[:n*s.Size()], n, s.H, s.W, s.C)
}

// Y returns the first n targets as an N×H×W×C tensor.
func (b *Batch) Y(n int) *tensor.Tensor {
	s := b.set
	return tensor.FromData(b.y[:n*s.TargetSize()], n, s.TH, s.TW, s.TC)
}

// FirstInputs returns the first n examples of s (all of them if fewer) as
// one N×H×W×C batch, in the set's order.
func FirstInputs(s *data.Set, n int) *tensor.Tensor {
	n = min(n, s.N)
	b := NewBatch(s, n)
	got, _ := b.Next(data.NewBatcher(s, n, nil, data.Augment{}))
	return b.X(got)
}

// inOrder yields the first limit examples of s (all of them when limit is
// 0), in the set's order and size at a time, as inputs and targets (nil
// for a set without targets). The tensors are reused from one batch to
// the next.
func inOrder(s *data.Set, size, limit int) iter.Seq2[*tensor.Tensor, *tensor.Tensor] {
	return func(yield func(x, y *tensor.Tensor) bool) {
		b := NewBatch(s, size)
		batcher := data.NewBatcher(s, size, nil, data.Augment{})
		for seen := 0; limit == 0 || seen < limit; {
			n, ok := b.Next(batcher)
			if !ok {
				return
			}
			if limit > 0 {
				n = min(n, limit-seen)
			}
			var y *tensor.Tensor
			if s.Y != nil {
				y = b.Y(n)
			}
			if !yield(b.X(n), y) {
				return
			}
			seen += n
		}
	}
}
