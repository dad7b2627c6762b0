package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a dense row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// FromData wraps data (not copied) in a tensor of the given shape. It panics
// if the lengths disagree.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Numel returns the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len returns the number of elements of t.
func (t *Tensor) Len() int { return len(t.Data) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Reshape returns a tensor sharing t's data with a new shape. One dimension
// may be -1 and is then inferred. It panics if the sizes disagree.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range s {
		if d == -1 {
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 && known > 0 {
		s[infer] = len(t.Data) / known
	}
	if Numel(s) != len(t.Data) {
		panic(fmt.Sprintf("tensor: reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: s, Data: t.Data}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// String describes the tensor's shape (not its values).
func (t *Tensor) String() string { return "tensor" + ShapeString(t.Shape) }

// ShapeString formats a shape as [a×b×c].
func ShapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, "×") + "]"
}

// NCHWToNHWC converts n images from channel-major (NCHW: data sets, ONNX)
// to channel-minor (NHWC: this package) order. With one channel the
// layouts coincide and it copies.
func NCHWToNHWC(dst, src []float32, n, c, h, w int) {
	if c == 1 {
		copy(dst[:n*h*w], src)
		return
	}
	hw := h * w
	for b := 0; b < n; b++ {
		s, d := src[b*c*hw:(b+1)*c*hw], dst[b*c*hw:(b+1)*c*hw]
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hw; p++ {
				d[p*c+ch] = s[ch*hw+p]
			}
		}
	}
}

// NHWCToNCHW is the inverse of NCHWToNHWC.
func NHWCToNCHW(dst, src []float32, n, c, h, w int) {
	if c == 1 {
		copy(dst[:n*h*w], src)
		return
	}
	hw := h * w
	for b := 0; b < n; b++ {
		s, d := src[b*c*hw:(b+1)*c*hw], dst[b*c*hw:(b+1)*c*hw]
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hw; p++ {
				d[ch*hw+p] = s[p*c+ch]
			}
		}
	}
}
