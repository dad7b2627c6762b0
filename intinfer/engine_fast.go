package intinfer

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// The fused pipeline runs a model whose layers are all on the integer
// kernels. It splits the batch into chunks of a few images and runs the
// whole network on one chunk at a time, so the activations of a chunk stay
// in cache; the threads take chunks in turn. Between layers the activations
// are bytes (uint8, or int8 for signed inputs), the im2col copies whole runs
// of channels, a 1×1 convolution reads its input in place, and the max
// pools and ReLUs that follow a layer are applied to its accumulators before
// the requantisation (both commute with the monotone threshold map), which
// evaluates the layer's float map with a vector kernel where this CPU has
// one and the map has been checked against the thresholds (requant_vec.go),
// and otherwise looks levels up in per-channel bucket tables without
// branches (see requant), and writes the next layer's bytes. Patches are
// copied by assembly kernels where the convolution is unpadded. Every
// buffer comes from per-engine scratch reused across runs.

// chunkImages is the number of images a chunk holds, at most: small enough
// for a chunk's activations to stay in the L2 cache, large enough for the
// kernels' row blocks. Large images get fewer per chunk, down to one, so
// that a worker's scratch stays near chunkBytes.
const (
	chunkImages = 8
	chunkBytes  = 4 << 20
	// slack is the room after the byte buffers that word-wise copies may
	// spill into.
	slack = 64
)

// fastStage is one layer of the fused pipeline with the ops that follow it.
type fastStage struct {
	lr *layerRun
	// g is the layer's geometry for one image (N = 1); a linear layer is a
	// 1×1 convolution of a 1×1 image.
	g tensor.ConvGeom
	// direct: the input is already the im2col matrix (1×1, stride 1, no
	// padding, one group).
	direct bool
	// kerns are the layer's kernels for im2col rows of lda bytes: when
	// KPerGroup is not a multiple of 4, kernels of weights padded with zeros
	// to lda, which spares the kernels a padded copy of every row block.
	kerns []*intgemm.Kernel
	lda   int
	// pools are the max pools applied to the accumulators; relu clamps the
	// requantised levels at 0.
	pools []Op
	relu  bool
	// shuffle: pixel shuffles of the integer output (R values), applied in
	// order, each with its input shape.
	shuffles []shuffleOp
	// post are the float ops after the last layer.
	post []Op
	// inSize, outSize: values per image at the layer's input and at the
	// stage's output (after the ops).
	inSize, outSize int
	// preShuffle: values per image before the pixel shuffles.
	preShuffle int
	// q requantises the accumulators to bytes.
	q requant
}

type shuffleOp struct{ h, w, c, r int }

// fastPlan is the fused pipeline of an engine, or nil when the model needs
// the general path (a layer on the scalar path, unsupported op order).
type fastPlan struct {
	stages   []fastStage
	outShape []int
	outSize  int
	// chunk is the number of images per chunk.
	chunk int
	// per-image scratch sizes
	colSize, accSize, poolSize, actSize, fltSize int
	scratch                                      sync.Pool
}

// fastScratch holds one worker's buffers, sized for fastPlan.chunk images.
type fastScratch struct {
	col          []uint8
	acc          []int32
	pool0, pool1 []int32
	act0, act1   []uint8
	flt0, flt1   []float32
}

// planFast builds the fused pipeline for e, or returns nil.
func planFast(e *Engine) *fastPlan {
	m := e.m
	for _, lr := range e.layers {
		if lr.kerns == nil || (lr.l.OutBits > 0 && lr.thr32 == nil) {
			return nil
		}
	}
	p := &fastPlan{}
	shape := []int{m.InH, m.InW, m.InC}
	ops := m.Ops
	i := 0
	for i < len(ops) && ops[i].Kind == OpFlatten {
		shape = []int{prod(shape)}
		i++
	}
	li := 0
	for i < len(ops) {
		if ops[i].Kind != OpLayer {
			return nil
		}
		lr := e.layers[li]
		l := lr.l
		li++
		i++
		var st fastStage
		st.lr = lr
		st.inSize = prod(shape)
		if l.Kind == "conv" {
			if len(shape) != 3 {
				return nil
			}
			st.g = tensor.ConvGeom{N: 1, H: shape[0], W: shape[1], C: shape[2], KH: l.KH, KW: l.KW, Stride: l.Stride, Pad: l.Pad, Groups: l.Groups, Cout: l.OutC}
		} else {
			st.g = tensor.ConvGeom{N: 1, H: 1, W: 1, C: l.InC, KH: 1, KW: 1, Groups: 1, Cout: l.OutC}
		}
		if err := st.g.Validate(); err != nil {
			return nil
		}
		g := &st.g
		st.direct = g.KH == 1 && g.KW == 1 && g.Stride <= 1 && g.Pad == 0 && g.Groups == 1
		if l.Kind == "linear" {
			shape = []int{l.OutC}
		} else {
			shape = []int{g.OH, g.OW, l.OutC}
		}
		rows := g.OH * g.OW
		st.kerns, st.lda = lr.kerns, g.KPerGroup
		if !st.direct {
			padKernels(&st)
			p.colSize = max(p.colSize, rows*st.lda)
		}
		p.accSize = max(p.accSize, rows*l.OutC)
		if l.OutBits > 0 {
			// Absorb max pools, ReLUs and flattens.
			for ; i < len(ops); i++ {
				op := ops[i]
				if op.Kind == OpMaxPool {
					if len(shape) != 3 {
						return nil
					}
					s := op.Stride
					if s == 0 {
						s = op.K
					}
					shape = []int{(shape[0]-op.K)/s + 1, (shape[1]-op.K)/s + 1, shape[2]}
					st.pools = append(st.pools, op)
					p.poolSize = max(p.poolSize, prod(shape))
				} else if op.Kind == OpReLU {
					st.relu = true
				} else if op.Kind == OpFlatten {
					shape = []int{prod(shape)}
				} else {
					break
				}
			}
			if len(st.pools) > 0 && !st.direct {
				// A pool whose windows do not reach the last rows or
				// columns drops them: the layer need not compute them
				// (a direct layer reads its input as it lies, all rows).
				k, s := st.pools[0].K, st.pools[0].Stride
				if s == 0 {
					s = k
				}
				st.g.OH, st.g.OW = (st.g.OH-k)/s*s+k, (st.g.OW-k)/s*s+k
			}
			st.preShuffle = prod(shape)
			r := accum.ExactRange(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned)
			var next *Layer
			if li < len(e.layers) {
				next = e.layers[li].l
			}
			st.q = newRequant(lr, next, st.relu, int32(r.Min), int32(r.Max))
			for ; i < len(ops) && ops[i].Kind != OpLayer; i++ {
				op := ops[i]
				switch {
				case op.Kind == OpPixelShuffle && len(shape) == 3:
					st.shuffles = append(st.shuffles, shuffleOp{shape[0], shape[1], shape[2], op.R})
					shape = []int{shape[0] * op.R, shape[1] * op.R, shape[2] / (op.R * op.R)}
				case op.Kind == OpFlatten:
					shape = []int{prod(shape)}
				default:
					return nil
				}
			}
			if i == len(ops) {
				return nil // Validate guarantees a float output
			}
			p.actSize = max(p.actSize, prod(shape))
		} else {
			p.fltSize = max(p.fltSize, prod(shape))
			for ; i < len(ops); i++ {
				op := ops[i]
				switch {
				case op.Kind == OpLayer:
					return nil
				case op.Kind == OpMaxPool && len(shape) == 3:
					s := op.Stride
					if s == 0 {
						s = op.K
					}
					shape = []int{(shape[0]-op.K)/s + 1, (shape[1]-op.K)/s + 1, shape[2]}
				case op.Kind == OpPixelShuffle && len(shape) == 3:
					shape = []int{shape[0] * op.R, shape[1] * op.R, shape[2] / (op.R * op.R)}
				case op.Kind == OpFlatten:
					shape = []int{prod(shape)}
				case op.Kind == OpReLU, op.Kind == OpClip, op.Kind == OpBatchNorm:
				default:
					return nil
				}
				st.post = append(st.post, op)
				p.fltSize = max(p.fltSize, prod(shape))
			}
		}
		st.outSize = prod(shape)
		p.stages = append(p.stages, st)
	}
	if li != len(e.layers) || len(p.stages) == 0 {
		return nil
	}
	p.actSize = max(p.actSize, p.stages[0].inSize)
	p.outShape = shape
	p.outSize = prod(shape)
	per := p.colSize + 4*p.accSize + 8*p.poolSize + 2*p.actSize + 8*p.fltSize
	p.chunk = min(chunkImages, max(1, chunkBytes/max(per, 1)))
	p.scratch.New = func() any {
		c := p.chunk
		return &fastScratch{
			col:   make([]uint8, c*p.colSize+slack),
			acc:   make([]int32, c*p.accSize),
			pool0: make([]int32, c*p.poolSize),
			pool1: make([]int32, c*p.poolSize),
			act0:  make([]uint8, c*p.actSize+slack),
			act1:  make([]uint8, c*p.actSize+slack),
			flt0:  make([]float32, c*p.fltSize),
			flt1:  make([]float32, c*p.fltSize),
		}
	}
	return p
}

// runFast computes n images x with the fused pipeline; with capture set,
// it keeps every layer's integer input.
func (e *Engine) runFast(x []float32, n int, capture bool) *Result {
	p := e.plan
	res := &Result{Overflows: make([]int64, len(e.layers)), Shape: append([]int(nil), p.outShape...)}
	res.Out = make([]float32, n*p.outSize)
	if capture {
		res.Inputs = make([][]int32, len(p.stages))
		for i, st := range p.stages {
			res.Inputs[i] = make([]int32, n*st.inSize)
		}
	}
	if n == 0 {
		return res
	}
	cb := p.chunk
	chunks := (n + cb - 1) / cb
	th := max(e.o.Threads, 1)
	workers := min(th, chunks)
	inner := th / workers // kernel threads per chunk, when chunks are few
	var next atomic.Int64
	work := func() {
		s := p.scratch.Get().(*fastScratch)
		defer p.scratch.Put(s)
		for {
			ch := int(next.Add(1)) - 1
			if ch >= chunks {
				return
			}
			b0 := ch * cb
			nb := min(cb, n-b0)
			e.chunk(s, inner, x[b0*p.stages[0].inSize:(b0+nb)*p.stages[0].inSize], nb, res.Out[b0*p.outSize:(b0+nb)*p.outSize], res.Inputs, b0)
		}
	}
	if workers <= 1 {
		work()
		return res
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return res
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
	for si := range p.stages {
		st := &p.stages[si]
		l := st.lr.l
		g := st.g
		g.N = nb
		g.OH, g.OW = st.g.OH, st.g.OW
		rows, k, cog := nb*g.OH*g.OW, st.lda, g.CoutPerGroup
		acc := s.acc[:rows*l.OutC]
		xin := in[:nb*st.inSize]
		if inputs != nil {
			dst := inputs[si][b0*st.inSize : (b0+nb)*st.inSize]
			if l.InputSigned {
				for i, v := range xin {
					dst[i] = int32(int8(v))
				}
			} else {
				for i, v := range xin {
					dst[i] = int32(v)
				}
			}
		}
		for grp, kn := range st.kerns {
			col := xin
			if !st.direct {
				// The patch copies may move words past the end of
				// both buffers, into their slack.
				im2colU8(&g, in[:len(xin)+slack], grp, s.col[:rows*k+slack], k)
				col = s.col[:rows*k]
			}
			if l.InputSigned {
				kn.MulS8(th, rows, asInt8(col), k, acc[grp*cog:], l.OutC)
			} else {
				kn.MulU8(th, rows, col, k, acc[grp*cog:], l.OutC)
			}
		}
		if l.OutBits == 0 {
			e.finishFloat(s, st, acc, nb, out)
			return
		}
		outb := spare[:nb*st.preShuffle]
		h, w := g.OH, g.OW
		for pi, op := range st.pools {
			k, stride := op.K, op.Stride
			if stride == 0 {
				stride = k
			}
			if pi == len(st.pools)-1 {
				poolRequant(nb, h, w, l.OutC, k, stride, acc, outb, &st.q)
				break
			}
			oh, ow := (h-k)/stride+1, (w-k)/stride+1
			dst := s.pool0[:nb*oh*ow*l.OutC]
			if pi%2 == 1 {
				dst = s.pool1[:len(dst)]
			}
			maxPoolInto(nb, h, w, l.OutC, k, stride, acc, dst)
			acc, h, w = dst, oh, ow
		}
		if len(st.pools) == 0 {
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
			o[c] = quant.Requant(float32(v), l.Scale[c], l.Bias[c])
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
			stride := op.Stride
			if stride == 0 {
				stride = op.K
			}
			oh, ow := (shape[0]-op.K)/stride+1, (shape[1]-op.K)/stride+1
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

func asInt8(b []uint8) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// im2colU8 writes the patches of group grp of the NHWC byte images x into
// col (g.Rows() rows of lda ≥ g.KPerGroup bytes), in (kh, kw, c) order,
// zeros in the padding and after the KPerGroup values of each row. With one
// group, the kw positions inside the image are one contiguous run of the
// input row.
func im2colU8(g *tensor.ConvGeom, x []uint8, grp int, col []uint8, lda int) {
	cg, c0, k := g.CinPerGroup, grp*g.CinPerGroup, g.KPerGroup
	whole := cg == g.C
	if whole && g.Pad == 0 {
		im2colValid(g, x, col, lda)
		return
	}
	for n := 0; n < g.N; n++ {
		img := x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				row := col[((n*g.OH+oh)*g.OW+ow)*lda:][:lda]
				clear(row[k:])
				iw0 := ow*g.Stride - g.Pad
				_, _, kw0, kw1 := g.Window(oh, ow)
				p := 0
				for kh := 0; kh < g.KH; kh++ {
					ih := oh*g.Stride - g.Pad + kh
					seg := row[p : p+g.KW*cg]
					p += g.KW * cg
					if ih < 0 || ih >= g.H || kw0 >= kw1 {
						clear(seg)
						continue
					}
					xrow := img[ih*g.W*g.C:]
					if kw0 > 0 {
						clear(seg[:kw0*cg])
					}
					if kw1 < g.KW {
						clear(seg[kw1*cg:])
					}
					if whole {
						dst := seg[kw0*cg : kw1*cg]
						src := xrow[(iw0+kw0)*g.C:][:len(dst)]
						if len(dst) <= 16 {
							for i := range dst {
								dst[i] = src[i]
							}
						} else {
							copy(dst, src)
						}
						continue
					}
					for kw := kw0; kw < kw1; kw++ {
						copy(seg[kw*cg:(kw+1)*cg], xrow[(iw0+kw)*g.C+c0:])
					}
				}
			}
		}
	}
}

// im2colValid is im2colU8 for one group without padding: every kernel row
// of a patch is one contiguous run of KW·C input bytes. Runs of at most 8
// bytes move as one 8-byte word where both slices have room (the extra
// bytes land in the next run, which is written after).
func im2colValid(g *tensor.ConvGeom, x []uint8, col []uint8, lda int) {
	run, k := g.KW*g.C, g.KPerGroup
	rowLen := g.W * g.C
	imgLen := g.H * rowLen
	kh, oh, ow := g.KH, g.OH, g.OW
	sh, sw := g.Stride*rowLen, g.Stride*g.C
	short := run <= 8
	r := 0
	for n := 0; n < g.N; n++ {
		img := x[n*imgLen : (n+1)*imgLen]
		if useAVX2 && run > 0 && k <= lda {
			// Bounds of the kernels' reads and writes (with slack for
			// the word moves).
			last := (oh-1)*sh + (ow-1)*sw + (kh-1)*rowLen
			end := (r + oh*ow) * lda
			if short && n*imgLen+last+8 <= len(x) && end+8 <= len(col) {
				im2colWords(&col[r*lda], lda, &img[0], oh, ow, sh, sw, rowLen, kh, run, k)
			} else {
				_, _ = img[last+run-1], col[end-1]
				im2colValidAVX2(&col[r*lda], lda, &img[0], oh, ow, sh, sw, rowLen, kh, run, k)
			}
			r += oh * ow
			continue
		}
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				src := i*sh + j*sw
				d := r * lda
				r++
				if short && src+(kh-1)*rowLen+8 <= len(img) && d+lda+8 <= len(col) {
					for h := 0; h < kh; h++ {
						binary.LittleEndian.PutUint64(col[d+h*run:], binary.LittleEndian.Uint64(img[src+h*rowLen:]))
					}
					// The last word spilled into the padding: zero it (and
					// what follows, the next row, written later).
					binary.LittleEndian.PutUint64(col[d+k:], 0)
					continue
				}
				for h := 0; h < kh; h++ {
					copy(col[d+h*run:d+(h+1)*run], img[src+h*rowLen:])
				}
				clear(col[d+k : d+lda])
			}
		}
	}
}

// quantizeBytes quantizes the float images x to the first layer's input
// bytes as quant.Quantize does.
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
		dst[done+i] = uint8(int32(quant.Quantize(v, s, lo, hi)))
	}
}

// padKernels gives st kernels for im2col rows padded to a multiple of 4
// bytes, when the layer's rows are not; it keeps the layer's kernels if
// intgemm refuses the padded weights.
func padKernels(st *fastStage) {
	l, g := st.lr.l, &st.g
	k := g.KPerGroup
	if k%4 == 0 {
		return
	}
	lda := (k + 3) &^ 3
	cog := g.CoutPerGroup
	var kerns []*intgemm.Kernel
	for grp := range st.lr.kerns {
		w := make([]int8, cog*lda)
		for j := 0; j < cog; j++ {
			for i, v := range l.Weights[(grp*cog+j)*k : (grp*cog+j+1)*k] {
				w[j*lda+i] = int8(v)
			}
		}
		kn, err := intgemm.NewKernel(w, cog, lda, st.lr.kerns[grp].Acc(), st.lr.info.AccBitsExact)
		if err != nil || kn.Path(l.InputSigned) != st.lr.kerns[grp].Path(l.InputSigned) {
			return
		}
		if !st.lr.kerns[grp].UsesVNNI() {
			kn.WithoutVNNI()
		}
		kerns = append(kerns, kn)
	}
	st.kerns, st.lda = kerns, lda
}

// maxPoolInto is maxPool into y (n·oh·ow·c values).
func maxPoolInto[T int32 | int64 | float32](n, h, w, c, k, stride int, x, y []T) {
	oh, ow := (h-k)/stride+1, (w-k)/stride+1
	y = y[:n*oh*ow*c]
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

// requant maps a layer's int32 accumulators to the next layer's input
// bytes: lo + #{k : acc ≥ t_k}, at least floor, exactly threshold32's count.
//
// Its first method is a bucket table per channel: the accumulator axis cut
// into buckets of width 2^shift_c, narrow enough that each holds at most
// one distinct threshold value, so one load and one comparison give the
// level. Where the tables for the whole accumulator range are small (full),
// bucket = off_c + v>>shift_c; otherwise they cover the thresholds only and
// the index is clamped. Without tables (thresholds too close for their
// span), the linear guess of threshold32 is checked against a window of
// thresholds: each channel's are padded to n + 3 values, [MinInt32, t₀ …
// t_{n−1}, sentinel, MaxInt32], so the window around any guess can be read
// without bounds tests.
type requant struct {
	buckets   []bucket
	chans     []bucketChan
	full      bool
	tp        []int32 // OutC rows of n + 3 padded thresholds
	t         []int32 // the layer's thr32 (OutC rows of n + 1)
	guess     []thrGuess
	n         int
	lo, floor int32
	// vec, when set, replaces the lookups with the vector kernel.
	vec *vecRequant
}

func newRequant(lr *layerRun, next *Layer, relu bool, amin, amax int32) requant {
	n := lr.tsize - 1
	q := requant{t: lr.thr32, guess: lr.guess, n: n, lo: lr.outLo, floor: math.MinInt32}
	if relu {
		q.floor = 0
	}
	q.tp = make([]int32, lr.l.OutC*(n+3))
	for c := 0; c < lr.l.OutC; c++ {
		row := q.tp[c*(n+3) : (c+1)*(n+3)]
		row[0] = math.MinInt32
		copy(row[1:], lr.thr32[c*(n+1):(c+1)*(n+1)])
		row[n+2] = math.MaxInt32
	}
	// The vector form, where it holds, makes the tables unnecessary.
	if q.vec = newVecRequant(&q, lr.l, next, amin, amax); q.vec != nil {
		return q
	}
	q.buckets, q.chans = bucketTables(lr.thr32, lr.l.OutC, n, amin, amax, lr.outLo, q.floor, true)
	q.full = q.buckets != nil
	if !q.full {
		q.buckets, q.chans = bucketTables(lr.thr32, lr.l.OutC, n, amin, amax, lr.outLo, q.floor, false)
	}
	return q
}

// level is channel c's level for accumulator v, by binary search: the
// reference the faster forms are checked against.
func (q *requant) level(c int, v int32) uint8 {
	return uint8(max(q.lo+int32(q.search(c, v)), q.floor))
}

// bucket is one slice of a channel's accumulator range: an accumulator v
// in it maps to above if v ≥ t, to below otherwise (levels as bytes).
type bucket struct {
	t  int32
	lv [2]uint8 // below, above
}

// bucketChan locates a channel's buckets.
type bucketChan struct {
	base  int32
	shift uint8
	last  int32 // number of buckets − 1
	// off is the first bucket in requant.buckets, or with full tables the
	// index of bucket 0 of v >> shift = 0.
	off int64
}

// maxBuckets bounds the buckets of one channel; maxFull those of a channel
// whose buckets cover the whole accumulator range.
const (
	maxBuckets = 1024
	maxFull    = 4096
	// maxFullTotal bounds the buckets of all channels of a layer with
	// full tables (8 bytes each).
	maxFullTotal = 1 << 17
)

// bucketTables builds the bucket tables of cout channels of n thresholds
// (rows of n + 1 in thr, the last unreachable), for accumulators in [amin,
// amax], or returns nil when a channel would need more than maxBuckets.
// Thresholds at most amin count for every accumulator, those above amax for
// none; the buckets cover the others, as wide as the largest power of two
// not above the smallest gap between their distinct values, so that each
// holds at most one of them.
func bucketTables(thr []int32, cout, n int, amin, amax, lo, floor int32, full bool) ([]bucket, []bucketChan) {
	chans := make([]bucketChan, cout)
	var bs []bucket
	lvl := func(count int) uint8 { return uint8(max(lo+int32(count), floor)) }
	for c := 0; c < cout; c++ {
		t := thr[c*(n+1) : c*(n+1)+n]
		low := 0 // thresholds ≤ amin: t[:low]
		for low < n && t[low] <= amin {
			low++
		}
		reach := low // thresholds ≤ amax: t[:reach]
		for reach < n && t[reach] <= amax {
			reach++
		}
		if reach == low && !full {
			chans[c] = bucketChan{base: math.MinInt32, off: int64(len(bs))}
			bs = append(bs, bucket{t: math.MaxInt32, lv: [2]uint8{lvl(low), lvl(low)}})
			continue
		}
		gap := int64(math.MaxInt32)
		for i := low + 1; i < reach; i++ {
			if d := int64(t[i]) - int64(t[i-1]); d > 0 {
				gap = min(gap, d)
			}
		}
		shift := 0
		for shift < 30 && int64(1)<<(shift+1) <= gap {
			shift++
		}
		var base int64
		var nb int
		if full {
			// Aligned to the bucket width: v's bucket is off + v>>shift.
			base = int64(amin) >> shift << shift
			nb = int(int64(amax)>>shift-base>>shift) + 1
		} else {
			base = int64(t[low])
			nb = int((int64(t[reach-1])-base)>>shift) + 1
		}
		if !full && nb > maxBuckets || full && nb > maxFull {
			return nil, nil
		}
		chans[c] = bucketChan{base: int32(base), shift: uint8(shift), last: int32(nb - 1), off: int64(len(bs))}
		if full {
			chans[c].off -= base >> shift
		}
		k := low // thresholds below the current bucket
		for j := 0; j < nb; j++ {
			end := base + int64(j+1)<<shift // exclusive
			b := bucket{t: math.MaxInt32, lv: [2]uint8{lvl(k), 0}}
			if k < reach && int64(t[k]) < end {
				b.t = t[k]
				for k < reach && t[k] == b.t {
					k++
				}
			}
			b.lv[1] = lvl(k)
			bs = append(bs, b)
		}
		if full && len(bs) > maxFullTotal {
			return nil, nil
		}
	}
	return bs, chans
}

// span requantises channels [0, len(o)) of one pixel, whose accumulator of
// channel c is max(x0[c], x1[c], x2[c], x3[c]) (pass the same slice several
// times for fewer inputs). Maxima and clamps are computed without branches:
// pooled accumulators are in no predictable order.
func (q *requant) span(o []uint8, x0, x1, x2, x3 []int32) {
	if q.vec != nil {
		q.vec.pixel(o, x0, x1, x2, x3)
		return
	}
	x0, x1, x2, x3 = x0[:len(o)], x1[:len(o)], x2[:len(o)], x3[:len(o)]
	guess := q.guess[:len(o)]
	tp := q.tp
	stride, last := q.n+3, int64(q.n-1)
	lo, floor := int64(q.lo), int64(q.floor)
	if q.buckets != nil {
		q.spanBuckets(o, x0, x1, x2, x3)
		return
	}
	off := 0
	for c := range o {
		v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
		gs := &guess[c]
		b := int64(gs.base) + (v-int64(gs.anchor))*gs.mul>>guessShift
		b = b &^ (b >> 63)   // max(b, 0)
		b = -bmax(-b, -last) // min(b, last)
		i := off + int(b)
		t := tp[i : i+4 : i+4]
		v32 := int32(v)
		var g int64
		if t[0] <= v32 && t[3] > v32 {
			g = b + int64(b2i(t[1] <= v32)) + int64(b2i(t[2] <= v32))
		} else {
			g = int64(q.search(c, v32))
		}
		o[c] = uint8(bmax(lo+g, floor))
		off += stride
	}
}

// spanBuckets is span with the bucket tables. Maxima, clamps and the
// final choice are arithmetic rather than branches (the compiler keeps
// branches here): pooled accumulators come in no predictable order, and a
// mispredicted branch costs more than the whole lookup.
func (q *requant) spanBuckets(o []uint8, x0, x1, x2, x3 []int32) {
	x0, x1, x2, x3 = x0[:len(o)], x1[:len(o)], x2[:len(o)], x3[:len(o)]
	chans := q.chans[:len(o)]
	bs := q.buckets
	if q.full {
		for c := range o {
			v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
			ch := &chans[c]
			b := &bs[int(ch.off+v>>(ch.shift&63))]
			o[c] = b.lv[b2i(int32(v) >= b.t)&1]
		}
		return
	}
	for c := range o {
		v := bmax(bmax(int64(x0[c]), int64(x1[c])), bmax(int64(x2[c]), int64(x3[c])))
		o[c] = bucketLevel(&chans[c], bs, v)
	}
}

// bucketLevel looks v up in its channel's buckets.
func bucketLevel(ch *bucketChan, bs []bucket, v int64) uint8 {
	j := (v - int64(ch.base)) >> (ch.shift & 63)
	j &^= j >> 63 // max(j, 0)
	d := j - int64(ch.last)
	j -= d &^ (d >> 63) // min(j, last)
	b := &bs[int(ch.off)+int(j)]
	return b.lv[b2i(int32(v) >= b.t)&1]
}

// rowsBuckets is spanBuckets on one input.
func (q *requant) rowsBuckets(o []uint8, x []int32) {
	x = x[:len(o)]
	chans := q.chans[:len(o)]
	bs := q.buckets
	if q.full {
		for c, v := range x {
			ch := &chans[c]
			b := &bs[int(ch.off+int64(v)>>(ch.shift&63))]
			o[c] = b.lv[b2i(v >= b.t)&1]
		}
		return
	}
	for c, v := range x {
		o[c] = bucketLevel(&chans[c], bs, int64(v))
	}
}

// bmax is max(a, b) without a branch, for |a − b| < 2^63.
func bmax(a, b int64) int64 {
	d := a - b
	return a - d&(d>>63)
}

// search counts channel c's thresholds at most v by binary search.
//
//go:noinline
func (q *requant) search(c int, v int32) int {
	ts := q.n + 1
	t := q.t[c*ts : (c+1)*ts]
	g := 0
	for half := ts >> 1; half > 0; half >>= 1 {
		if t[g+half-1] <= v {
			g += half
		}
	}
	return g
}

// rows requantises rows of OutC accumulators.
func (q *requant) rows(acc []int32, out []uint8) {
	cout := len(q.guess)
	if q.vec != nil {
		q.vec.run(out, acc, cout, len(acc)/cout, cout, [4]int{})
		return
	}
	for r := 0; r+cout <= len(acc); r += cout {
		a := acc[r : r+cout]
		if q.buckets != nil {
			q.rowsBuckets(out[r:r+cout], a)
			continue
		}
		q.span(out[r:r+cout], a, a, a, a)
	}
}

// poolRequant max-pools n NHWC accumulator images h×w×c over k×k windows
// and requantises each pooled value into out.
func poolRequant(n, h, w, c, k, stride int, acc []int32, out []uint8, q *requant) {
	oh, ow := (h-k)/stride+1, (w-k)/stride+1
	if k == 2 {
		// The four inputs of a window are at fixed offsets: a row of
		// output pixels at a time.
		for b := 0; b < n; b++ {
			for i := 0; i < oh; i++ {
				base := (b*h + i*stride) * w * c
				q.pixels(out[(b*oh+i)*ow*c:], acc, c, ow, stride*c, [4]int{base, base + c, base + w*c, base + w*c + c})
			}
		}
		return
	}
	row := make([]int32, c)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				base := ((b*h+i*stride)*w + j*stride) * c
				copy(row, acc[base:][:c])
				for kh := 0; kh < k; kh++ {
					for kw := 0; kw < k; kw++ {
						for ch, v := range acc[base+(kh*w+kw)*c:][:c] {
							row[ch] = max(row[ch], v)
						}
					}
				}
				q.span(out[((b*oh+i)*ow+j)*c:][:c], row, row, row, row)
			}
		}
	}
}

// pixels requantises pix pixels of n channels laid out as for
// vecRequant.run: pixel p's accumulator of channel c is the largest of
// x[p·step + off[i] + c], i < 4.
func (q *requant) pixels(o []uint8, x []int32, n, pix, step int, off [4]int) {
	if q.vec != nil {
		q.vec.run(o, x, n, pix, step, off)
		return
	}
	for p := 0; p < pix; p++ {
		b := p * step
		q.span(o[p*n:(p+1)*n], x[b+off[0]:], x[b+off[1]:], x[b+off[2]:], x[b+off[3]:])
	}
}
