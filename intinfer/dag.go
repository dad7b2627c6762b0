package intinfer

import (
	"fmt"
	"slices"

	"github.com/a2qtoolkit/a2q/thresh"
)

// Integer inference of networks with branches (an nn.DAG: residual sums,
// concatenations, global average pooling).
//
// Every value the fake-quantized model computes between layers is a
// per-channel monotone float function of an integer tensor, its source: a
// layer's accumulator (y = Requant(acc)), a quantized sum
// (quant.Sum: y = s·Σ k_i), a quantized global average (quant.OnGrid:
// y = (S·(1/HW))·s for the integer sum S of a channel over the image), or
// the image itself. On the way from a source to the quantizer that reads
// the value (a layer's input quantizer, a sum's, an average's) lie
// elementwise monotone operations (batch norms in evaluation mode, ReLUs,
// clips, leaky ReLUs with a non-negative slope), which compose into the
// channel's map, and operations that only move or select values (max
// pooling, flatten, padding, nearest resize, depth to space,
// concatenation). The engine applies each edge's map to the source's
// integers through thresholds, found by binary search on the exact float32
// operations the fake-quantized model performs (a decreasing channel, after
// a batch norm with a negative scale, is thresholded in −x), then moves
// the resulting integers. Max pooling commutes with the map where the part
// of it after the pool is non-decreasing, the only case accepted; padding
// fills with the map of the pad value. Integer sums and averages are
// computed exactly on the integers. Only the network's output is float,
// computed from its source with the same float32 operations.

// srcKind is the kind of an integer source.
type srcKind int

const (
	srcImage srcKind = iota // the float image (quantized by the first layers)
	srcAcc                  // a layer's accumulator
	srcSum                  // a quantized sum: y = s·k
	srcMean                 // a quantized global average: y = (S·inv)·s
)

// elem is one elementwise float operation of an edge's chain.
type elem struct {
	norm   *Norm   // batch norm, or nil
	lo, hi float32 // clip bounds (ReLU: [0, +Inf])
	leaky  bool
	alpha  float32
}

func (e *elem) apply(c int, v float32) float32 {
	switch {
	case e.norm != nil:
		return e.norm.apply(c, v)
	case e.leaky:
		if v > 0 {
			return v
		}
		return e.alpha * v
	}
	return min(max(v, e.lo), e.hi)
}

// sign is the direction of the operation in channel c: 1 non-decreasing,
// −1 non-increasing, 0 constant.
func (e *elem) sign(c int) int {
	if e.norm == nil {
		return 1
	}
	switch g := e.norm.Gamma[c]; {
	case g > 0:
		return 1
	case g < 0:
		return -1
	}
	return 0
}

// move is one data-movement operation of an edge.
type move struct {
	kind      OpKind // OpMaxPool, OpFlatten, OpPixelShuffle, opDCR, opPad, opResize
	k, stride int
	r         int
	pads      [4]int
	value     float32 // pad value (before the chain's remaining elements)
	at        int     // chain elements [at:] come after this move
}

const (
	opDCR    OpKind = "depth_to_space_dcr"
	opPad    OpKind = "pad"
	opResize OpKind = "resize"
)

// sym is what FromModel knows of a value while it walks the DAG: its
// source, chain and moves, or the parts of a concatenation.
type sym struct {
	src      int // value index of the source (0: the image)
	kind     srcKind
	chain    []elem
	moves    []move
	parts    []*sym // concatenation (chain empty; moves after the join)
	shape    []int  // the value's shape per example
	srcShape []int
	// perChannel is false once a move mixed channels into positions
	// (flatten, depth to space): channel-dependent elements would then no
	// longer be the source channel's.
	perChannel bool
}

func (s *sym) clone() *sym {
	c := *s
	c.chain = slices.Clone(s.chain)
	c.moves = slices.Clone(s.moves)
	c.parts = slices.Clone(s.parts)
	c.shape = slices.Clone(s.shape)
	return &c
}

// quantizer is the integer grid an edge quantizes onto.
type quantizer struct {
	s      float32
	lo, hi int32
}

// edge produces the integers a quantizer reads (or, q nil, the float
// output) from a source.
type edge struct {
	sym   *sym
	q     *quantizer
	parts []*edge
	// Thresholds per source channel (tsize slots, padded with Unreached),
	// and whether the channel is thresholded in −x.
	thr   []int64
	tsize int
	neg   []bool
	// base of the source's float value, per channel.
	base func(c int, x int64) float32
	// fill and ffill hold, by move index, each pad's fill per source
	// channel (one value where channels are mixed): quantized, and as the
	// float output has it.
	fill  map[int][]int32
	ffill map[int][]float32
}

// dagSource is one source's description for the run.
type dagSource struct {
	kind  srcKind
	layer int // srcAcc: index into the engine's layers
	in    []*edge
	s     float32 // srcSum, srcMean
	hw    int     // srcMean
	shape []int
}

// dagPlan is the integer form of a model with branches.
type dagPlan struct {
	sources map[int]*dagSource // by value index
	order   []int              // value indices of the sources, in order
	layerIn []*edge            // per layer, its input edge
	out     *edge
}

// withElem returns x followed by el (for every part of a concatenation).
func withElem(x *sym, el elem) *sym {
	s := x.clone()
	if s.parts != nil && len(s.moves) == 0 {
		for i, p := range s.parts {
			s.parts[i] = withElem(p, el)
		}
		return s
	}
	s.chain = append(s.chain, el)
	return s
}

// withMove returns x followed by the data movement mv, with the value's
// new shape.
func withMove(x *sym, mv move) (*sym, error) {
	s := x.clone()
	mv.at = len(s.chain)
	sh := s.shape
	switch mv.kind {
	case OpFlatten:
		s.shape = []int{prod(sh)}
		s.perChannel = false
	default:
		if len(sh) != 3 {
			return nil, fmt.Errorf("an image operation on shape %v", sh)
		}
		switch mv.kind {
		case OpMaxPool:
			st := max(mv.stride, 1)
			if sh[0] < mv.k || sh[1] < mv.k {
				return nil, fmt.Errorf("pool %d on %v", mv.k, sh)
			}
			s.shape = []int{(sh[0]-mv.k)/st + 1, (sh[1]-mv.k)/st + 1, sh[2]}
		case OpPixelShuffle, opDCR:
			if mv.r < 1 || sh[2]%(mv.r*mv.r) != 0 {
				return nil, fmt.Errorf("depth to space by %d of %v", mv.r, sh)
			}
			s.shape = []int{sh[0] * mv.r, sh[1] * mv.r, sh[2] / (mv.r * mv.r)}
			s.perChannel = false
		case opPad:
			p := mv.pads
			s.shape = []int{sh[0] + p[0] + p[2], sh[1] + p[1] + p[3], sh[2]}
		case opResize:
			s.shape = []int{sh[0] * mv.r, sh[1] * mv.r, sh[2]}
		}
	}
	if s.parts != nil {
		// Moves after a concatenation apply to the joined integers; only
		// channel-uniform elements may follow them.
		s.perChannel = s.perChannel && mv.kind != OpFlatten
	}
	s.moves = append(s.moves, mv)
	return s, nil
}

// newEdge prepares the thresholds (or, q nil, the float map) of x's
// source for quantizer q.
func (p *dagPlan) newEdge(x *sym, q *quantizer, ls []*Layer) (*edge, error) {
	e := &edge{sym: x, q: q}
	if x.parts != nil {
		for _, part := range x.parts {
			pe, err := p.newEdge(part, q, ls)
			if err != nil {
				return nil, err
			}
			e.parts = append(e.parts, pe)
		}
		if len(x.chain) > 0 {
			return nil, fmt.Errorf("elementwise operations after a concatenation's moves are not supported")
		}
		return e, e.padFills()
	}
	// Max pooling commutes with the map when the part of it after the pool
	// (and the quantizer) is non-decreasing in every channel.
	c := x.srcShape[len(x.srcShape)-1]
	for _, mv := range x.moves {
		if mv.kind != OpMaxPool {
			continue
		}
		for ch := 0; ch < c; ch++ {
			if chainSign(x.chain[mv.at:], ch) < 0 {
				return nil, fmt.Errorf("max pooling before a batch norm with a negative scale (channel %d) does not commute with it", ch)
			}
		}
	}
	e.bind(p, ls)
	if x.kind == srcImage {
		return e, e.padFills()
	}
	if q == nil {
		return e, e.padFills()
	}
	e.tsize = int(q.hi-q.lo) + 1
	if c*e.tsize > maxValues {
		return nil, fmt.Errorf("%d channels of %d thresholds: too many", c, e.tsize-1)
	}
	e.thr = make([]int64, c*e.tsize)
	e.neg = make([]bool, c)
	for ch := 0; ch < c; ch++ {
		sign := chainSign(x.chain, ch)
		e.neg[ch] = sign < 0
		t := e.thr[ch*e.tsize : (ch+1)*e.tsize]
		f := func(v int64) int32 {
			if e.neg[ch] {
				v = -v
			}
			return e.level(ch, v)
		}
		thresh.Search(f, q.lo, q.hi, t[:e.tsize-1])
		t[e.tsize-1] = Unreached
	}
	return e, e.padFills()
}

// chainSign is the direction of a chain in channel c.
func chainSign(chain []elem, c int) int {
	s := 1
	for i := range chain {
		s *= chain[i].sign(c)
	}
	return s
}

// value is the float value the fake-quantized model computes in channel
// c from the source's integer v (not for the image).
func (e *edge) value(c int, v int64) float32 {
	return e.chained(c, e.base(c, v))
}

// chained applies the edge's chain of elementwise operations to y in
// channel c.
func (e *edge) chained(c int, y float32) float32 {
	for i := range e.sym.chain {
		y = e.sym.chain[i].apply(c, y)
	}
	return y
}

// fillOf returns the fill function applyMoves takes from fills (by move
// index, one value per source channel or one for all), for the moves
// from skip on.
func fillOf[T any](fills map[int][]T, skip int) func(i, ch int) T {
	return func(i, ch int) T {
		f := fills[skip+i]
		return f[min(ch, len(f)-1)]
	}
}

// level is the quantized level of source integer v in channel c.
func (e *edge) level(c int, v int64) int32 {
	return int32(thresh.Quantize(e.value(c, v), e.q.s, float32(e.q.lo), float32(e.q.hi)))
}

// padFills computes the fill of each of the edge's pads (by move index):
// the rest of the chain applied to the pad value, then the edge's
// quantizer, per source channel (one value where the channels are mixed
// and only channel-uniform elements follow). Fills belong to the edge: two
// readers of one padded value quantize it each on their own grid.
func (e *edge) padFills() error {
	for i, mv := range e.sym.moves {
		if mv.kind != opPad {
			continue
		}
		rest := e.sym.chain[mv.at:]
		c := 1
		if e.sym.parts == nil && e.sym.perChannel {
			c = e.sym.srcShape[len(e.sym.srcShape)-1]
		} else if slices.ContainsFunc(rest, func(el elem) bool { return el.norm != nil }) {
			return fmt.Errorf("padding before a batch norm of mixed channels")
		}
		fill, ffill := make([]int32, c), make([]float32, c)
		for ch := range c {
			y := mv.value
			for _, el := range rest {
				y = el.apply(ch, y)
			}
			ffill[ch] = y
			if e.q != nil {
				fill[ch] = int32(thresh.Quantize(y, e.q.s, float32(e.q.lo), float32(e.q.hi)))
			}
		}
		if e.fill == nil {
			e.fill, e.ffill = map[int][]int32{}, map[int][]float32{}
		}
		e.fill[i], e.ffill[i] = fill, ffill
	}
	return nil
}

// bind sets the edge's base map from the plan's sources and layers.
func (e *edge) bind(p *dagPlan, ls []*Layer) {
	switch e.sym.kind {
	case srcAcc:
		l := ls[p.sources[e.sym.src].layer]
		e.base = func(c int, v int64) float32 { return thresh.Requant(float32(v), l.Scale[c], l.Bias[c]) }
	case srcSum:
		s := p.sources[e.sym.src].s
		e.base = func(_ int, v int64) float32 { return float32(v) * s }
	case srcMean:
		src := p.sources[e.sym.src]
		inv := 1 / float32(src.hw)
		s := src.s
		e.base = func(_ int, v int64) float32 { return float32(v) * inv * s }
	}
}
