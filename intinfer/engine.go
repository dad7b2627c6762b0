package intinfer

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Path selects the kernels an Engine runs certified layers on.
type Path int

const (
	// PathPreferred runs each certified layer on the kernel the cost model
	// (cost.go) predicts fastest on this CPU: the sparse kernel, or the
	// dense accumulator intgemm.Preferred picks.
	PathPreferred Path = iota
	// PathAcc16 accumulates in 16 bits wherever the layer's certificate
	// allows it, in 32 bits elsewhere.
	PathAcc16
	// PathAcc32 accumulates in 32 bits.
	PathAcc32
	// PathScalar runs every layer on the scalar reference, addition by
	// addition.
	PathScalar
	// PathSparse runs every layer the sparse kernel can take on it
	// (certified for 16 bits, stride 1, one group, in the fused
	// pipeline), and the others as PathPreferred runs them without it.
	PathSparse
	// PathDense runs every certified layer on the dense kernel of
	// intgemm.Preferred, never the sparse one.
	PathDense
)

// String returns "preferred", "acc16", "acc32", "scalar", "sparse" or
// "dense".
func (p Path) String() string {
	switch p {
	case PathPreferred:
		return "preferred"
	case PathAcc16:
		return "acc16"
	case PathAcc32:
		return "acc32"
	case PathScalar:
		return "scalar"
	case PathSparse:
		return "sparse"
	case PathDense:
		return "dense"
	}
	return fmt.Sprintf("Path(%d)", int(p))
}

// Options configure an Engine.
type Options struct {
	// Mode is the accumulator's overflow behaviour.
	Mode intgemm.Mode
	// AccBits sets the accumulator width P of the named layers; the
	// others run at their own target (Layer.AccBits). P is any width
	// accum.CheckAccBits accepts; see MaxSimAccBits for the ones the
	// engine can simulate. For a tiled layer it sets the inner width, the
	// outer one following (accum.OuterBits).
	AccBits map[string]int
	// Path selects the kernels of certified layers.
	Path Path
	// Threads is the number of goroutines (≤ 1: the calling one).
	Threads int
	// NoVNNI keeps 32-bit layers on the AVX2 kernels even where AVX-512
	// VNNI is available, for same-instruction-set comparisons with the
	// 16-bit path.
	NoVNNI bool
}

// LayerInfo describes how an Engine runs one layer.
type LayerInfo struct {
	Name string `json:"name"`
	// AccBits is the accumulator width P the layer runs at (the inner
	// width of a tiled layer).
	AccBits int `json:"acc_bits"`
	// AccBitsExact is the exact accumulator bound of the layer's integer
	// weights and input range (docs/MATH.md, “Exact bound”); an untiled
	// layer cannot overflow when it is at most AccBits.
	AccBitsExact int `json:"acc_bits_exact"`
	// Tile is a multi-stage layer's tile size (Layer.Tile), 0 for one
	// stage. Such a layer sums each tile in an AccBitsInner-bit
	// accumulator (AccBits) and the tile sums in an AccBitsOuter-bit one
	// (accum.OuterBits); AccBitsInnerExact is the exact inner bound of its
	// tiles (accum.TiledBits), and the layer cannot overflow in either
	// stage when it is at most AccBitsInner.
	Tile              int `json:"tile,omitempty"`
	AccBitsInner      int `json:"acc_bits_inner,omitempty"`
	AccBitsInnerExact int `json:"acc_bits_inner_exact,omitempty"`
	AccBitsOuter      int `json:"acc_bits_outer,omitempty"`
	// Sparsity is the share of the layer's integer weights that are zero.
	Sparsity float64 `json:"sparsity"`
	// Kernel names the kind of kernel the layer runs on: "sparse16" (the
	// non-zero weights only, 16-bit lanes), "dense16", "dense32",
	// "dense32-vnni", "depthwise32" (a depthwise convolution's direct
	// kernel) or "scalar".
	Kernel string `json:"kernel"`
	// Reason says why the layer runs on Kernel: the cost model's
	// prediction, the path the options force, or what rules the others
	// out.
	Reason string `json:"reason,omitempty"`
	// Impl names the kernel's implementation: an intgemm implementation
	// (e.g. "avx512vnni-int32", "avx2-int16", "avx2-sparse16") or
	// "scalar-exact", "scalar-wrap", "scalar-saturate".
	Impl string `json:"impl"`
	// Note says why the layer is not on the requested path (e.g. intgemm's
	// refusal of the 16-bit accumulator), or is empty.
	Note string `json:"note,omitempty"`
}

// Certified reports whether the layer's certificate holds at the width it
// runs at: its exact bound (the inner one, for a tiled layer) is at most
// AccBits, so that no input makes any stage overflow.
func (i *LayerInfo) Certified() bool {
	if i.Tile > 0 {
		return i.AccBitsInnerExact <= i.AccBitsInner
	}
	return i.AccBitsExact <= i.AccBits
}

// layerRun is a layer prepared for running.
type layerRun struct {
	l    *Layer
	info LayerInfo
	// p is the width the engine simulates the accumulator at (the inner
	// one of a tiled layer); pOut, with tile > 0, the outer one.
	p, pOut, tile int
	kerns         []*intgemm.Kernel // one per group; nil: scalar path
	w8            []int8            // the weights as bytes, with kerns
	thr           []int64           // OutC rows of tsize thresholds, padded with Unreached
	// thr32 holds the thresholds clamped to the layer's exact accumulator
	// range [lo, hi + 1], when that fits int32, for the fast path.
	thr32 []int32
	guess []thrGuess // per channel, with thr32
	tsize int
	outLo int32
}

// Engine runs an integer model with chosen accumulators. It is read-only
// after NewEngine and safe for concurrent use.
type Engine struct {
	m      *Model
	o      Options
	layers []*layerRun
	plan   *fastPlan // nil: every run takes the general path
	// dagFast is the fused form of a model with branches (nil: the
	// general graph path).
	dagFast *dagFast
}

// NewEngine validates m and prepares it to run with o.
func NewEngine(m *Model, o Options) (*Engine, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if o.Mode != intgemm.Exact && o.Mode != intgemm.Wrap && o.Mode != intgemm.Saturate {
		return nil, fmt.Errorf("intinfer: unknown accumulator mode %v", o.Mode)
	}
	if o.Path < PathPreferred || o.Path > PathDense {
		return nil, fmt.Errorf("intinfer: unknown path %v", o.Path)
	}
	e := &Engine{m: m, o: o}
	known := map[string]bool{}
	for _, l := range m.Layers() {
		known[l.Name] = true
		lr, err := prepare(l, o)
		if err != nil {
			return nil, err
		}
		e.layers = append(e.layers, lr)
	}
	for name := range o.AccBits {
		if !known[name] {
			return nil, fmt.Errorf("intinfer: accumulator width given for layer %q, which the model does not have", name)
		}
	}
	if m.dag == nil {
		e.plan = planFast(e)
	} else {
		e.dagFast = planDAG(e)
	}
	return e, nil
}

// MaxSimAccBits is the widest accumulator the integer engine simulates:
// it accumulates in int64 and searches thresholds over [−2^62, 2^62), so
// it runs a P-bit accumulator bit for bit for P ≤ MaxSimAccBits. It is a
// limit on what the engine can run, not on valid P (accum.CheckAccBits): a
// layer at a wider P runs when its exact width (accum.ExactBits) is at
// most MaxSimAccBits, because then no partial sum can leave the P-bit
// range and the wrap and saturate modes both equal the exact sum.
const MaxSimAccBits = 62

// simAccBits returns the width the engine runs a layer with target P = p
// and exact width exact at, or an error naming the layer when p is not a
// valid P or the layer's exact range does not fit the engine.
func simAccBits(name string, p, exact int) (int, error) {
	if err := accum.CheckAccBits(p); err != nil {
		return 0, fmt.Errorf("layer %s: %w", name, err)
	}
	switch {
	case p <= MaxSimAccBits:
		return p, nil
	case exact > MaxSimAccBits:
		return 0, fmt.Errorf("layer %s: at P = %d its exact accumulator range needs %d bits, more than the %d bits the integer engine simulates (intinfer.MaxSimAccBits)",
			name, p, exact, MaxSimAccBits)
	}
	// No partial sum leaves MaxSimAccBits bits, so none leaves P bits.
	return MaxSimAccBits, nil
}

// stageWidths describes how the engine runs layer l at (inner) width p:
// its LayerInfo widths, and the widths it simulates the accumulators at
// (run for the one stage or the inner one, runOut for a tiled layer's
// outer one), or an error naming the layer when they do not fit the
// engine (see simAccBits).
func stageWidths(l *Layer, p int) (info LayerInfo, run, runOut int, err error) {
	exact := accum.ExactBits(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned)
	info = LayerInfo{Name: l.Name, AccBits: p, AccBitsExact: exact}
	if l.Tile == 0 {
		run, err = simAccBits(l.Name, p, exact)
		return info, run, 0, err
	}
	inner := l.certBits()
	if run, err = simAccBits(l.Name, p, inner); err != nil {
		return info, 0, 0, err
	}
	info.Tile, info.AccBitsInner, info.AccBitsInnerExact = l.Tile, p, inner
	info.AccBitsOuter = accum.OuterBits(p, l.K, l.Tile)
	// The outer partial sums are prefix sums of the dot product when no
	// tile sum can leave the inner range; otherwise they are any sums of
	// in-range tile sums (wrap, saturate) or of exact ones (exact mode).
	bound := exact
	if inner > p {
		bound = max(exact, info.AccBitsOuter)
	}
	if runOut, err = simAccBits(l.Name+" (outer accumulator)", info.AccBitsOuter, bound); err != nil {
		return info, 0, 0, err
	}
	return info, run, runOut, nil
}

func prepare(l *Layer, o Options) (*layerRun, error) {
	p := l.AccBits
	if v, ok := o.AccBits[l.Name]; ok {
		p = v
	}
	info, run, runOut, err := stageWidths(l, p)
	if err != nil {
		return nil, err
	}
	exact := info.AccBitsExact
	lr := &layerRun{l: l, p: run, pOut: runOut, tile: l.Tile, info: info}
	lr.info.Sparsity = metrics.Sparsity(l.Weights)
	defer func() {
		if lr.info.Kernel == "" {
			lr.info.Kernel, lr.info.Reason = denseKernel(lr), lr.info.Note
		}
	}()
	if l.OutBits > 0 {
		n := 1<<l.OutBits - 1
		lr.tsize = n + 1
		lr.thr = make([]int64, l.OutC*lr.tsize)
		for c := 0; c < l.OutC; c++ {
			copy(lr.thr[c*lr.tsize:], l.Thresholds[c*n:(c+1)*n])
			lr.thr[c*lr.tsize+n] = Unreached
		}
		lr.outLo, _ = levels(l.OutBits, l.OutSigned)
	}
	scalar := "scalar-" + o.Mode.String()
	switch {
	case o.Path == PathScalar:
		lr.info.Impl, lr.info.Note = scalar, "scalar path forced"
		if l.Tile > 0 && !lr.info.Certified() {
			lr.info.Note += "; " + tiledNote(&lr.info, o.Mode)
		}
		return lr, nil
	case !lr.info.Certified():
		lr.info.Impl = scalar
		lr.info.Note = fmt.Sprintf("not certified at P = %d (exact bound %d bits): the scalar path counts overflows", p, exact)
		if l.Tile > 0 {
			lr.info.Note = tiledNote(&lr.info, o.Mode)
		}
		return lr, nil
	case l.WeightBits > 8 || l.InputBits > 8:
		lr.info.Impl = scalar
		lr.info.Note = fmt.Sprintf("%d-bit weights, %d-bit inputs: the integer kernels take 8 bits", l.WeightBits, l.InputBits)
		return lr, nil
	}
	acc := intgemm.Acc32
	switch o.Path {
	case PathPreferred, PathSparse, PathDense:
		acc = intgemm.Preferred(exact)
	case PathAcc16:
		if exact <= 16 {
			acc = intgemm.Acc16
		} else {
			lr.info.Note = fmt.Sprintf("acc16 not certified: exact bound %d bits", exact)
		}
	}
	cog := l.OutC / l.Groups
	lr.w8 = make([]int8, len(l.Weights))
	for i, v := range l.Weights {
		lr.w8[i] = int8(v)
	}
	w8 := lr.w8
	build := func(acc intgemm.Acc) error {
		lr.kerns = lr.kerns[:0]
		for g := 0; g < l.Groups; g++ {
			k, err := intgemm.NewKernel(w8[g*cog*l.K:(g+1)*cog*l.K], cog, l.K, acc, exact)
			if err != nil {
				return err
			}
			if o.NoVNNI {
				k.WithoutVNNI()
			}
			lr.kerns = append(lr.kerns, k)
		}
		return nil
	}
	err = build(acc)
	if err != nil && acc == intgemm.Acc16 && errors.Is(err, intgemm.ErrNotCertified) {
		lr.info.Note = fmt.Sprintf("acc16 refused: %v", err)
		err = build(intgemm.Acc32)
	}
	if err != nil {
		lr.kerns = nil
		lr.info.Impl = scalar
		lr.info.Note = fmt.Sprintf("integer kernel refused (%v): scalar path", err)
		return lr, nil
	}
	lr.info.Impl = lr.kerns[0].Impl(l.InputSigned)
	if r := accum.ExactRange(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned); lr.thr != nil && r.Min > math.MinInt32 && r.Max < math.MaxInt32 {
		lr.thr32, lr.guess = clampThresholds(lr.thr, lr.tsize, r.Min, r.Max)
	}
	if acc == intgemm.Acc16 && lr.kerns[0].Path(l.InputSigned) != intgemm.Acc16 && lr.info.Note == "" {
		lr.info.Note = fmt.Sprintf("acc16 not available for these inputs (weights need %d bits)", lr.kerns[0].AccBits(l.InputSigned))
	}
	return lr, nil
}

// denseKernel names the kind of kernel lr runs on without the sparse one.
func denseKernel(lr *layerRun) string {
	switch {
	case lr.kerns == nil:
		return "scalar"
	case lr.kerns[0].Path(lr.l.InputSigned) == intgemm.Acc16:
		return "dense16"
	case lr.kerns[0].UsesVNNI():
		return "dense32-vnni"
	}
	return "dense32"
}

// tiledNote says which stages of an uncertified tiled layer can overflow
// in mode: the inner one; the outer one too in exact mode, where tile sums
// keep their exact values, when the dot products' exact bound exceeds it
// (in wrap and saturate modes the outer width holds any sum of in-range
// tile sums).
func tiledNote(i *LayerInfo, mode intgemm.Mode) string {
	stages := fmt.Sprintf("the inner stage can overflow, the outer (P_O = %d) cannot", i.AccBitsOuter)
	if mode == intgemm.Exact && i.AccBitsExact > i.AccBitsOuter {
		stages = fmt.Sprintf("both stages can overflow (the outer P_O = %d, exact bound %d bits)", i.AccBitsOuter, i.AccBitsExact)
	}
	return fmt.Sprintf("not certified at P_I = %d (tiles of %d terms, exact inner bound %d bits): %s; the scalar path counts overflows per stage",
		i.AccBitsInner, i.Tile, i.AccBitsInnerExact, stages)
}

// Model returns the engine's model.
func (e *Engine) Model() *Model { return e.m }

// Layers describes how each layer runs, in order.
func (e *Engine) Layers() []LayerInfo {
	out := make([]LayerInfo, len(e.layers))
	for i, lr := range e.layers {
		out[i] = lr.info
	}
	return out
}

// Result is the output of one Engine.Run.
type Result struct {
	// Out holds the float output (logits or images), N×Shape.
	Out []float32
	// Shape is the output shape of one example ([classes] or [H, W, C]).
	Shape []int
	// Overflows counts, per layer, the additions that left the layer's
	// P-bit range (the inner accumulators' range, for a tiled layer).
	Overflows []int64
	// OuterOverflows counts, per layer, the additions of tile sums that
	// left a tiled layer's outer range (0 for the other layers).
	OuterOverflows []int64
	// Inputs holds each layer's integer input (NHWC, or N×features), when
	// Run was asked to capture them.
	Inputs [][]int32
}

// act is an activation: float or integer, n examples of shape.
type act struct {
	shape []int
	f     []float32
	i     []int32
}

// Run computes the model on n NHWC float images x (n·InH·InW·InC values).
// With capture set, the result keeps every layer's integer input. It panics
// if len(x) is wrong.
func (e *Engine) Run(x []float32, n int, capture bool) *Result {
	m := e.m
	if n < 0 || len(x) != n*m.InH*m.InW*m.InC {
		panic(fmt.Sprintf("intinfer: Run: %d values for %d images of %d×%d×%d", len(x), n, m.InH, m.InW, m.InC))
	}
	if e.dagFast != nil {
		return e.runDAGFast(x, n, capture)
	}
	if m.dag != nil {
		return e.runDAG(x, n, capture)
	}
	if e.plan != nil {
		return e.runFast(x, n, capture)
	}
	th := max(e.o.Threads, 1)
	res := e.newResult()
	if capture {
		res.Inputs = make([][]int32, len(e.layers))
	}
	cur := act{shape: []int{m.InH, m.InW, m.InC}, f: x}
	li := 0
	for idx := 0; idx < len(m.Ops); idx++ {
		op := m.Ops[idx]
		switch op.Kind {
		case OpLayer:
			lr := e.layers[li]
			l := lr.l
			xin := cur.i
			if cur.f != nil {
				xin = quantizeInput(l, cur.f)
			}
			if capture {
				res.Inputs[li] = xin
			}
			// Max pooling right after the layer commutes with the monotone
			// requantisation: pool the accumulators, threshold a quarter.
			var pools []Op
			for l.OutBits > 0 && idx+1 < len(m.Ops) && m.Ops[idx+1].Kind == OpMaxPool {
				idx++
				pools = append(pools, m.Ops[idx])
			}
			cur = e.runLayer(th, lr, xin, cur.shape, n, pools, &res.Overflows[li], &res.OuterOverflows[li])
			li++
		case OpReLU:
			if cur.i != nil {
				cur.i = relu(cur.i)
			} else {
				cur.f = relu(cur.f)
			}
		case OpClip: // float activations only (Validate)
			cur.f = clip(cur.f, op.Lo, op.Hi)
		case OpBatchNorm: // float activations only (Validate)
			cur.f = batchNorm(cur.f, op.Norm)
		case OpFlatten:
			cur.shape = []int{prod(cur.shape)}
		case OpMaxPool:
			s := cur.shape
			if cur.i != nil {
				cur.i, cur.shape = maxPool(th, n, s[0], s[1], s[2], op.K, op.Stride, cur.i)
			} else {
				cur.f, cur.shape = maxPool(th, n, s[0], s[1], s[2], op.K, op.Stride, cur.f)
			}
		case OpPixelShuffle:
			s := cur.shape
			if cur.i != nil {
				cur.i, cur.shape = pixelShuffle(n, s[0], s[1], s[2], op.R, cur.i)
			} else {
				cur.f, cur.shape = pixelShuffle(n, s[0], s[1], s[2], op.R, cur.f)
			}
		}
	}
	res.Shape = cur.shape
	res.Out = cur.f
	if cur.f == nil { // Validate guarantees a float output; keep Run total.
		res.Out = make([]float32, len(cur.i))
		for i, v := range cur.i {
			res.Out[i] = float32(v)
		}
	}
	return res
}

// newResult returns a Result with zero overflow counts for every layer.
func (e *Engine) newResult() *Result {
	return &Result{Overflows: make([]int64, len(e.layers)), OuterOverflows: make([]int64, len(e.layers))}
}

// quantizeInput applies the layer's input quantizer to a float input.
func quantizeInput(l *Layer, x []float32) []int32 {
	lo, hi := levels(l.InputBits, l.InputSigned)
	flo, fhi := float32(lo), float32(hi)
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(thresh.Quantize(v, l.InputScale, flo, fhi))
	}
	return out
}

// runLayer computes one layer on n inputs of per-example shape in, then the
// max pools that follow it, then its requantisation, adding its overflows
// (of a tiled layer's inner and outer stages) to overflows and outer.
func (e *Engine) runLayer(th int, lr *layerRun, x []int32, in []int, n int, pools []Op, overflows, outer *int64) act {
	l := lr.l
	var g tensor.ConvGeom
	if l.Kind == "conv" {
		g = tensor.ConvGeom{N: n, H: in[0], W: in[1], C: in[2], KH: l.KH, KW: l.KW, Stride: l.Stride, Pad: l.Pad, Groups: l.Groups, Cout: l.OutC}
	} else {
		// A linear layer is a 1×1 convolution of a 1×1 image.
		g = tensor.ConvGeom{N: n, H: 1, W: 1, C: l.InC, KH: 1, KW: 1, Groups: 1, Cout: l.OutC}
	}
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("intinfer: layer %s: %v", l.Name, err)) // Validate checked the model
	}
	shape := []int{g.OH, g.OW, l.OutC}
	if l.Kind == "linear" {
		shape = []int{l.OutC}
	}
	if lr.kerns != nil {
		acc := e.fast(th, lr, &g, x)
		return finish(th, lr, acc, n, shape, pools)
	}
	acc := e.scalar(th, lr, &g, x, overflows, outer)
	return finish(th, lr, acc, n, shape, pools)
}

// fast runs the layer on the intgemm kernels.
func (e *Engine) fast(th int, lr *layerRun, g *tensor.ConvGeom, x []int32) []int32 {
	l := lr.l
	rows, k, cog := g.Rows(), g.KPerGroup, g.CoutPerGroup
	acc := make([]int32, rows*l.OutC)
	if l.InputSigned {
		col := make([]int8, rows*k)
		for grp, kn := range lr.kerns {
			im2col(th, g, x, grp, col)
			kn.MulS8(th, rows, col, k, acc[grp*cog:], l.OutC)
		}
		return acc
	}
	col := make([]uint8, rows*k)
	for grp, kn := range lr.kerns {
		im2col(th, g, x, grp, col)
		kn.MulU8(th, rows, col, k, acc[grp*cog:], l.OutC)
	}
	return acc
}

// scalar runs the layer addition by addition in a P-bit accumulator (a
// tiled layer: in its inner and outer accumulators, dotTiled), adding the
// overflows to overflows (of a tiled layer's outer stage: to outer).
func (e *Engine) scalar(th int, lr *layerRun, g *tensor.ConvGeom, x []int32, overflows, outer *int64) []int64 {
	l := lr.l
	rows, k, cog := g.Rows(), g.KPerGroup, g.CoutPerGroup
	acc := make([]int64, rows*l.OutC)
	col := make([]int32, rows*k)
	var total, totalOut atomic.Int64
	for grp := 0; grp < l.Groups; grp++ {
		im2col(th, g, x, grp, col)
		tensor.For(th, rows, func(lo, hi int) {
			var ov, ovOut int64
			for r := lo; r < hi; r++ {
				xr := col[r*k : (r+1)*k]
				out := acc[r*l.OutC+grp*cog:][:cog]
				for j := range out {
					c := grp*cog + j
					w := l.Weights[c*k : (c+1)*k]
					if lr.tile > 0 {
						a, o, oo := dotTiled(xr, w, lr.tile, lr.p, lr.pOut, e.o.Mode)
						out[j] = a
						ov += o
						ovOut += oo
						continue
					}
					a, o := dotP(xr, w, lr.p, e.o.Mode)
					out[j] = a
					ov += o
				}
			}
			total.Add(ov)
			totalOut.Add(ovOut)
		})
	}
	*overflows += total.Load()
	*outer += totalOut.Load()
	return acc
}

// dotP is intgemm.DotP on int32 inputs: Σ x[i]·w[i] added in index order
// in a P-bit accumulator, counting the additions that leave the range.
func dotP(x, w []int32, p int, mode intgemm.Mode) (acc, overflows int64) {
	lo, hi := -int64(1)<<(p-1), int64(1)<<(p-1)-1
	w = w[:len(x)]
	switch mode {
	case intgemm.Exact:
		for i, v := range x {
			acc += int64(v) * int64(w[i])
			if acc < lo || acc > hi {
				overflows++
			}
		}
	case intgemm.Wrap:
		sh := 64 - p
		for i, v := range x {
			acc += int64(v) * int64(w[i])
			if acc < lo || acc > hi {
				overflows++
				acc = acc << sh >> sh
			}
		}
	case intgemm.Saturate:
		for i, v := range x {
			acc += int64(v) * int64(w[i])
			if acc < lo {
				overflows++
				acc = lo
			} else if acc > hi {
				overflows++
				acc = hi
			}
		}
	}
	return acc, overflows
}

// dotTiled is dotP in two stages: the terms in tiles of tile consecutive
// ones (the last possibly shorter), each tile summed in index order in a
// pIn-bit accumulator, the tile sums added in order in a pOut-bit one, both
// in mode. It returns the sum and the overflows of each stage.
func dotTiled(x, w []int32, tile, pIn, pOut int, mode intgemm.Mode) (acc, inner, outer int64) {
	w = w[:len(x)]
	for t := 0; t < len(x); t += tile {
		e := min(t+tile, len(x))
		s, ov := dotP(x[t:e], w[t:e], pIn, mode)
		inner += ov
		acc, ov = addP(acc, s, pOut, mode)
		outer += ov
	}
	return acc, inner, outer
}

// addP adds v to a P-bit accumulator holding acc in mode, and returns the
// result and 1 if the sum left the range (0 otherwise).
func addP(acc, v int64, p int, mode intgemm.Mode) (int64, int64) {
	lo, hi := -int64(1)<<(p-1), int64(1)<<(p-1)-1
	acc += v
	if acc >= lo && acc <= hi {
		return acc, 0
	}
	switch mode {
	case intgemm.Wrap:
		acc = acc << (64 - p) >> (64 - p)
	case intgemm.Saturate:
		acc = min(max(acc, lo), hi)
	}
	return acc, 1
}

// finish pools the accumulators and requantises them: thresholds to the
// next layer's integers, or the float output of the last layer.
func finish[T int32 | int64](th int, lr *layerRun, acc []T, n int, shape []int, pools []Op) act {
	for _, op := range pools {
		acc, shape = maxPool(th, n, shape[0], shape[1], shape[2], op.K, op.Stride, acc)
	}
	l := lr.l
	cout := l.OutC
	rows := len(acc) / cout
	if l.OutBits == 0 {
		out := make([]float32, len(acc))
		tensor.For(th, rows, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				a, o := acc[r*cout:(r+1)*cout], out[r*cout:(r+1)*cout]
				for c, v := range a {
					o[c] = thresh.Requant(float32(v), l.Scale[c], l.Bias[c])
				}
			}
		})
		return act{shape: shape, f: out}
	}
	out := make([]int32, len(acc))
	ts := lr.tsize
	if a32, ok := any(acc).([]int32); ok && lr.thr32 != nil {
		tensor.For(th, rows, func(lo, hi int) {
			threshold32(a32[lo*cout:hi*cout], out[lo*cout:hi*cout], cout, lr.thr32, lr.guess, ts, lr.outLo)
		})
		return act{shape: shape, i: out}
	}
	tensor.For(th, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			a, o := acc[r*cout:(r+1)*cout], out[r*cout:(r+1)*cout]
			for c, v := range a {
				t := lr.thr[c*ts : (c+1)*ts]
				v64 := int64(v)
				base := 0
				for half := ts >> 1; half > 0; half >>= 1 {
					if t[base+half-1] <= v64 {
						base += half
					}
				}
				o[c] = lr.outLo + int32(base)
			}
		}
	})
	return act{shape: shape, i: out}
}

// thrGuess predicts a channel's level count from its accumulator with one
// fixed-point multiply: count ≈ base + ((acc − anchor)·mul) >> guessShift.
// The thresholds then correct the guess, so it only affects speed.
type thrGuess struct {
	anchor, base int32
	mul          int64 // 0: no guess, binary search
}

const guessShift = 20

// fitGuess fits the line through the thresholds strictly inside the
// accumulator range (lo, hi) of a channel (t excludes the sentinel).
func fitGuess(t []int32, lo, hi int32) thrGuess {
	i0, i1 := -1, -1
	for i, v := range t {
		if v > lo && v < hi {
			if i0 < 0 {
				i0 = i
			}
			i1 = i
		}
	}
	if i0 < 0 || i1 == i0 || t[i1] == t[i0] {
		return thrGuess{}
	}
	step := float64(t[i1]-t[i0]) / float64(i1-i0)
	return thrGuess{anchor: t[i0], base: int32(i0 + 1), mul: int64(math.Floor(math.Exp2(guessShift) / step))}
}

// clampThresholds returns rows of ts thresholds (the last unreachable)
// clamped to [amin, amax + 1], which must fit int32, for accumulators in
// [amin, amax], with each row's linear guess (fitGuess).
func clampThresholds(thr []int64, ts int, amin, amax int64) ([]int32, []thrGuess) {
	t32 := make([]int32, len(thr))
	for i, t := range thr {
		t32[i] = int32(min(max(t, amin), amax+1))
	}
	guess := make([]thrGuess, len(thr)/ts)
	for c := range guess {
		guess[c] = fitGuess(t32[c*ts:(c+1)*ts-1], int32(amin), int32(amax+1))
	}
	return t32, guess
}

// threshold32 requantises rows of cout int32 accumulators: out = lo +
// #{k : acc ≥ thr[c][k]} over each channel's ts thresholds (ts a power of
// two, the last one unreachable). A linear guess, corrected by walking the
// thresholds, finds the count in a step or two; channels without a guess
// use a binary search.
func threshold32(acc, out []int32, cout int, thr []int32, guess []thrGuess, ts int, lo int32) {
	n := ts - 1
	for r := 0; r+cout <= len(acc); r += cout {
		a, o := acc[r:r+cout], out[r:r+cout]
		for c, v := range a {
			t := thr[c*ts : c*ts+ts]
			gs := guess[c]
			var g int
			if gs.mul != 0 {
				g = int(int64(gs.base) + (int64(v)-int64(gs.anchor))*gs.mul>>guessShift)
				g = min(max(g, 0), n)
				for g < n && t[g] <= v {
					g++
				}
				for g > 0 && t[g-1] > v {
					g--
				}
			} else {
				for half := ts >> 1; half > 0; half >>= 1 {
					if t[g+half-1] <= v {
						g += half
					}
				}
			}
			o[c] = lo + int32(g)
		}
	}
}

// im2col writes the patches of group grp of the NHWC integer images x into
// col (g.Rows() × g.KPerGroup), in (kh, kw, c) order, zeros in the
// padding, converting each value to T (the caller guarantees it fits).
func im2col[T uint8 | int8 | int32](th int, g *tensor.ConvGeom, x []int32, grp int, col []T) {
	cg, c0 := g.CinPerGroup, grp*g.CinPerGroup
	k := g.KPerGroup
	tensor.For(th, g.N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					row := col[((n*g.OH+oh)*g.OW+ow)*k:][:k]
					p := 0
					for kh := 0; kh < g.KH; kh++ {
						ih := oh*g.Stride - g.Pad + kh
						if ih < 0 || ih >= g.H {
							clear(row[p : p+g.KW*cg])
							p += g.KW * cg
							continue
						}
						xrow := x[(n*g.H+ih)*g.W*g.C:]
						for kw := 0; kw < g.KW; kw++ {
							iw := ow*g.Stride - g.Pad + kw
							dst := row[p : p+cg]
							if iw < 0 || iw >= g.W {
								clear(dst)
							} else {
								for i, v := range xrow[iw*g.C+c0:][:cg] {
									dst[i] = T(v)
								}
							}
							p += cg
						}
					}
				}
			}
		}
	})
}

// maxPool takes the maximum over k×k windows of n NHWC images h×w×c.
func maxPool[T int32 | int64 | float32](th, n, h, w, c, k, stride int, x []T) ([]T, []int) {
	stride = tensor.PoolStride(k, stride)
	oh, ow := tensor.PoolOut(h, k, stride, 0), tensor.PoolOut(w, k, stride, 0)
	y := make([]T, n*oh*ow*c)
	img, pooled := h*w*c, oh*ow*c
	tensor.For(th, n, func(lo, hi int) {
		maxPoolInto(hi-lo, h, w, c, k, stride, x[lo*img:hi*img], y[lo*pooled:hi*pooled])
	})
	return y, []int{oh, ow, c}
}

func relu[T int32 | float32](x []T) []T {
	y := make([]T, len(x))
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return y
}

// pixelShuffle is depth to space by r in PyTorch's channel order, like
// tensor.PixelShuffle: input channel cc·r² + i·r + j of pixel (hh, ww) goes
// to output pixel (hh·r+i, ww·r+j), channel cc.
func pixelShuffle[T int32 | float32](n, h, w, cin, r int, x []T) ([]T, []int) {
	y := make([]T, len(x))
	tensor.PixelShuffle(n, h, w, cin/(r*r), r, x, y, false)
	return y, []int{h * r, w * r, cin / (r * r)}
}
