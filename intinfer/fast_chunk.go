package intinfer

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Running the fused pipeline (planned in fast_plan.go): the batch split
// into chunks, each taken through every stage by one worker.

// runFast computes n images x with the fused pipeline; with capture set,
// it keeps every layer's integer input.
func (e *Engine) runFast(x []float32, n int, capture bool) *Result {
	p := e.plan
	res := e.newResult()
	res.Shape = append([]int(nil), p.outShape...)
	res.Out = make([]float32, n*p.outSize)
	if capture {
		res.Inputs = make([][]int32, len(p.stages))
		for i, st := range p.stages {
			res.Inputs[i] = make([]int32, n*st.inSize)
		}
	}
	in := p.stages[0].inSize
	eachChunk(n, p.chunk, e.o.Threads, func(th, b0, nb int) {
		s := p.scratch.Get().(*fastScratch)
		defer p.scratch.Put(s)
		e.chunk(s, th, x[b0*in:(b0+nb)*in], nb, res.Out[b0*p.outSize:(b0+nb)*p.outSize], res.Inputs, b0)
	})
	return res
}

// eachChunk calls do on the chunks of at most cb of n images, spread over
// th threads: the workers take chunks in turn, and each call may use th
// threads divided by the workers.
func eachChunk(n, cb, th int, do func(th, b0, nb int)) {
	if n == 0 {
		return
	}
	chunks := (n + cb - 1) / cb
	th = max(th, 1)
	workers := min(th, chunks)
	inner := th / workers
	var wg sync.WaitGroup
	var next atomic.Int64
	work := func() {
		for {
			ch := int(next.Add(1)) - 1
			if ch >= chunks {
				return
			}
			b0 := ch * cb
			do(inner, b0, min(cb, n-b0))
		}
	}
	for w := 1; w < workers; w++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// chunk runs the network on nb images x, writing the float outputs to out.
// With inputs non-nil, it stores each layer's input as integers at image
// b0 of inputs[layer].
func (e *Engine) chunk(s *fastScratch, th int, x []float32, nb int, out []float32, inputs [][]int32, b0 int) {
	p := e.plan
	in, spare := s.act0, s.act1
	{
		l := p.stages[0].lr.l
		lo, hi := levels(l.InputBits, l.InputSigned)
		flo, fhi := float32(lo), float32(hi)
		quantizeBytes(in[:len(x)], x, l.InputScale, flo, fhi)
	}
	planar := false // the stage's planes hold its input (the previous stage was planar)
	for si := range p.stages {
		st := &p.stages[si]
		l := st.lr.l
		g := st.g
		g.N = nb
		g.OH, g.OW = st.g.OH, st.g.OW
		xin := in[:nb*st.inSize]
		if inputs != nil {
			widenBytes(inputs[si][b0*st.inSize:(b0+nb)*st.inSize], xin, l.InputSigned)
		}
		if pr := st.planar; pr != nil {
			next := &p.stages[si+1]
			pr.run(in[:len(xin)+slack], nb, s.planes[si+1], next.sp.ldp)
			if inputs != nil {
				pr.unplane(spare[:nb*st.outSize], s.planes[si+1], nb, l.OutC, next.sp.ldp)
			}
			in, spare, planar = spare, in, true
			continue
		}
		acc, gh, gw := st.accumulate(s, si, th, in[:len(xin)+slack], nb, &g, planar)
		planar = false
		if l.OutBits == 0 {
			e.finishFloat(s, st, acc, nb, out)
			return
		}
		outb := spare[:nb*st.preShuffle]
		h, w := g.OH, g.OW
		pools := st.pools
		if st.pooled {
			pools = nil // pooled inside the product
		}
		for pi, op := range pools {
			k, stride := op.K, tensor.PoolStride(op.K, op.Stride)
			if pi == len(pools)-1 {
				poolRequantGrid(nb, h, w, gh, gw, l.OutC, k, stride, acc, outb, &st.q)
				break
			}
			oh, ow := tensor.PoolOut(h, k, stride, 0), tensor.PoolOut(w, k, stride, 0)
			dst := s.pool0[:nb*oh*ow*l.OutC]
			if pi%2 == 1 {
				dst = s.pool1[:len(dst)]
			}
			maxPoolInto(nb, h, w, l.OutC, k, stride, acc, dst) // a sparse stage has one pool
			acc, h, w, gh, gw = dst, oh, ow, oh, ow
		}
		if len(pools) == 0 {
			st.q.rows(acc, outb)
		}
		for _, sh := range st.shuffles {
			dst := in[:len(outb)]
			tensor.PixelShuffle(nb, sh.h, sh.w, sh.c/(sh.r*sh.r), sh.r, outb, dst, false)
			outb = dst
			in, spare = spare, in
		}
		in, spare = spare, in
	}
}

// accumulate computes the stage's layer on the nb images of x (the
// stage's input bytes, followed by slack; with planar set, a sparse stage
// finds them in its planes already) into the scratch accumulators,
// which it returns with the grid of positions per image they are laid out
// in (g.OH×g.OW but for a pooled or in-place stage).
func (st *fastStage) accumulate(s *fastScratch, si, th int, x []uint8, nb int, g *tensor.ConvGeom, planar bool) (acc []int32, gh, gw int) {
	l := st.lr.l
	xin := x[:nb*st.inSize]
	if st.dw != nil {
		acc = s.acc[:nb*g.OH*g.OW*l.OutC]
		st.dw.run(g, xin, l.InputSigned, acc, &s.pad)
		return acc, g.OH, g.OW
	}
	if st.inPlace != nil {
		return st.runInPlace(th, x, nb, g, s.acc), g.H, g.W
	}
	if sp := st.sp; sp != nil {
		planes := s.planes[si]
		if !planar {
			sp.toPlanes(planes, xin, nb, g, l.InputSigned, &s.pad)
		}
		if sp.pool != nil {
			return sp.mulPooled(planes, s.acc, nb, l.OutC), g.OH / 2, g.OW / 2
		}
		return sp.mul(planes, s.acc, nb, l.OutC, g), g.OH, g.OW
	}
	if st.pooled {
		return st.runPooled(s, th, x, nb, g), g.OH / 2, g.OW / 2
	}
	rows, k, cog := nb*g.OH*g.OW, st.lda, g.CoutPerGroup
	acc = s.acc[:rows*l.OutC]
	for grp, kn := range st.kerns {
		// The patches, with their slack: a kernel reading the rows in
		// groups of 4 bytes needs no copy of them (intgemm.Kernel.MulU8).
		col := x
		if !st.direct {
			// The patch copies may move words past the end of both
			// buffers, into their slack.
			if g.Pad > 0 && g.Groups == 1 {
				im2colPadded(g, x, s.col[:rows*k+slack], k, &s.pad)
			} else {
				im2colU8(g, x, grp, s.col[:rows*k+slack], k)
			}
			col = s.col[:rows*k+slack]
		}
		if l.InputSigned {
			kn.MulS8(th, rows, asInt8(col), k, acc[grp*cog:], l.OutC)
		} else {
			kn.MulU8(th, rows, col, k, acc[grp*cog:], l.OutC)
		}
	}
	return acc, g.OH, g.OW
}

// finishFloat requantises the last layer's accumulators to floats and runs
// the float ops that follow, into out.
func (e *Engine) finishFloat(s *fastScratch, st *fastStage, acc []int32, nb int, out []float32) {
	l := st.lr.l
	cout := l.OutC
	f := out
	if len(st.post) > 0 {
		f = s.flt0[:len(acc)]
	}
	for r := 0; r+cout <= len(acc); r += cout {
		a, o := acc[r:r+cout], f[r:r+cout]
		for c, v := range a {
			o[c] = thresh.Requant(float32(v), l.Scale[c], l.Bias[c])
		}
	}
	if len(st.post) == 0 {
		return
	}
	shape := []int{st.g.OH, st.g.OW, cout}
	if l.Kind == "linear" {
		shape = []int{cout}
	}
	cur, spare := f, s.flt1
	for j, op := range st.post {
		last := j == len(st.post)-1
		switch op.Kind {
		case OpReLU:
			dst := spare[:len(cur)]
			if last {
				dst = out
			}
			for i, v := range cur {
				dst[i] = max(v, 0)
			}
			cur, spare = dst, cur[:cap(cur)]
		case OpClip, OpBatchNorm:
			dst := spare[:len(cur)]
			if last {
				dst = out
			}
			if op.Kind == OpClip {
				clipInto(dst, cur, op.Lo, op.Hi)
			} else {
				batchNormInto(dst, cur, op.Norm)
			}
			cur, spare = dst, cur[:cap(cur)]
		case OpFlatten:
			shape = []int{prod(shape)}
			if last {
				copy(out, cur)
			}
		case OpMaxPool:
			stride := tensor.PoolStride(op.K, op.Stride)
			oh, ow := tensor.PoolOut(shape[0], op.K, stride, 0), tensor.PoolOut(shape[1], op.K, stride, 0)
			dst := spare[:nb*oh*ow*shape[2]]
			if last {
				dst = out
			}
			maxPoolInto(nb, shape[0], shape[1], shape[2], op.K, stride, cur, dst)
			shape = []int{oh, ow, shape[2]}
			cur, spare = dst, cur[:cap(cur)]
		case OpPixelShuffle:
			dst := spare[:len(cur)]
			if last {
				dst = out
			}
			tensor.PixelShuffle(nb, shape[0], shape[1], shape[2]/(op.R*op.R), op.R, cur, dst, false)
			shape = []int{shape[0] * op.R, shape[1] * op.R, shape[2] / (op.R * op.R)}
			cur, spare = dst, cur[:cap(cur)]
		}
	}
}

// widenBytes writes the input bytes b (int8 when signed) to dst as
// integers.
func widenBytes(dst []int32, b []uint8, signed bool) {
	b = b[:len(dst)]
	if signed {
		for i, v := range b {
			dst[i] = int32(int8(v))
		}
		return
	}
	for i, v := range b {
		dst[i] = int32(v)
	}
}

func asInt8(b []uint8) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// quantizeBytes quantizes the float images x to the first layer's input
// bytes as thresh.Quantize does.
func quantizeBytes(dst []uint8, x []float32, s, lo, hi float32) {
	dst = dst[:len(x)]
	done := 0
	switch {
	case useAVX512 && len(x) > 0:
		quantizeAVX512(&dst[0], &x[0], len(x), s, lo, hi)
		return
	case useAVX2 && len(x) >= 8:
		quantizeAVX2(&dst[0], &x[0], len(x), s, lo, hi)
		done = len(x) &^ 7
	}
	for i, v := range x[done:] {
		dst[done+i] = uint8(int32(thresh.Quantize(v, s, lo, hi)))
	}
}

// maxPoolInto is maxPool into y (n·oh·ow·c values).
func maxPoolInto[T uint8 | int32 | int64 | float32](n, h, w, c, k, stride int, x, y []T) {
	oh, ow := tensor.PoolOut(h, k, stride, 0), tensor.PoolOut(w, k, stride, 0)
	y = y[:n*oh*ow*c]
	if k == 2 && stride == 2 {
		// The common case, a window at a time without the loops over it.
		for b := 0; b < n; b++ {
			for i := 0; i < oh; i++ {
				r0 := x[((b*h+2*i)*w)*c:][:2*ow*c]
				r1 := x[((b*h+2*i+1)*w)*c:][:2*ow*c]
				yr := y[((b*oh+i)*ow)*c:][:ow*c]
				for j := 0; j < ow; j++ {
					a0, a1 := r0[2*j*c:][:2*c], r1[2*j*c:][:2*c]
					yo := yr[j*c:][:c]
					for ch := range yo {
						yo[ch] = max(a0[ch], a0[c+ch], a1[ch], a1[c+ch])
					}
				}
			}
		}
		return
	}
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				yo := y[((b*oh+i)*ow+j)*c:][:c]
				copy(yo, x[((b*h+i*stride)*w+j*stride)*c:][:c])
				for kh := 0; kh < k; kh++ {
					for kw := 0; kw < k; kw++ {
						if kh|kw == 0 {
							continue
						}
						xi := x[((b*h+i*stride+kh)*w+j*stride+kw)*c:][:c]
						for ch, v := range xi {
							yo[ch] = max(yo[ch], v)
						}
					}
				}
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
