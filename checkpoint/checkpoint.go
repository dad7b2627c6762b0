// Package checkpoint reads and writes a2q checkpoints in the safetensors
// format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data.
// PyTorch, NumPy, Rust and Go tools read it. The model configuration,
// quantizer settings, training state and a format version live in the
// header's "__metadata__" map of strings.
//
// The format is small enough that a dependency would add more than it
// saves; this package also validates every offset and shape on reading, so
// a truncated or corrupted file is an error naming the file and the fault.
//
// Save writes to a temporary file in the destination directory, syncs it
// and renames it over the destination: a crash leaves the old checkpoint or
// the new one, never a torn file.
package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Format and Version identify a2q checkpoints in the metadata.
const (
	Format  = "a2q-checkpoint"
	Version = "1"
)

// maxHeader bounds the JSON header a reader accepts.
const maxHeader = 100 << 20

// Checkpoint is a set of named float32 tensors with string metadata.
type Checkpoint struct {
	Meta    map[string]string
	Tensors map[string]*tensor.Tensor
}

type entry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Encode returns the checkpoint in safetensors form. Tensors are stored in
// name order.
func (c *Checkpoint) Encode() ([]byte, error) {
	names := make([]string, 0, len(c.Tensors))
	for n := range c.Tensors {
		if n == "__metadata__" {
			return nil, fmt.Errorf("checkpoint: tensor name %q is reserved", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	meta := map[string]string{"format": Format, "version": Version}
	for k, v := range c.Meta {
		meta[k] = v
	}
	header["__metadata__"] = meta
	var off int64
	for _, n := range names {
		t := c.Tensors[n]
		size := int64(4 * t.Len())
		header[n] = entry{Dtype: "F32", Shape: t.Shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("checkpoint header: %w", err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	buf := make([]byte, 8, 8+len(h)+int(off))
	binary.LittleEndian.PutUint64(buf, uint64(len(h)))
	buf = append(buf, h...)
	for _, n := range names {
		for _, v := range c.Tensors[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	return buf, nil
}

// Save writes c to path atomically.
func Save(path string, c *Checkpoint) error {
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fileio.WriteAtomic(path, b)
}

// MaxFileSize bounds the checkpoint files Load reads (4 GiB).
const MaxFileSize = 1 << 32

// Load reads a checkpoint file: a regular file of at most MaxFileSize bytes
// (a device, a named pipe or a directory is an error naming it).
func Load(path string) (*Checkpoint, error) {
	b, err := fileio.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	c, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Decode parses a safetensors byte slice, checking every offset and shape.
func Decode(b []byte) (*Checkpoint, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, a safetensors file starts with an 8-byte header length", len(b))
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl > maxHeader || hl > uint64(len(b)-8) {
		return nil, fmt.Errorf("header length %d does not fit in a %d-byte file", hl, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	data := b[8+hl:]
	c := &Checkpoint{Meta: map[string]string{}, Tensors: map[string]*tensor.Tensor{}}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &c.Meta); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if e.Dtype != "F32" {
			return nil, fmt.Errorf("tensor %q: dtype %s, a2q reads F32 only", name, e.Dtype)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || d > 1<<31 {
				return nil, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
			}
			n *= int64(d)
			if n > 1<<31 {
				return nil, fmt.Errorf("tensor %q: shape %v too large", name, e.Shape)
			}
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > int64(len(data)) {
			return nil, fmt.Errorf("tensor %q: byte range [%d, %d) outside the %d data bytes (file truncated?)", name, lo, hi, len(data))
		}
		if hi-lo != 4*n {
			return nil, fmt.Errorf("tensor %q: %d bytes for shape %v (want %d)", name, hi-lo, e.Shape, 4*n)
		}
		t := tensor.New(e.Shape...)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[lo+4*int64(i):]))
		}
		c.Tensors[name] = t
	}
	if f := c.Meta["format"]; f != Format {
		return nil, fmt.Errorf("not an a2q checkpoint (metadata format %q)", f)
	}
	if v := c.Meta["version"]; v != Version {
		return nil, fmt.Errorf("checkpoint format version %q, this a2q reads version %s", v, Version)
	}
	return c, nil
}
