package autodiff

import (
	"fmt"
	"slices"

	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Var is a value computed on a tape, with its gradient.
type Var struct {
	Value *tensor.Tensor
	// Grad is the gradient of the loss with respect to Value. It is nil
	// until Backward reaches the variable, and always nil for variables
	// that do not require gradients.
	Grad *tensor.Tensor

	tape         *Tape
	requiresGrad bool
	param        bool // a parameter's value (Leaf on a NoGrad tape)
	back         func()
}

// RequiresGrad reports whether gradients flow to v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// Shape returns the shape of v's value.
func (v *Var) Shape() []int { return v.Value.Shape }

// Tape records operations for one forward and backward pass.
type Tape struct {
	// Threads is the number of goroutines kernels may use (at least 1).
	Threads int
	// NoGrad makes Leaf return constants, so that nothing computed on the
	// tape is recorded for a backward pass: for forward passes whose
	// gradients are never wanted (evaluation, inference). Values are the
	// same as with recording.
	NoGrad bool
	// Frozen, on a NoGrad tape, promises that no parameter changes during
	// the tape's life: the tape then packs each weight matrix for the GEMM
	// once and reuses the packing across Resets.
	Frozen bool

	nodes   []*Var
	free    map[int][][]float32
	live    [][]float32
	largest int
	packs   map[packKey]*gemm.PackedB
	patches map[tensor.ConvGeom]convPatches
}

// convPatches are a convolution's patches as offsets into its input (see
// tensor.ConvGeom.PatchOffsets); ok is false if it has none.
type convPatches struct {
	rows, cols []int32
	ok         bool
}

// maxPatchGeoms bounds the convolution geometries whose patch offsets a
// tape keeps.
const maxPatchGeoms = 64

// packKey names a weight matrix: a parameter's value and the offset of a
// group's rows in it.
type packKey struct {
	w   *tensor.Tensor
	off int
}

// NewTape returns a tape whose kernels use the given number of threads.
func NewTape(threads int) *Tape {
	return &Tape{Threads: max(threads, 1), free: map[int][][]float32{}}
}

// Reset forgets the recorded operations and recycles every value and
// gradient the tape allocated. Vars from before the Reset must not be used.
func (t *Tape) Reset() {
	for _, b := range t.live {
		t.free[len(b)] = append(t.free[len(b)], b)
	}
	t.live = t.live[:0]
	clear(t.nodes)
	t.nodes = t.nodes[:0]
}

// alloc returns a zeroed tensor from the pool.
func (t *Tape) alloc(shape ...int) *tensor.Tensor {
	b := t.buf(tensor.Numel(shape))
	t.forEach(len(b), func(lo, hi int) { clear(b[lo:hi]) })
	return &tensor.Tensor{Shape: append([]int(nil), shape...), Data: b}
}

// allocNoZero returns a tensor from the pool whose contents are undefined;
// for outputs that are fully overwritten.
func (t *Tape) allocNoZero(shape ...int) *tensor.Tensor {
	return &tensor.Tensor{Shape: append([]int(nil), shape...), Data: t.buf(tensor.Numel(shape))}
}

func (t *Tape) buf(n int) []float32 {
	var b []float32
	if l := t.free[n]; len(l) > 0 {
		b = l[len(l)-1]
		t.free[n] = l[:len(l)-1]
	} else {
		b = make([]float32, n)
	}
	t.largest = max(t.largest, n)
	t.live = append(t.live, b)
	return b
}

// Largest returns the length of the largest buffer the tape has handed
// out (values, gradients, scratch) since it was made.
func (t *Tape) Largest() int { return t.largest }

// Scratch returns an uninitialised buffer of n float32s that lives until
// Reset, for Custom operations that keep state for their backward pass.
func (t *Tape) Scratch(n int) []float32 { return t.buf(n) }

// Constant records a value that needs no gradient.
func (t *Tape) Constant(v *tensor.Tensor) *Var {
	return &Var{Value: v, tape: t}
}

// Leaf records a trainable value whose gradient accumulates into grad,
// which must have the same shape and is not cleared by the tape.
func (t *Tape) Leaf(value, grad *tensor.Tensor) *Var {
	if !slices.Equal(value.Shape, grad.Shape) {
		panic(fmt.Sprintf("autodiff: Leaf: value %v, gradient %v", value, grad))
	}
	if t.NoGrad {
		return &Var{Value: value, tape: t, param: true}
	}
	return &Var{Value: value, Grad: grad, tape: t, requiresGrad: true}
}

// node records an operation's output. If no input requires a gradient the
// output does not either and back is dropped.
func (t *Tape) node(value *tensor.Tensor, back func(), inputs ...*Var) *Var {
	v := &Var{Value: value, tape: t}
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			v.requiresGrad = true
			break
		}
	}
	if v.requiresGrad {
		v.back = back
		t.nodes = append(t.nodes, v)
	}
	return v
}

// grad returns v's gradient tensor, allocating a zeroed one on first use.
// It returns nil if v needs no gradient.
func (v *Var) grad() *tensor.Tensor {
	if !v.requiresGrad {
		return nil
	}
	if v.Grad == nil {
		v.Grad = v.tape.alloc(v.Value.Shape...)
	}
	return v.Grad
}

// gradFresh returns v's gradient tensor for an operation that writes
// every element of it: a new one with undefined contents (fresh true) if
// v has none yet, else the existing one, which the operation must add to.
// It returns nil if v needs no gradient.
func (v *Var) gradFresh() (g *tensor.Tensor, fresh bool) {
	if !v.requiresGrad {
		return nil, false
	}
	if v.Grad == nil {
		v.Grad = v.tape.allocNoZero(v.Value.Shape...)
		return v.Grad, true
	}
	return v.Grad, false
}

// Backward computes the gradients of the scalar loss with respect to every
// variable that requires one, by running the recorded operations in reverse.
func (t *Tape) Backward(loss *Var) {
	if loss.Value.Len() != 1 {
		panic(fmt.Sprintf("autodiff: Backward: loss has shape %v, want a scalar", loss.Value.Shape))
	}
	if !loss.requiresGrad {
		return
	}
	loss.grad().Data[0] = 1
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := t.nodes[i]
		if n.Grad != nil && n.back != nil {
			n.back()
		}
	}
}

// Custom records an operation computed by the caller: out is its value
// (allocated by the caller, e.g. with Scratch) and back, called during
// Backward with the output's gradient, must add the input gradients into
// grads[i] for every input whose grads[i] is non-nil (inputs may be nil,
// for optional operands). This is the hook that
// lets quantizers define straight-through estimators.
func (t *Tape) Custom(out *tensor.Tensor, back func(dout *tensor.Tensor, grads []*tensor.Tensor), inputs ...*Var) *Var {
	var v *Var
	v = t.node(out, func() {
		grads := make([]*tensor.Tensor, len(inputs))
		for i, in := range inputs {
			if in != nil {
				grads[i] = in.grad()
			}
		}
		back(v.Grad, grads)
	}, inputs...)
	return v
}

// CustomFresh is Custom for a backward pass that may write an input's
// gradient instead of adding to it: fresh[i] reports that grads[i] has
// not been written by any other operation and holds undefined values,
// which back must overwrite entirely; the other gradients are added to.
func (t *Tape) CustomFresh(out *tensor.Tensor, back func(dout *tensor.Tensor, grads []*tensor.Tensor, fresh []bool), inputs ...*Var) *Var {
	var v *Var
	v = t.node(out, func() {
		grads := make([]*tensor.Tensor, len(inputs))
		fresh := make([]bool, len(inputs))
		for i, in := range inputs {
			if in != nil {
				grads[i], fresh[i] = in.gradFresh()
			}
		}
		back(v.Grad, grads, fresh)
	}, inputs...)
	return v
}

// NewValue returns a tensor from the tape's pool, zeroed, for building the
// output of a Custom operation.
func (t *Tape) NewValue(shape ...int) *tensor.Tensor { return t.alloc(shape...) }

// NewOutput is NewValue without the zeroing, for the output of a Custom
// operation that writes every element.
func (t *Tape) NewOutput(shape ...int) *tensor.Tensor { return t.allocNoZero(shape...) }

// mulWeights computes C = A·Wᵀ for the rows×k matrix A and the n×k
// weight matrix W at w.Value.Data[off:] (row stride k): the forward GEMM
// of Linear and Conv2d. On a Frozen tape a parameter's W is packed once.
func (t *Tape) mulWeights(rows, n, k int, a []float32, lda int, w *Var, off int, c []float32, ldc int) {
	if rows > 0 && t.Threads <= 1 {
		if pb := t.packedWeights(n, k, w, off); pb != nil {
			gemm.SgemmB(rows, a, lda, pb, 0, c, ldc)
			return
		}
	}
	gemm.SgemmParallel(t.Threads, false, true, rows, n, k, a, lda, w.Value.Data[off:], k, 0, c, ldc)
}

// mulGathered is mulWeights for a gathered A, with the same results bit
// for bit.
func (t *Tape) mulGathered(a gemm.Gather, n int, w *Var, off int, c []float32, ldc int) {
	k := len(a.Cols)
	if len(a.Rows) > 0 && t.Threads <= 1 {
		if pb := t.packedWeights(n, k, w, off); pb != nil {
			gemm.SgemmGatherB(a, pb, 0, c, ldc)
			return
		}
	}
	gemm.SgemmGather(t.Threads, a, true, n, w.Value.Data[off:], k, 0, c, ldc)
}

// packedWeights returns the n×k weight matrix at w.Value.Data[off:] packed
// for gemm.SgemmB, packing it on first use, when the tape is Frozen and w
// a parameter; else, or if gemm does not pack it, nil.
func (t *Tape) packedWeights(n, k int, w *Var, off int) *gemm.PackedB {
	if !t.Frozen || !w.param {
		return nil
	}
	key := packKey{w.Value, off}
	pb, ok := t.packs[key]
	if !ok {
		pb = gemm.PackB(true, n, k, w.Value.Data[off:], k)
		if t.packs == nil {
			t.packs = map[packKey]*gemm.PackedB{}
		}
		t.packs[key] = pb
	}
	return pb
}

// patchOffsets returns the patch offsets of the convolution g, computed
// once per geometry.
func (t *Tape) patchOffsets(g *tensor.ConvGeom) convPatches {
	if po, ok := t.patches[*g]; ok {
		return po
	}
	if t.patches == nil || len(t.patches) >= maxPatchGeoms {
		t.patches = map[tensor.ConvGeom]convPatches{}
	}
	var po convPatches
	po.rows, po.cols, po.ok = g.PatchOffsets()
	t.patches[*g] = po
	return po
}
