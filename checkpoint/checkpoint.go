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
// As safetensors requires, the tensors' byte ranges must tile the data
// region: no overlap, no gap, no trailing bytes.
//
// Encode records the CRC-32C (Castagnoli) of each tensor's bytes in the
// metadata key "crc32c", a JSON object mapping each tensor name to eight
// hexadecimal digits; other safetensors readers ignore it. Decode checks
// every tensor against it, so a flipped bit in the data is an error naming
// the tensor, and drops the key from Checkpoint.Meta. Files written before
// the key existed have none and are read unchecked.
//
// Save writes to a temporary file in the destination directory, syncs it
// and renames it over the destination: a crash leaves the old checkpoint or
// the new one, never a torn file.
package checkpoint

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"

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

// crcKey is the metadata key of the tensors' CRC-32C checksums.
const crcKey = "crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
// name order, and the metadata records each one's CRC-32C (replacing any
// "crc32c" entry of c.Meta).
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
	var off int64
	for _, n := range names {
		t := c.Tensors[n]
		if len(t.Data) != t.Len() {
			return nil, fmt.Errorf("checkpoint: tensor %q holds %d values for shape %v", n, len(t.Data), t.Shape)
		}
		size := int64(4 * t.Len())
		header[n] = entry{Dtype: "F32", Shape: t.Shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	data := make([]byte, 0, off)
	crcs := make(map[string]string, len(names))
	for _, n := range names {
		start := len(data)
		for _, v := range c.Tensors[n].Data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		crcs[n] = fmt.Sprintf("%08x", crc32.Checksum(data[start:], castagnoli))
	}
	sums, err := json.Marshal(crcs)
	if err != nil {
		return nil, fmt.Errorf("checkpoint checksums: %w", err)
	}
	meta[crcKey] = string(sums)
	header["__metadata__"] = meta
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("checkpoint header: %w", err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	buf := make([]byte, 8, 8+len(h)+len(data))
	binary.LittleEndian.PutUint64(buf, uint64(len(h)))
	buf = append(buf, h...)
	return append(buf, data...), nil
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

// Decode parses a safetensors byte slice, checking every offset and shape,
// that the tensors' byte ranges tile the data region, and each tensor's
// CRC-32C where the metadata records them.
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
	type span struct {
		name   string
		e      entry
		lo, hi int64
	}
	var spans []span
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
		spans = append(spans, span{name, e, lo, hi})
	}
	// The byte ranges, in order, must tile the data region: first no two
	// overlap, then no byte is left out.
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.lo, b.lo), cmp.Compare(a.hi, b.hi), cmp.Compare(a.name, b.name))
	})
	var far span // the range reaching furthest so far
	if len(spans) > 0 {
		far = spans[0]
	}
	for i := 1; i < len(spans); i++ {
		if s := spans[i]; s.lo < far.hi {
			return nil, fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap", far.name, far.lo, far.hi, s.name, s.lo, s.hi)
		}
		if spans[i].hi > far.hi {
			far = spans[i]
		}
	}
	var end int64
	for i, s := range spans {
		switch {
		case s.lo > end && i == 0:
			return nil, fmt.Errorf("data bytes [0, %d) before tensor %q belong to no tensor", s.lo, s.name)
		case s.lo > end:
			return nil, fmt.Errorf("data bytes [%d, %d) between tensors %q and %q belong to no tensor", end, s.lo, spans[i-1].name, s.name)
		}
		end = s.hi
	}
	if end != int64(len(data)) {
		return nil, fmt.Errorf("%d data bytes after the last tensor belong to no tensor", int64(len(data))-end)
	}
	crcs, err := checksums(c.Meta)
	if err != nil {
		return nil, err
	}
	for _, s := range spans {
		if crcs != nil {
			want, ok := crcs[s.name]
			if !ok {
				return nil, fmt.Errorf("tensor %q has no checksum in the metadata's %s", s.name, crcKey)
			}
			delete(crcs, s.name)
			if got := crc32.Checksum(data[s.lo:s.hi], castagnoli); got != want {
				return nil, fmt.Errorf("tensor %q: its bytes have CRC-32C %08x, the metadata records %08x: the data is corrupt", s.name, got, want)
			}
		}
		t := tensor.New(s.e.Shape...)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[s.lo+4*int64(i):]))
		}
		c.Tensors[s.name] = t
	}
	if len(crcs) > 0 {
		name := slices.Sorted(maps.Keys(crcs))[0]
		return nil, fmt.Errorf("metadata %s has a checksum for %q, which the file does not hold", crcKey, name)
	}
	delete(c.Meta, crcKey)
	if f := c.Meta["format"]; f != Format {
		return nil, fmt.Errorf("not an a2q checkpoint (metadata format %q)", f)
	}
	if v := c.Meta["version"]; v != Version {
		return nil, fmt.Errorf("checkpoint format version %q, this a2q reads version %s", v, Version)
	}
	return c, nil
}

// checksums parses the metadata's CRC-32C map; nil if it has none.
func checksums(meta map[string]string) (map[string]uint32, error) {
	s, ok := meta[crcKey]
	if !ok {
		return nil, nil
	}
	var hex map[string]string
	if err := json.Unmarshal([]byte(s), &hex); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", crcKey, err)
	}
	crcs := make(map[string]uint32, len(hex))
	for name, h := range hex {
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) != 8 {
			return nil, fmt.Errorf("metadata %s: tensor %q: checksum %q is not 8 hexadecimal digits", crcKey, name, h)
		}
		crcs[name] = uint32(v)
	}
	return crcs, nil
}
