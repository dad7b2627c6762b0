package intinfer

import (
	"sync"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/intgemm"
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
	// spill into and the planar first layer's row loads may read.
	slack = 128
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
	// planar, when set, computes the stage with its pool and
	// requantisation straight into the next stage's planes
	// (fast_planar.go).
	planar *planarRun
	// sp, when set, runs the layer on the sparse kernel (fast_sparse.go)
	// instead of kerns; fit says why it cannot, when it cannot.
	sp  *sparseRun
	fit error
	// dw, when set, runs a depthwise layer directly (depthwise.go).
	dw *depthwise
	// inPlace, when set, runs a one-channel convolution on its image in
	// place (fast_inplace.go): the layer's weights repacked for
	// intgemm.Kernel.MulU8Groups.
	inPlace *intgemm.Kernel
	// pooled: the layer's one 2×2 pool runs inside its product (the dense
	// kernel's, fast_pooled.go, or the sparse one's, sparseRun.pool); the
	// accumulators are the pooled ones.
	pooled bool
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
	// planeSize: the sparse stages' planes per image
	planeSize int
	scratch   sync.Pool
}

// fastScratch holds one worker's buffers, sized for fastPlan.chunk images.
type fastScratch struct {
	col          []uint8
	planes       [][]uint8 // per stage, for the sparse ones
	acc          []int32
	pool0, pool1 []int32
	act0, act1   []uint8
	flt0, flt1   []float32
	pad          []uint8 // zero-bordered copies of a stage's input (padImages)
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
		if l.Kind == "linear" {
			shape = []int{l.OutC}
		} else {
			shape = []int{g.OH, g.OW, l.OutC}
		}
		p.colSize = max(p.colSize, st.setKernels())
		p.accSize = max(p.accSize, g.OH*g.OW*l.OutC)
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
		acc, planes := st.fitSparse()
		p.accSize = max(p.accSize, acc)
		p.planeSize += planes
		p.stages = append(p.stages, st)
	}
	if li != len(e.layers) || len(p.stages) == 0 {
		return nil
	}
	p.actSize = max(p.actSize, p.stages[0].inSize)
	p.outShape = shape
	p.outSize = prod(shape)
	per := p.colSize + 4*p.accSize + 8*p.poolSize + 2*p.actSize + 8*p.fltSize + 2*p.planeSize
	p.chunk = min(chunkImages, max(1, chunkBytes/max(per, 1)))
	for i := range p.stages {
		p.stages[i].chooseKernel(p.chunk, e.o.Path)
		p.stages[i].fitPooled()
		p.accSize = max(p.accSize, p.stages[i].fitInPlace())
	}
	for i := 1; i < len(p.stages); i++ {
		p.stages[i-1].fitPlanar(&p.stages[i])
	}
	p.scratch.New = func() any {
		c := p.chunk
		planes := make([][]uint8, len(p.stages))
		for i, st := range p.stages {
			if st.sp != nil {
				planes[i] = st.sp.newPlanes(st.lr.l.InputSigned)
			}
		}
		return &fastScratch{
			planes: planes,
			col:    make([]uint8, c*p.colSize+slack),
			acc:    make([]int32, c*p.accSize),
			pool0:  make([]int32, c*p.poolSize),
			pool1:  make([]int32, c*p.poolSize),
			act0:   make([]uint8, c*p.actSize+slack),
			act1:   make([]uint8, c*p.actSize+slack),
			flt0:   make([]float32, c*p.fltSize),
			flt1:   make([]float32, c*p.fltSize),
		}
	}
	return p
}

// setKernels sets up st's dense kernels for its geometry (st.g, st.lr):
// the layer's own, or ones for padded patch rows (padKernels), or the
// direct depthwise form; it returns the patch bytes per image st needs.
func (st *fastStage) setKernels() int {
	g := &st.g
	st.direct = g.KH == 1 && g.KW == 1 && g.Stride <= 1 && g.Pad == 0 && g.Groups == 1
	st.kerns, st.lda = st.lr.kerns, g.KPerGroup
	if st.dw = newDepthwise(st.lr, g); st.dw != nil || st.direct {
		return 0
	}
	padKernels(st)
	return g.OH * g.OW * st.lda
}

// fitSparse records in st.fit whether the sparse kernel can run st and
// returns what it would need per image: accumulators on the padded grid
// and the planes' values (0 and 0 when it cannot).
func (st *fastStage) fitSparse() (acc, planes int) {
	if st.fit = sparseFit(st); st.fit != nil {
		return 0, 0
	}
	g := &st.g
	hp, wp := g.H+2*g.Pad, g.W+2*g.Pad
	return hp * wp * st.lr.l.OutC, g.C * hp * wp
}

// chooseKernel picks st's kernel for chunks of chunk images under path
// and records it in the layer's LayerInfo: the depthwise form, or the
// sparse kernel where it fits and the cost model (or the path) prefers it,
// or the dense kernels.
func (st *fastStage) chooseKernel(chunk int, path Path) {
	lr := st.lr
	if st.dw != nil {
		lr.info.Kernel, lr.info.Impl, lr.info.Reason = "depthwise32", st.dw.impl(), "depthwise convolution: direct kernel, no patch copies"
		return
	}
	if st.fit == nil {
		if sr, err := newSparseRun(st, chunk); err != nil {
			st.fit = err
		} else {
			st.sp = sr
		}
	}
	use, why := chooseKernel(st, st.sp, st.fit, chunk, path)
	if !use {
		st.sp = nil
		if lr.info.Note == "" {
			lr.info.Reason = why
		}
		return
	}
	lr.info.Kernel, lr.info.Impl, lr.info.Reason = "sparse16", st.sp.kern.Impl(), why
}

// padKernels gives st kernels for im2col rows padded to the multiple of
// bytes its kernel reads them in (intgemm.Kernel.RowStep), when the
// layer's rows are not; it keeps the layer's kernels if intgemm refuses the
// padded weights.
func padKernels(st *fastStage) {
	l, g := st.lr.l, &st.g
	k := g.KPerGroup
	step := st.lr.kerns[0].RowStep(l.InputSigned)
	if k%step == 0 {
		return
	}
	lda := (k + step - 1) / step * step
	cog := g.CoutPerGroup
	var kerns []*intgemm.Kernel
	for grp := range st.lr.kerns {
		w := make([]int8, cog*lda)
		for j := 0; j < cog; j++ {
			copy(w[j*lda:], st.lr.w8[(grp*cog+j)*k:(grp*cog+j+1)*k])
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
