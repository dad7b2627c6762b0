package qonnx

import (
	"fmt"
	"slices"
)

// broadcastShape returns the numpy broadcast of two shapes.
func broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	if _, err := numElements(out); err != nil {
		return nil, err
	}
	return out, nil
}

// broadcastStrides returns the element strides of a tensor of shape s when
// read as a tensor of the (broadcast) shape out: 0 along broadcast axes.
func broadcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(s) - len(out) + i
		if j < 0 {
			continue
		}
		if s[j] != 1 {
			st[i] = stride
		}
		stride *= s[j]
	}
	return st
}

// forEachIndex calls f(i, ia, ib) for every flat index i of shape out, with
// the flat indices into two operands of strides sa and sb.
func forEachIndex(out, sa, sb []int, f func(i, ia, ib int)) {
	n, err := numElements(out)
	if err != nil || n == 0 {
		return
	}
	r := len(out)
	if r == 0 {
		f(0, 0, 0)
		return
	}
	idx := make([]int, r)
	ia, ib := 0, 0
	for i := 0; i < n; i++ {
		f(i, ia, ib)
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			ia += sa[d]
			ib += sb[d]
			if idx[d] < out[d] {
				break
			}
			ia -= sa[d] * out[d]
			ib -= sb[d] * out[d]
			idx[d] = 0
		}
	}
}

// broadcastTo returns t's values (as float32) broadcast to shape.
func broadcastTo(t *Tensor, shape []int) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("missing tensor")
	}
	bs, err := broadcastShape(t.Shape, shape)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(bs, shape) {
		return nil, fmt.Errorf("shape %v does not broadcast to %v", t.Shape, shape)
	}
	src := t.Floats()
	n, _ := numElements(shape)
	if len(src) == n {
		return src, nil
	}
	out := make([]float32, n)
	st := broadcastStrides(t.Shape, shape)
	forEachIndex(shape, st, st, func(i, ia, _ int) { out[i] = src[ia] })
	return out, nil
}

// nextIndex steps the multi-index idx to the next element of shape out in
// row-major order (after the last it wraps to all zeros).
func nextIndex(idx, out []int) {
	for d := len(out) - 1; d >= 0; d-- {
		idx[d]++
		if idx[d] < out[d] {
			return
		}
		idx[d] = 0
	}
}
