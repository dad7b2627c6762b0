package data

import (
	"fmt"
	"math/rand/v2"
)

// Augment describes random training-time augmentation, CIFAR style: a
// random crop from the image padded with zeros, and a random horizontal
// flip. The zero value does nothing.
//
// For super-resolution sets the same crop offset (scaled by TH/H) and the
// same flip apply to the input and its target, so pairs stay aligned.
type Augment struct {
	// Pad is the zero padding added on each side before cropping back to
	// H×W at a uniformly random offset in [0, 2·Pad]²; 0 disables the crop.
	Pad int
	// Flip mirrors each example left-right with probability 1/2.
	Flip bool
	// Seed seeds the augmentation's own random stream, independent of the
	// shuffling: the same seed gives the same augmented batches.
	Seed uint64
}

// enabled reports whether a does anything.
func (a Augment) enabled() bool { return a.Pad > 0 || a.Flip }

// augmentInto writes the augmented c×h×w image src to dst (which must not
// overlap src): dst(y, x) = src(y+oy, x+ox), zero outside src, then
// mirrored left-right if flip.
func augmentInto(dst, src []float32, c, h, w, oy, ox int, flip bool) {
	for ch := range c {
		sp, dp := src[ch*h*w:(ch+1)*h*w], dst[ch*h*w:(ch+1)*h*w]
		for y := range h {
			drow := dp[y*w : (y+1)*w]
			sy := y + oy
			if sy < 0 || sy >= h {
				clear(drow)
				continue
			}
			srow := sp[sy*w : (sy+1)*w]
			for x := range w {
				sx := x + ox
				if flip {
					sx = w - 1 - x + ox
				}
				if sx < 0 || sx >= w {
					drow[x] = 0
				} else {
					drow[x] = srow[sx]
				}
			}
		}
	}
}

// A Batcher iterates over a Set in mini-batches, copying examples into the
// caller's buffers: one pass over the set is an epoch. With a random source
// the order is reshuffled at the start of every epoch; with augmentation each
// example is transformed as it is copied. A Batcher is not safe for
// concurrent use.
type Batcher struct {
	set    *Set
	batch  int
	rng    *rand.Rand
	aug    Augment
	augRng *rand.Rand
	order  []int
	pos    int
	epoch  int
	done   bool
}

// NewBatcher returns a Batcher over s with batches of at most batch
// examples. If rng is non-nil the order is shuffled with it at the start of
// every epoch; otherwise examples come in order. aug is applied to every
// example (use Augment{} for none). It panics if batch < 1.
func NewBatcher(s *Set, batch int, rng *rand.Rand, aug Augment) *Batcher {
	if batch < 1 {
		panic(fmt.Sprintf("data: batch size %d < 1", batch))
	}
	b := &Batcher{set: s, batch: batch, rng: rng, aug: aug, order: make([]int, s.N)}
	if aug.enabled() {
		b.augRng = rand.New(rand.NewPCG(aug.Seed, 0x6a09e667f3bcc909))
	}
	for i := range b.order {
		b.order[i] = i
	}
	b.startEpoch()
	return b
}

// startEpoch resets the position and reshuffles.
func (b *Batcher) startEpoch() {
	b.pos = 0
	b.done = false
	if b.rng != nil {
		b.rng.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
	}
}

// Batches returns the number of batches in an epoch (the last may be
// partial).
func (b *Batcher) Batches() int { return (b.set.N + b.batch - 1) / b.batch }

// Epoch returns the number of epochs completed so far.
func (b *Batcher) Epoch() int { return b.epoch }

// Next fills x (at least batch·C·H·W values) with the next examples of the
// epoch, labels (at least batch values, or nil) with their classes and y
// (at least batch·TC·TH·TW values, or nil) with their super-resolution
// targets, and returns how many examples it filled: batch, or fewer at the
// end of the epoch. When the epoch is exhausted it returns n = 0 and
// ok = false, and the following call starts a new epoch (reshuffled).
//
// It panics if a buffer is too short, or labels or y is requested from a
// set that has none.
func (b *Batcher) Next(x []float32, labels []int, y []float32) (n int, ok bool) {
	s := b.set
	if b.done {
		b.startEpoch()
	}
	if b.pos >= s.N {
		b.done = true
		b.epoch++
		return 0, false
	}
	n = min(b.batch, s.N-b.pos)
	size, tsize := s.Size(), s.TargetSize()
	if len(x) < n*size {
		panic(fmt.Sprintf("data: Batcher.Next: x has %d values, need %d", len(x), n*size))
	}
	if labels != nil && (s.Labels == nil || len(labels) < n) {
		panic(fmt.Sprintf("data: Batcher.Next: labels has %d values, need %d from a set with labels", len(labels), n))
	}
	if y != nil && (s.Y == nil || len(y) < n*tsize) {
		panic(fmt.Sprintf("data: Batcher.Next: y has %d values, need %d from a set with targets", len(y), n*tsize))
	}
	for k := range n {
		i := b.order[b.pos+k]
		xd := x[k*size : (k+1)*size]
		var yd []float32
		if y != nil {
			yd = y[k*tsize : (k+1)*tsize]
		}
		if b.augRng == nil {
			copy(xd, s.Example(i))
			if yd != nil {
				copy(yd, s.Target(i))
			}
		} else {
			b.augment(xd, yd, i)
		}
		if labels != nil {
			labels[k] = s.Labels[i]
		}
	}
	b.pos += n
	return n, true
}

// augment writes the augmented example i (and its target) to xd and yd.
// The random draws are made whether or not yd is wanted, so that the
// inputs do not depend on it.
func (b *Batcher) augment(xd, yd []float32, i int) {
	s, a := b.set, b.aug
	dy, dx := a.Pad, a.Pad
	if a.Pad > 0 {
		dy, dx = b.augRng.IntN(2*a.Pad+1), b.augRng.IntN(2*a.Pad+1)
	}
	flip := a.Flip && b.augRng.IntN(2) == 1
	oy, ox := dy-a.Pad, dx-a.Pad
	augmentInto(xd, s.Example(i), s.C, s.H, s.W, oy, ox, flip)
	if yd != nil {
		// Targets are TH/H times larger: scale the offsets.
		ry, rx := s.TH/s.H, s.TW/s.W
		augmentInto(yd, s.Target(i), s.TC, s.TH, s.TW, oy*ry, ox*rx, flip)
	}
}
