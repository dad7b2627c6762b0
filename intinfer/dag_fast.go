package intinfer

import (
	"math"
	"sync"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// The fused form of a model with branches: what the fused pipeline of
// fast_plan.go does for chains, for a graph. Chunks of a few images go
// through the whole graph, one worker each, so that a chunk's activations
// stay in cache. Every source's integers (a layer's accumulators, a sum,
// a global average) are int32 in per-worker scratch. An edge maps its
// source to levels with the vector program of vecmap.go where that has
// been checked against the edge's thresholds, and otherwise with the
// requantisation tables of the chain pipeline (fast_requant.go), built
// from the thresholds clamped to the source's exact integer range; then it
// moves the resulting bytes. Each layer runs on its fused stage (im2col
// and the dense kernels, the sparse kernel, chosen by the cost model as
// for a chain, or a depthwise convolution's direct kernel). The result
// equals the general graph path's (dag_run.go) bit for bit.
//
// Bytes between an edge's thresholds and its reader hold levels offset by
// the quantizer's lowest level (level − lo, so 0 … 2^N − 1): max pooling
// and padding work on them unsigned whatever the quantizer's sign, and a
// signed layer input becomes its two's complement bytes at the end.
//
// The fused form applies when every layer runs on the integer kernels (so
// none can overflow), every quantizer between layers has at most 256
// levels and every source's range fits int32; otherwise the general path
// runs.

// dagFast is the fused form of an engine's graph model.
type dagFast struct {
	// stages are the layers' fused stages (geometry for one image), by
	// layer index; in are their input edges.
	stages []fastStage
	in     []*fastEdge
	srcs   []dagFastSrc // in the plan's order
	out    *fastEdge
	// outSize is the number of output values per image.
	outSize  int
	outShape []int
	chunk    int
	scratch  sync.Pool
	// plan and layers are the engine's, for building the edges.
	plan   *dagPlan
	layers []*layerRun
}

// dagFastSrc is one integer source of the fused form.
type dagFastSrc struct {
	src *dagSource
	// size is the scratch values per image (a sparse layer's accumulators
	// keep its padded grid); n the source's values per image.
	size, n int
	// lo, hi bound the source's integers.
	lo, hi int64
	in     []*fastEdge // a sum's or average's input edges
}

// fastEdge is an edge of the fused form.
type fastEdge struct {
	e     *edge
	parts []*fastEdge
	// src is the source's position in dagFast.srcs; c its channels.
	src, c int
	// q thresholds the source (levels offset to start at 0); neg marks
	// the channels thresholded in −x.
	q   *requant
	neg bool
	// vm, when set, evaluates the map itself instead of q's tables.
	vm *vecMap
	// fill holds each pad's offset fill by move index.
	fill map[int][]uint8
}

// dagScratch is one worker's buffers, for dagFast.chunk images.
type dagScratch struct {
	fs    fastScratch // the stages' patch and plane buffers
	src   [][]int32   // per source
	bytes arena[uint8]
	ints  arena[int32]
	flt   arena[float32]
}

// arena hands out buffers from one slice, reused after each reset. Each
// buffer has room for slack more values (its capacity), which word-wise
// copies may read. A request past the slice's end gets a fresh buffer, and
// the next reset grows the slice to the largest total asked for between
// two resets.
type arena[T any] struct {
	buf         []T
	off, needed int
}

func (a *arena[T]) reset() {
	if a.needed > len(a.buf) {
		a.buf = make([]T, a.needed)
	}
	a.off = 0
}

// get returns a buffer of n values (not cleared).
func (a *arena[T]) get(n int) []T {
	end := a.off + n + slack
	a.needed = max(a.needed, end)
	if end <= len(a.buf) {
		b := a.buf[a.off : a.off+n : end]
		a.off = end
		return b
	}
	a.off = end
	return make([]T, n, n+slack)
}

// planDAG builds the fused form of e's graph model, or returns nil.
func planDAG(e *Engine) *dagFast {
	p := e.m.dag
	for _, lr := range e.layers {
		if lr.kerns == nil || lr.l.InputBits > 8 {
			return nil
		}
	}
	f := &dagFast{stages: make([]fastStage, len(e.layers)), in: make([]*fastEdge, len(e.layers)), plan: p, layers: e.layers}
	pos := map[int]int{}
	colSize, planeSize, srcSize, valSize := 0, 0, 0, 0
	for _, idx := range p.order {
		src := p.sources[idx]
		fs := dagFastSrc{src: src, n: prod(src.shape)}
		fs.size = fs.n
		switch src.kind {
		case srcAcc:
			li := src.layer
			lr := e.layers[li]
			l := lr.l
			in, ok := f.edge(p.layerIn[li], pos)
			if !ok {
				return nil
			}
			f.in[li] = in
			st := &f.stages[li]
			st.lr = lr
			st.g = layerGeom(l, 1, in.e.sym.shape)
			if st.g.Validate() != nil {
				return nil // FromModel checked the shapes
			}
			// The stage's input: a transposed convolution's is spread.
			st.inSize = st.g.H * st.g.W * st.g.C
			colSize = max(colSize, st.setKernels())
			acc, planes := st.fitSparse()
			fs.size = max(fs.size, acc)
			planeSize += planes
			r := accum.ExactRange(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned)
			fs.lo, fs.hi = r.Min, r.Max
			valSize = max(valSize, st.inSize)
		case srcSum, srcMean:
			for _, ed := range src.in {
				in, ok := f.edge(ed, pos)
				if !ok {
					return nil
				}
				fs.in = append(fs.in, in)
				fs.lo += int64(ed.q.lo)
				fs.hi += int64(ed.q.hi)
				valSize = max(valSize, prod(ed.sym.shape))
			}
			if src.kind == srcMean {
				fs.lo, fs.hi = int64(src.hw)*fs.lo, int64(src.hw)*fs.hi
			}
		}
		// Thresholds in −x need the negated range too.
		if fs.lo <= math.MinInt32+1 || fs.hi >= math.MaxInt32-1 {
			return nil
		}
		pos[idx] = len(f.srcs)
		f.srcs = append(f.srcs, fs)
		srcSize += fs.size
	}
	out, ok := f.edge(p.out, pos)
	if !ok || p.out.sym.kind == srcImage {
		return nil
	}
	f.out = out
	f.outShape = p.out.sym.shape
	f.outSize = prod(f.outShape)
	// A chunk's integers, patches, planes and edge values (bytes, several
	// live at once) and float output near chunkBytes.
	per := 4*srcSize + colSize + 2*planeSize + 4*valSize + 8*f.outSize
	f.chunk = min(chunkImages, max(1, chunkBytes/max(per, 1)))
	for li := range f.stages {
		f.stages[li].chooseKernel(f.chunk, e.o.Path)
	}
	f.scratch.New = func() any {
		s := &dagScratch{src: make([][]int32, len(f.srcs))}
		for i, src := range f.srcs {
			s.src[i] = make([]int32, f.chunk*src.size)
		}
		s.fs.col = make([]uint8, f.chunk*colSize+slack)
		s.fs.planes = make([][]uint8, len(f.stages))
		for i, st := range f.stages {
			if st.sp != nil {
				s.fs.planes[i] = st.sp.newPlanes(st.lr.l.InputSigned)
			}
		}
		return s
	}
	return f
}

// edge returns the fused form of e, whose sources are at pos in f.srcs,
// and false when it has none.
func (f *dagFast) edge(e *edge, pos map[int]int) (*fastEdge, bool) {
	fe := &fastEdge{e: e}
	if e.q != nil && e.q.hi-e.q.lo > math.MaxUint8 {
		return nil, false
	}
	if e.parts != nil {
		for _, part := range e.parts {
			fp, ok := f.edge(part, pos)
			if !ok {
				return nil, false
			}
			fe.parts = append(fe.parts, fp)
		}
	}
	if e.q != nil {
		for mi, fill := range e.fill {
			b := make([]uint8, len(fill))
			for ch, v := range fill {
				b[ch] = uint8(v - e.q.lo)
			}
			if fe.fill == nil {
				fe.fill = map[int][]uint8{}
			}
			fe.fill[mi] = b
		}
	}
	if e.parts != nil || e.sym.kind == srcImage {
		return fe, true
	}
	i, ok := pos[e.sym.src]
	if !ok {
		return nil, false
	}
	src := &f.srcs[i]
	fe.src, fe.c = i, e.sym.srcShape[len(e.sym.srcShape)-1]
	if e.q == nil {
		return fe, true
	}
	amin, amax := src.lo, src.hi
	for _, n := range e.neg {
		if n {
			fe.neg = true
			amin, amax = min(amin, -src.hi), max(amax, -src.lo)
		}
	}
	thr, guess := clampThresholds(e.thr, e.tsize, amin, amax)
	q := baseRequant(thr, guess, fe.c, e.tsize-1, 0, math.MinInt32)
	fe.q = &q
	if !fe.neg {
		if vm := newVecMap(f.plan, e, fe.c, f.layers); vm != nil && vm.verify(&q, int32(amin), int32(amax)) {
			fe.vm = vm
			return fe, true
		}
	}
	q.tables(int32(amin), int32(amax))
	return fe, true
}

// runDAGFast computes n images x with the fused form; with capture set, it
// keeps every layer's integer input.
func (e *Engine) runDAGFast(x []float32, n int, capture bool) *Result {
	f := e.dagFast
	res := e.newResult()
	res.Shape = append([]int(nil), f.outShape...)
	res.Out = make([]float32, n*f.outSize)
	if capture {
		res.Inputs = make([][]int32, len(f.stages))
		for i := range f.stages {
			res.Inputs[i] = make([]int32, n*prod(f.in[i].e.sym.shape))
		}
	}
	in := e.m.InH * e.m.InW * e.m.InC
	eachChunk(n, f.chunk, e.o.Threads, func(th, b0, nb int) {
		s := f.scratch.Get().(*dagScratch)
		defer f.scratch.Put(s)
		f.run(s, th, x[b0*in:(b0+nb)*in], nb, res.Out[b0*f.outSize:(b0+nb)*f.outSize], res.Inputs, b0)
	})
	return res
}

// run computes the graph on nb images x, writing the float outputs to
// out; with inputs non-nil, it stores each layer's input as integers at
// image b0 of inputs[layer].
func (f *dagFast) run(s *dagScratch, th int, x []float32, nb int, out []float32, inputs [][]int32, b0 int) {
	for i := range f.srcs {
		src := &f.srcs[i]
		buf := s.src[i]
		s.bytes.reset()
		s.ints.reset()
		switch src.src.kind {
		case srcAcc:
			li := src.src.layer
			st := &f.stages[li]
			l := st.lr.l
			xin, _ := f.in[li].bytes(s, nb, x)
			if lo := f.in[li].e.q.lo; lo != 0 {
				for j, v := range xin {
					xin[j] = v + uint8(lo)
				}
			}
			if inputs != nil {
				size := len(xin) / nb
				widenBytes(inputs[li][b0*size:(b0+nb)*size], xin, l.InputSigned)
			}
			if l.Kind == "conv_transpose" {
				xin = spread(l, xin, nb, f.in[li].e.sym.shape, s.bytes.get)
			}
			g := st.g
			g.N = nb
			s.fs.acc = buf
			// The patch copies may read words past the input, into the
			// arena's slack.
			st.accumulate(&s.fs, li, th, xin[:len(xin)+slack], nb, &g, false)
		case srcSum:
			sum := buf[:nb*src.n]
			for k, fe := range src.in {
				b, _ := fe.bytes(s, nb, x)
				addLevels(sum, b, fe.e.q.lo, k == 0)
			}
		case srcMean:
			fe := src.in[0]
			b, shape := fe.bytes(s, nb, x)
			c := shape[2]
			hw := shape[0] * shape[1]
			bias := int32(hw) * fe.e.q.lo
			for im := 0; im < nb; im++ {
				o := buf[im*c : (im+1)*c]
				for ch := range o {
					o[ch] = bias
				}
				for q := 0; q < hw; q++ {
					for ch, v := range b[(im*hw+q)*c:][:c] {
						o[ch] += int32(v)
					}
				}
			}
		}
	}
	s.flt.reset()
	e := f.out.e
	src := s.src[f.out.src][:nb*f.srcs[f.out.src].n]
	c := f.out.c
	v := s.flt.get(len(src))
	for i, a := range src {
		v[i] = e.value(i%c, int64(a))
	}
	y, _ := applyMoves(1, nb, e.sym.moves, v, e.sym.srcShape, fillOf(e.ffill, 0), s.flt.get)
	copy(out, y)
}

// bytes computes the edge's offset levels for nb images of the chunk (the
// float images x feed an edge from the image) in the scratch's byte arena,
// and their shape per image.
func (fe *fastEdge) bytes(s *dagScratch, nb int, x []float32) ([]uint8, []int) {
	e := fe.e
	var out []uint8
	var shape []int
	moves, skip := e.sym.moves, 0
	switch {
	case fe.parts != nil:
		var ps [][]uint8
		var cs []int
		for _, p := range fe.parts {
			v, sh := p.bytes(s, nb, x)
			ps, cs = append(ps, v), append(cs, sh[len(sh)-1])
			shape = sh
		}
		out, shape = concat(ps, cs, shape, s.bytes.get)
	case e.sym.kind == srcImage:
		out = s.bytes.get(len(x))
		shape = e.sym.srcShape
		lo, hi := float32(e.q.lo), float32(e.q.hi)
		if len(e.sym.chain) == 0 && e.q.lo == 0 {
			quantizeBytes(out, x, e.q.s, lo, hi)
			break
		}
		c := shape[2]
		for i, v := range x {
			out[i] = uint8(int32(thresh.Quantize(e.chained(i%c, v), e.q.s, lo, hi)) - e.q.lo)
		}
	default:
		src := s.src[fe.src][:nb*prod(e.sym.srcShape)]
		shape = e.sym.srcShape
		if fe.neg {
			neg := s.ints.get(len(src))
			for i, v := range src {
				if e.neg[i%fe.c] {
					v = -v
				}
				neg[i] = v
			}
			src = neg
		}
		// Max pools that come first pool the integers, then a quarter
		// (for 2×2) are mapped: the edge's map is non-decreasing in
		// them (in −x for the negated channels), so the largest integer
		// has the largest level, as the general path's pooled levels.
		for skip < len(moves) && moves[skip].kind == OpMaxPool && len(shape) == 3 {
			mv := &moves[skip]
			h, w, c := shape[0], shape[1], shape[2]
			oh, ow := tensor.PoolOut(h, mv.k, mv.stride, 0), tensor.PoolOut(w, mv.k, mv.stride, 0)
			pooled := s.ints.get(nb * oh * ow * c)
			maxPoolInto(nb, h, w, c, mv.k, mv.stride, src, pooled)
			src, shape = pooled, []int{oh, ow, c}
			skip++
		}
		out = s.bytes.get(len(src))
		if fe.vm != nil {
			fe.vm.rows(src, out)
		} else {
			fe.q.rows(src, out)
		}
	}
	return applyMoves(1, nb, moves[skip:], out, shape, fillOf(fe.fill, skip), s.bytes.get)
}

// addLevels adds the offset levels b (each level − lo) to sum as levels:
// sum[i] += b[i] + lo, or with set, sum[i] = b[i] + lo.
func addLevels(sum []int32, b []uint8, lo int32, set bool) {
	b = b[:len(sum)]
	done := 0
	if useAVX2 && len(sum) >= 8 {
		widenAddAVX2(&sum[0], &b[0], len(sum), lo, set)
		done = len(sum) &^ 7
	}
	if set {
		for j, v := range b[done:] {
			sum[done+j] = int32(v) + lo
		}
		return
	}
	for j, v := range b[done:] {
		sum[done+j] += int32(v) + lo
	}
}
