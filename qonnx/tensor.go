package qonnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/internal/onnxpb"
)

// MaxElements is the largest number of elements a decoded or computed tensor
// may have (1<<28). Declared shapes above it are rejected before any
// allocation.
const MaxElements = 1 << 28

// DType is the element type of a Tensor.
type DType int

const (
	// Float tensors keep their values in Tensor.Float (ONNX FLOAT, DOUBLE and
	// FLOAT16 all decode to float32).
	Float DType = iota
	// Int tensors keep their values in Tensor.Int (every ONNX integer type and
	// BOOL decode to int64).
	Int
)

func (d DType) String() string {
	if d == Int {
		return "int"
	}
	return "float"
}

// Tensor is a dense row-major tensor. Exactly one of Float and Int holds the
// data, according to DType; its length is the product of Shape (1 for a
// scalar, whose Shape is empty).
type Tensor struct {
	Shape []int
	DType DType
	Float []float32
	Int   []int64
}

// NewFloat returns a float tensor of the given shape holding data (not
// copied). It panics if len(data) does not match the shape.
func NewFloat(data []float32, shape ...int) *Tensor {
	if n, err := numElements(shape); err != nil || n != len(data) {
		panic("qonnx: NewFloat: data length does not match shape")
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: Float, Float: data}
}

// NewInt returns an integer tensor of the given shape holding data (not
// copied). It panics if len(data) does not match the shape.
func NewInt(data []int64, shape ...int) *Tensor {
	if n, err := numElements(shape); err != nil || n != len(data) {
		panic("qonnx: NewInt: data length does not match shape")
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: Int, Int: data}
}

// Len returns the number of elements.
func (t *Tensor) Len() int {
	if t.DType == Int {
		return len(t.Int)
	}
	return len(t.Float)
}

// Floats returns the values as float32 (converting integer tensors).
func (t *Tensor) Floats() []float32 {
	if t.DType == Float {
		return t.Float
	}
	f := make([]float32, len(t.Int))
	for i, v := range t.Int {
		f[i] = float32(v)
	}
	return f
}

// Ints returns the values as int64 (truncating float tensors).
func (t *Tensor) Ints() []int64 {
	if t.DType == Int {
		return t.Int
	}
	v := make([]int64, len(t.Float))
	for i, f := range t.Float {
		v[i] = int64(f)
	}
	return v
}

// Scalar returns the single value of a one-element tensor.
func (t *Tensor) Scalar() (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("want a single value, have shape %v", t.Shape)
	}
	if t.DType == Int {
		return float64(t.Int[0]), nil
	}
	return float64(t.Float[0]), nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Shape: append([]int(nil), t.Shape...), DType: t.DType}
	if t.DType == Int {
		c.Int = append([]int64(nil), t.Int...)
	} else {
		c.Float = append([]float32(nil), t.Float...)
	}
	return c
}

var errTooLarge = errors.New("tensor too large")

// numElements returns the product of shape, rejecting negative dimensions
// and products above MaxElements.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > MaxElements/d {
			return 0, fmt.Errorf("shape %v: %w (more than %d elements)", shape, errTooLarge, MaxElements)
		}
		n *= d
	}
	if n > MaxElements {
		return 0, fmt.Errorf("shape %v: %w (more than %d elements)", shape, errTooLarge, MaxElements)
	}
	return n, nil
}

// decodeTensor converts an ONNX TensorProto, checking that the declared
// shape matches the data before allocating.
func decodeTensor(tp *onnxpb.TensorProto) (*Tensor, error) {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, errors.New("external data is not supported")
	}
	if tp.GetSegment() != nil {
		return nil, errors.New("segmented tensors are not supported")
	}
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		if d < 0 || d > MaxElements {
			return nil, fmt.Errorf("dimension %d is %d", i, d)
		}
		shape[i] = int(d)
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	raw := tp.GetRawData()
	hasRaw := len(raw) > 0
	dt := onnxpb.TensorProto_DataType(tp.GetDataType())
	checkLen := func(have, size int, field string) error {
		if have != n {
			if size > 0 {
				return fmt.Errorf("%s data has %d bytes, shape %v of %v needs %d", field, have*size, shape, dt, n*size)
			}
			return fmt.Errorf("%s has %d values, shape %v needs %d", field, have, shape, n)
		}
		return nil
	}
	t := &Tensor{Shape: shape}
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		t.DType = Float
		if hasRaw {
			if len(raw)%4 != 0 {
				return nil, fmt.Errorf("raw data of %d bytes is not a whole number of FLOAT values", len(raw))
			}
			if err := checkLen(len(raw)/4, 4, "raw"); err != nil {
				return nil, err
			}
			t.Float = make([]float32, n)
			for i := range t.Float {
				t.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			if err := checkLen(len(tp.GetFloatData()), 0, "float_data"); err != nil {
				return nil, err
			}
			t.Float = append([]float32(nil), tp.GetFloatData()...)
		}
	case onnxpb.TensorProto_DOUBLE:
		t.DType = Float
		t.Float = make([]float32, 0, min(n, len(raw)/8+len(tp.GetDoubleData())))
		if hasRaw {
			if len(raw) != 8*n {
				return nil, checkLen(len(raw)/8, 8, "raw")
			}
			for i := 0; i < n; i++ {
				t.Float = append(t.Float, float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))))
			}
		} else {
			if err := checkLen(len(tp.GetDoubleData()), 0, "double_data"); err != nil {
				return nil, err
			}
			for _, v := range tp.GetDoubleData() {
				t.Float = append(t.Float, float32(v))
			}
		}
	case onnxpb.TensorProto_FLOAT16:
		t.DType = Float
		if hasRaw {
			if len(raw) != 2*n {
				return nil, checkLen(len(raw)/2, 2, "raw")
			}
			t.Float = make([]float32, n)
			for i := range t.Float {
				t.Float[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		} else {
			if err := checkLen(len(tp.GetInt32Data()), 0, "int32_data"); err != nil {
				return nil, err
			}
			t.Float = make([]float32, n)
			for i, v := range tp.GetInt32Data() {
				t.Float[i] = halfToFloat(uint16(v))
			}
		}
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32, onnxpb.TensorProto_INT16,
		onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT8, onnxpb.TensorProto_UINT16,
		onnxpb.TensorProto_BOOL, onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		t.DType = Int
		size := intSize(dt)
		if hasRaw {
			if len(raw) != size*n {
				return nil, checkLen(len(raw)/size, size, "raw")
			}
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = readInt(raw[size*i:], dt)
			}
			break
		}
		switch dt {
		case onnxpb.TensorProto_INT64:
			if err := checkLen(len(tp.GetInt64Data()), 0, "int64_data"); err != nil {
				return nil, err
			}
			t.Int = append([]int64(nil), tp.GetInt64Data()...)
		case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
			if err := checkLen(len(tp.GetUint64Data()), 0, "uint64_data"); err != nil {
				return nil, err
			}
			t.Int = make([]int64, n)
			for i, v := range tp.GetUint64Data() {
				t.Int[i] = int64(v)
			}
		default:
			if err := checkLen(len(tp.GetInt32Data()), 0, "int32_data"); err != nil {
				return nil, err
			}
			t.Int = make([]int64, n)
			for i, v := range tp.GetInt32Data() {
				t.Int[i] = int64(v)
			}
		}
	default:
		return nil, fmt.Errorf("unsupported data type %v (%d)", dt, tp.GetDataType())
	}
	return t, nil
}

func intSize(dt onnxpb.TensorProto_DataType) int {
	switch dt {
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_UINT64:
		return 8
	case onnxpb.TensorProto_INT32, onnxpb.TensorProto_UINT32:
		return 4
	case onnxpb.TensorProto_INT16, onnxpb.TensorProto_UINT16:
		return 2
	}
	return 1
}

func readInt(b []byte, dt onnxpb.TensorProto_DataType) int64 {
	switch dt {
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_UINT64:
		return int64(binary.LittleEndian.Uint64(b))
	case onnxpb.TensorProto_INT32:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	case onnxpb.TensorProto_UINT32:
		return int64(binary.LittleEndian.Uint32(b))
	case onnxpb.TensorProto_INT16:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	case onnxpb.TensorProto_UINT16:
		return int64(binary.LittleEndian.Uint16(b))
	case onnxpb.TensorProto_INT8:
		return int64(int8(b[0]))
	}
	return int64(b[0])
}

// halfToFloat converts IEEE 754 binary16 bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		v := float32(mant) / 1024 / (1 << 14)
		if sign != 0 {
			return -v
		}
		return v
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | mant<<13)
}

// encodeTensor converts t to an ONNX TensorProto (FLOAT or INT64, raw data).
func encodeTensor(name string, t *Tensor) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Name: &name, Dims: make([]int64, len(t.Shape))}
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	if t.DType == Int {
		dt := int32(onnxpb.TensorProto_INT64)
		tp.DataType = &dt
		tp.RawData = make([]byte, 8*len(t.Int))
		for i, v := range t.Int {
			binary.LittleEndian.PutUint64(tp.RawData[8*i:], uint64(v))
		}
		return tp
	}
	dt := int32(onnxpb.TensorProto_FLOAT)
	tp.DataType = &dt
	tp.RawData = make([]byte, 4*len(t.Float))
	for i, v := range t.Float {
		binary.LittleEndian.PutUint32(tp.RawData[4*i:], math.Float32bits(v))
	}
	return tp
}
