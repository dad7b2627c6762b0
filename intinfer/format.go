package intinfer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/a2qtoolkit/a2q/fileio"
)

// Magic starts every integer model file. Version is the newest format
// version this package reads and writes: version 2 adds the float ops
// batch_norm and clip (after the last layer or before the first), version
// 3 a layer's tile (multi-stage accumulation), version 4 models with
// branches (a graph of steps, and transposed convolutions). Encode writes
// the oldest version that holds the model, so that older readers keep
// reading what they can run and refuse what they would run wrongly;
// Decode reads all four.
const (
	Magic   = "A2QINT"
	Version = 4
)

const prefixLen = len(Magic) + 2 + 4

// fileHeader is the JSON header of an integer model file.
type fileHeader struct {
	Model        string   `json:"model"`
	Task         string   `json:"task"`
	Input        [3]int   `json:"input"` // H, W, C
	PayloadBytes int64    `json:"payload_bytes"`
	PayloadCRC32 uint32   `json:"payload_crc32"`
	Ops          []fileOp `json:"ops"`
	// Graph (version 4) is a model with branches: its steps, and Ops its
	// layers only, in the order of the steps that use them.
	Graph *fileGraph `json:"graph,omitempty"`
}

// fileGraph is a graph model's steps (see gstep) and the value it
// outputs (0 the image, i + 1 step i's output).
type fileGraph struct {
	Steps  []fileStep `json:"steps"`
	Output int        `json:"output"`
}

// fileStep is one graph step; a layer step takes the next layer of Ops.
type fileStep struct {
	Name   string `json:"name"`
	Op     OpKind `json:"op"`
	Inputs []int  `json:"inputs"`
	// A sum's or global average's input quantizer.
	Bits   int     `json:"bits,omitempty"`
	Signed bool    `json:"signed,omitempty"`
	Scale  float32 `json:"scale,omitempty"`
	// A clip's bounds (absent: infinite), a batch norm's operands, a
	// leaky ReLU's slope.
	Min   *float32  `json:"min,omitempty"`
	Max   *float32  `json:"max,omitempty"`
	Norm  *fileNorm `json:"norm,omitempty"`
	Alpha float32   `json:"alpha,omitempty"`
	// Pools, depth to space, resizing and padding.
	K      int     `json:"k,omitempty"`
	Stride int     `json:"stride,omitempty"`
	R      int     `json:"r,omitempty"`
	Pads   *[4]int `json:"pads,omitempty"`
	Value  float32 `json:"value,omitempty"`
}

type fileOp struct {
	Op     OpKind     `json:"op"`
	K      int        `json:"k,omitempty"`
	Stride int        `json:"stride,omitempty"`
	R      int        `json:"r,omitempty"`
	Layer  *fileLayer `json:"layer,omitempty"`
	// Version 2: a clip's bounds (absent: infinite), a batch norm's
	// operands.
	Min  *float32  `json:"min,omitempty"`
	Max  *float32  `json:"max,omitempty"`
	Norm *fileNorm `json:"norm,omitempty"`
}

// fileNorm is a batch norm's float32 operands (see Norm).
type fileNorm struct {
	Name   string `json:"name"`
	Mean   array  `json:"mean"`
	InvStd array  `json:"inv_std"`
	Gamma  array  `json:"gamma"`
	Beta   array  `json:"beta"`
}

type fileLayer struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	InC         int     `json:"in_c"`
	OutC        int     `json:"out_c"`
	KH          int     `json:"kh"`
	KW          int     `json:"kw"`
	Stride      int     `json:"stride"`
	Pad         int     `json:"pad"`
	Groups      int     `json:"groups"`
	K           int     `json:"k"`
	WeightBits  int     `json:"weight_bits"`
	InputBits   int     `json:"input_bits"`
	InputSigned bool    `json:"input_signed"`
	InputScale  float32 `json:"input_scale"`
	AccBits     int     `json:"acc_bits"`
	// Tile is Layer.Tile (version 3; absent: one stage).
	Tile int `json:"tile,omitempty"`
	// OutPad is a transposed convolution's output padding (version 4).
	OutPad    int  `json:"out_pad,omitempty"`
	OutBits   int  `json:"out_bits"`
	OutSigned bool `json:"out_signed"`

	Weights    array  `json:"weights"`
	Scale      array  `json:"scale"`
	Bias       array  `json:"bias"`
	Thresholds *array `json:"thresholds,omitempty"`
}

// array locates a little-endian array in the payload.
type array struct {
	DType  string `json:"dtype"` // int8, int16, int32, int64, float32
	Offset int64  `json:"offset"`
	Count  int64  `json:"count"`
}

var dtypeSize = map[string]int64{"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4}

// Encode serialises m in the integer model format (see the package doc).
func (m *Model) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var payload bytes.Buffer
	put := func(dtype string, n int, at func(i int) int64, f []float32) array {
		a := array{DType: dtype, Offset: int64(payload.Len()), Count: int64(n)}
		var b [8]byte
		for i := 0; i < n; i++ {
			switch dtype {
			case "int8":
				payload.WriteByte(byte(at(i)))
			case "int16":
				binary.LittleEndian.PutUint16(b[:], uint16(at(i)))
				payload.Write(b[:2])
			case "int32":
				binary.LittleEndian.PutUint32(b[:], uint32(at(i)))
				payload.Write(b[:4])
			case "int64":
				binary.LittleEndian.PutUint64(b[:], uint64(at(i)))
				payload.Write(b[:8])
			case "float32":
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(f[i]))
				payload.Write(b[:4])
			}
		}
		return a
	}
	h := fileHeader{Model: m.Name, Task: m.Task, Input: [3]int{m.InH, m.InW, m.InC}}
	version := uint16(1)
	putNorm := func(nm *Norm) *fileNorm {
		return &fileNorm{Name: nm.Name,
			Mean:   put("float32", len(nm.Mean), nil, nm.Mean),
			InvStd: put("float32", len(nm.InvStd), nil, nm.InvStd),
			Gamma:  put("float32", len(nm.Gamma), nil, nm.Gamma),
			Beta:   put("float32", len(nm.Beta), nil, nm.Beta)}
	}
	for _, op := range m.Ops {
		fo := fileOp{Op: op.Kind, K: op.K, Stride: op.Stride, R: op.R}
		switch op.Kind {
		case OpClip:
			version = max(version, 2)
			fo.Min, fo.Max = fileBounds(op.Lo, op.Hi)
		case OpBatchNorm:
			version = max(version, 2)
			fo.Norm = putNorm(op.Norm)
		}
		if l := op.Layer; l != nil {
			wt := "int32"
			switch {
			case l.WeightBits <= 8:
				wt = "int8"
			case l.WeightBits <= 16:
				wt = "int16"
			}
			fl := &fileLayer{Name: l.Name, Kind: l.Kind, InC: l.InC, OutC: l.OutC, KH: l.KH, KW: l.KW, Stride: l.Stride,
				Pad: l.Pad, Groups: l.Groups, K: l.K, WeightBits: l.WeightBits, InputBits: l.InputBits,
				InputSigned: l.InputSigned, InputScale: l.InputScale, AccBits: l.AccBits, Tile: l.Tile, OutPad: l.OutPad, OutBits: l.OutBits, OutSigned: l.OutSigned}
			if l.Tile != 0 {
				version = max(version, 3)
			}
			fl.Weights = put(wt, len(l.Weights), func(i int) int64 { return int64(l.Weights[i]) }, nil)
			fl.Scale = put("float32", len(l.Scale), nil, l.Scale)
			fl.Bias = put("float32", len(l.Bias), nil, l.Bias)
			if l.Thresholds != nil {
				t := put("int64", len(l.Thresholds), func(i int) int64 { return l.Thresholds[i] }, nil)
				fl.Thresholds = &t
			}
			fo.Layer = fl
		}
		h.Ops = append(h.Ops, fo)
	}
	if m.dag != nil {
		version = 4
		h.Graph = &fileGraph{Output: m.output}
		for _, st := range m.graph {
			fs := fileStep{Name: st.Name, Op: st.Op, Inputs: st.Inputs, Alpha: st.Alpha, K: st.K, Stride: st.Stride, R: st.R}
			switch st.Op {
			case opSum, opMean:
				fs.Bits, fs.Signed, fs.Scale = st.Bits, st.Signed, st.Scale
			case OpBatchNorm:
				fs.Norm = putNorm(st.Norm)
			case OpClip:
				fs.Min, fs.Max = fileBounds(st.Lo, st.Hi)
			case opPad:
				pads := st.Pads
				fs.Pads, fs.Value = &pads, st.Value
			}
			h.Graph.Steps = append(h.Graph.Steps, fs)
		}
	}
	h.PayloadBytes = int64(payload.Len())
	h.PayloadCRC32 = crc32.ChecksumIEEE(payload.Bytes())
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, prefixLen, prefixLen+len(hj)+payload.Len())
	copy(out, Magic)
	binary.LittleEndian.PutUint16(out[6:], version)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(hj)))
	out = append(out, hj...)
	return append(out, payload.Bytes()...), nil
}

// Decode parses an integer model file's bytes; name identifies the file in
// errors. The model is validated before it is returned.
func Decode(b []byte, name string) (*Model, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("integer model %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(b) < prefixLen {
		return nil, fail("truncated: %d bytes, shorter than the %d-byte preamble", len(b), prefixLen)
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, fail("not an integer model (magic %q, want %q)", b[:len(Magic)], Magic)
	}
	version := binary.LittleEndian.Uint16(b[6:])
	if version < 1 || version > Version {
		return nil, fail("format version %d, this program reads versions 1 to %d", version, Version)
	}
	hl := int64(binary.LittleEndian.Uint32(b[8:]))
	if int64(len(b)-prefixLen) < hl {
		return nil, fail("truncated: header of %d bytes at offset %d, file has %d bytes", hl, prefixLen, len(b))
	}
	var h fileHeader
	dec := json.NewDecoder(bytes.NewReader(b[prefixLen : prefixLen+int(hl)]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fail("header at offset %d: %v", prefixLen, err)
	}
	if dec.InputOffset() != hl {
		return nil, fail("header at offset %d: %d bytes after the JSON document", prefixLen, hl-dec.InputOffset())
	}
	payload := b[prefixLen+int(hl):]
	if h.PayloadBytes != int64(len(payload)) {
		if h.PayloadBytes > int64(len(payload)) {
			return nil, fail("truncated: payload of %d bytes at offset %d, only %d present", h.PayloadBytes, int64(prefixLen)+hl, len(payload))
		}
		return nil, fail("%d bytes after the %d-byte payload", int64(len(payload))-h.PayloadBytes, h.PayloadBytes)
	}
	if c := crc32.ChecksumIEEE(payload); c != h.PayloadCRC32 {
		return nil, fail("payload checksum %08x, header says %08x: the file is corrupted", c, h.PayloadCRC32)
	}
	m := &Model{Name: h.Model, Task: h.Task, InH: h.Input[0], InW: h.Input[1], InC: h.Input[2]}
	for i, fo := range h.Ops {
		op := Op{Kind: fo.Op, K: fo.K, Stride: fo.Stride, R: fo.R}
		if (fo.Op == OpLayer) != (fo.Layer != nil) {
			return nil, fail("op %d (%s): layer description present on a non-layer op or missing on a layer op", i, fo.Op)
		}
		if (fo.Op == OpBatchNorm) != (fo.Norm != nil) || fo.Op != OpClip && (fo.Min != nil || fo.Max != nil) {
			return nil, fail("op %d (%s): batch-norm operands or clip bounds on the wrong op", i, fo.Op)
		}
		if (fo.Op == OpBatchNorm || fo.Op == OpClip) && version < 2 {
			return nil, fail("op %d (%s) needs format version 2, the file is version %d", i, fo.Op, version)
		}
		if fo.Op == OpClip {
			op.Lo, op.Hi = clipBounds(fo.Min, fo.Max)
		}
		if fn := fo.Norm; fn != nil {
			nm, err := readNorm(payload, fn)
			if err != nil {
				return nil, fail("%v", err)
			}
			op.Norm = nm
		}
		if fl := fo.Layer; fl != nil {
			l := &Layer{Name: fl.Name, Kind: fl.Kind, InC: fl.InC, OutC: fl.OutC, KH: fl.KH, KW: fl.KW, Stride: fl.Stride,
				Pad: fl.Pad, Groups: fl.Groups, K: fl.K, WeightBits: fl.WeightBits, InputBits: fl.InputBits,
				InputSigned: fl.InputSigned, InputScale: fl.InputScale, AccBits: fl.AccBits, Tile: fl.Tile, OutPad: fl.OutPad, OutBits: fl.OutBits, OutSigned: fl.OutSigned}
			if fl.Tile != 0 && version < 3 {
				return nil, fail("layer %s: a tile needs format version 3, the file is version %d", fl.Name, version)
			}
			if (fl.OutPad != 0 || fl.Kind == "conv_transpose") && h.Graph == nil {
				return nil, fail("layer %s: a transposed convolution belongs in a graph model (format version 4)", fl.Name)
			}
			var err error
			if l.Weights, err = readInts[int32](payload, fl.Weights, "weights"); err != nil {
				return nil, fail("layer %s: %v", fl.Name, err)
			}
			if l.Scale, err = readFloats(payload, fl.Scale, "scale"); err != nil {
				return nil, fail("layer %s: %v", fl.Name, err)
			}
			if l.Bias, err = readFloats(payload, fl.Bias, "bias"); err != nil {
				return nil, fail("layer %s: %v", fl.Name, err)
			}
			if fl.Thresholds != nil {
				if fl.Thresholds.DType != "int64" {
					return nil, fail("layer %s: thresholds: dtype %q, want int64", fl.Name, fl.Thresholds.DType)
				}
				if l.Thresholds, err = readInts[int64](payload, *fl.Thresholds, "thresholds"); err != nil {
					return nil, fail("layer %s: %v", fl.Name, err)
				}
			}
			op.Layer = l
		}
		m.Ops = append(m.Ops, op)
	}
	if g := h.Graph; g != nil {
		if version < 4 {
			return nil, fail("a graph needs format version 4, the file is version %d", version)
		}
		if err := m.decodeGraph(payload, g); err != nil {
			return nil, fail("%v", err)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fail("%v", err)
	}
	return m, nil
}

// decodeGraph builds m's plan from a file's graph; m.Ops holds its layers.
func (m *Model) decodeGraph(payload []byte, g *fileGraph) error {
	if len(g.Steps) > maxGraphSteps {
		return fmt.Errorf("%d graph steps", len(g.Steps))
	}
	layers := m.Ops
	steps := make([]gstep, len(g.Steps))
	for i, fs := range g.Steps {
		st := gstep{Name: fs.Name, Op: fs.Op, Inputs: fs.Inputs, Bits: fs.Bits, Signed: fs.Signed, Scale: fs.Scale,
			Alpha: fs.Alpha, K: fs.K, Stride: fs.Stride, R: fs.R, Value: fs.Value}
		st.Lo, st.Hi = clipBounds(fs.Min, fs.Max)
		if fs.Pads != nil {
			st.Pads = *fs.Pads
		}
		if (fs.Op == OpBatchNorm) != (fs.Norm != nil) || fs.Op != OpClip && (fs.Min != nil || fs.Max != nil) || fs.Op != opPad && fs.Pads != nil {
			return fmt.Errorf("step %d (%s): batch-norm operands, clip bounds or pads on the wrong step", i, fs.Name)
		}
		if fs.Norm != nil {
			nm, err := readNorm(payload, fs.Norm)
			if err != nil {
				return fmt.Errorf("step %d: %v", i, err)
			}
			st.Norm = nm
		}
		if fs.Op == OpLayer {
			if len(layers) == 0 || layers[0].Kind != OpLayer {
				return fmt.Errorf("step %d (%s): no layer left in ops for it (ops of a graph model are its layers, in order)", i, fs.Name)
			}
			st.Layer = layers[0].Layer
			layers = layers[1:]
		}
		steps[i] = st
	}
	if len(layers) != 0 {
		return fmt.Errorf("%d ops left after the graph's layer steps (ops of a graph model are its layers, in order)", len(layers))
	}
	return m.buildGraph(steps, g.Output)
}

// fileBounds are a clip's bounds as the file holds them: absent where
// infinite.
func fileBounds(lo, hi float32) (fileLo, fileHi *float32) {
	if !math.IsInf(float64(lo), -1) {
		fileLo = &lo
	}
	if !math.IsInf(float64(hi), 1) {
		fileHi = &hi
	}
	return fileLo, fileHi
}

// clipBounds reads a clip's bounds from the file's (absent: infinite).
func clipBounds(fileLo, fileHi *float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if fileLo != nil {
		lo = *fileLo
	}
	if fileHi != nil {
		hi = *fileHi
	}
	return lo, hi
}

// readNorm reads a batch norm's operands from the payload.
func readNorm(payload []byte, fn *fileNorm) (*Norm, error) {
	nm := &Norm{Name: fn.Name}
	for _, f := range []struct {
		dst  *[]float32
		a    array
		name string
	}{{&nm.Mean, fn.Mean, "mean"}, {&nm.InvStd, fn.InvStd, "inv_std"}, {&nm.Gamma, fn.Gamma, "gamma"}, {&nm.Beta, fn.Beta, "beta"}} {
		v, err := readFloats(payload, f.a, f.name)
		if err != nil {
			return nil, fmt.Errorf("batch norm %s: %v", fn.Name, err)
		}
		*f.dst = v
	}
	return nm, nil
}

// span checks that a lies inside the payload and returns its bytes.
func span(payload []byte, a array, field string) ([]byte, error) {
	sz, ok := dtypeSize[a.DType]
	if !ok {
		return nil, fmt.Errorf("%s: unknown dtype %q", field, a.DType)
	}
	n := int64(len(payload))
	if a.Offset < 0 || a.Count < 0 || a.Offset > n || a.Count > (n-a.Offset)/sz {
		return nil, fmt.Errorf("%s: %d %s values at payload offset %d run past the %d-byte payload", field, a.Count, a.DType, a.Offset, n)
	}
	return payload[a.Offset : a.Offset+a.Count*sz], nil
}

func readInts[T int32 | int64](payload []byte, a array, field string) ([]T, error) {
	b, err := span(payload, a, field)
	if err != nil {
		return nil, err
	}
	out := make([]T, a.Count)
	for i := range out {
		switch a.DType {
		case "int8":
			out[i] = T(int8(b[i]))
		case "int16":
			out[i] = T(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case "int32":
			out[i] = T(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case "int64":
			v := int64(binary.LittleEndian.Uint64(b[8*i:]))
			if int64(T(v)) != v {
				return nil, fmt.Errorf("%s: value %d does not fit", field, v)
			}
			out[i] = T(v)
		default:
			return nil, fmt.Errorf("%s: dtype %q is not an integer type", field, a.DType)
		}
	}
	return out, nil
}

func readFloats(payload []byte, a array, field string) ([]float32, error) {
	if a.DType != "float32" {
		return nil, fmt.Errorf("%s: dtype %q, want float32", field, a.DType)
	}
	b, err := span(payload, a, field)
	if err != nil {
		return nil, err
	}
	out := make([]float32, a.Count)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Save writes m to path atomically (a temporary file, then a rename).
func Save(path string, m *Model) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("integer model %s: %w", path, err)
	}
	return fileio.WriteAtomic(path, b)
}

// MaxFileSize bounds the integer model files Load reads (4 GiB).
const MaxFileSize = 1 << 32

// Load reads and validates an integer model file: a regular file of at
// most MaxFileSize bytes (a device, a named pipe or a directory is an error
// naming it).
func Load(path string) (*Model, error) {
	b, err := fileio.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("integer model: %w", err)
	}
	return Decode(b, path)
}
