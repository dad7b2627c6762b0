package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

func sample() *Checkpoint {
	return &Checkpoint{
		Meta: map[string]string{"config": `{"model":"cnn"}`},
		Tensors: map[string]*tensor.Tensor{
			"conv1.weight": tensor.FromData([]float32{1, -2, 3.5, 0, 1e-9, -7}, 2, 3),
			"fc.bias":      tensor.FromData([]float32{0.25}, 1),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Meta["config"] != `{"model":"cnn"}` || c.Meta["version"] != Version {
		t.Errorf("metadata %v", c.Meta)
	}
	for name, want := range sample().Tensors {
		got := c.Tensors[name]
		if got == nil || !slices.Equal(got.Shape, want.Shape) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want.Data[i])
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"header too long", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, good[8:]...), "does not fit"},
		{"truncated data", good[:len(good)-3], "outside"},
		{"not json", append(append([]byte{}, good[:8]...), strings.Repeat("x", len(good)-8)...), "JSON"},
	} {
		_, err := Decode(c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// rewrite returns the checkpoint file b with its header edited by edit
// (which receives the tensors' entries and the metadata) and its data
// region replaced by data (nil: kept).
func rewrite(t testing.TB, b []byte, data []byte, edit func(h map[string]*entry, meta map[string]string)) []byte {
	t.Helper()
	hl := binary.LittleEndian.Uint64(b)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		t.Fatal(err)
	}
	h := map[string]*entry{}
	meta := map[string]string{}
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatal(err)
		}
		h[k] = &e
	}
	edit(h, meta)
	out := map[string]any{"__metadata__": meta}
	for k, e := range h {
		out[k] = e
	}
	nh, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if data == nil {
		data = b[8+hl:]
	}
	f := binary.LittleEndian.AppendUint64(nil, uint64(len(nh)))
	return append(append(f, nh...), data...)
}

// crafted returns damaged forms of sample's file, by case name: the
// audit's overlapping byte ranges and flipped data bit among them.
func crafted(t testing.TB) map[string][]byte {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	hl := binary.LittleEndian.Uint64(good)
	data := good[8+hl:]
	flip := func(i int) []byte {
		d := slices.Clone(data)
		d[i] ^= 0x10
		return rewrite(t, good, d, func(map[string]*entry, map[string]string) {})
	}
	return map[string][]byte{
		// conv1.weight holds bytes [0, 24), fc.bias [24, 28).
		"overlap": rewrite(t, good, nil, func(h map[string]*entry, _ map[string]string) {
			h["fc.bias"].DataOffsets = [2]int64{20, 24}
		}),
		// fc.bias moved onto conv1.weight's first bytes also leaves a gap;
		// the overlap is the fault reported.
		"overlap and gap": rewrite(t, good, nil, func(h map[string]*entry, _ map[string]string) {
			h["fc.bias"].DataOffsets = [2]int64{0, 4}
		}),
		"empty inside": rewrite(t, good, nil, func(h map[string]*entry, _ map[string]string) {
			h["z"] = &entry{Dtype: "F32", Shape: []int{0}, DataOffsets: [2]int64{4, 4}}
		}),
		"gap": rewrite(t, good, append(slices.Clone(data), 0, 0, 0, 0), func(h map[string]*entry, _ map[string]string) {
			h["fc.bias"].DataOffsets = [2]int64{28, 32}
		}),
		"leading gap": rewrite(t, good, append([]byte{0, 0, 0, 0}, data...), func(h map[string]*entry, _ map[string]string) {
			h["conv1.weight"].DataOffsets = [2]int64{4, 28}
			h["fc.bias"].DataOffsets = [2]int64{28, 32}
		}),
		"trailing bytes": rewrite(t, good, append(slices.Clone(data), 1, 2, 3, 4), func(map[string]*entry, map[string]string) {}),
		"flip weight":    flip(5),
		"flip bias":      flip(len(data) - 1),
		"crc missing": rewrite(t, good, nil, func(_ map[string]*entry, meta map[string]string) {
			meta[crcKey] = strings.Replace(meta[crcKey], `"fc.bias"`, `"fc.other"`, 1)
		}),
		"crc malformed": rewrite(t, good, nil, func(_ map[string]*entry, meta map[string]string) {
			meta[crcKey] = `{"conv1.weight":"xyz","fc.bias":"00000000"}`
		}),
		"crc not json": rewrite(t, good, nil, func(_ map[string]*entry, meta map[string]string) {
			meta[crcKey] = `[`
		}),
	}
}

func TestDecodeDamaged(t *testing.T) {
	for name, want := range map[string]string{
		"overlap":         `tensors "conv1.weight" [0, 24) and "fc.bias" [20, 24) overlap`,
		"overlap and gap": `tensors "fc.bias" [0, 4) and "conv1.weight" [0, 24) overlap`,
		"empty inside":    `tensors "conv1.weight" [0, 24) and "z" [4, 4) overlap`,
		"gap":             `data bytes [24, 28) between tensors "conv1.weight" and "fc.bias" belong to no tensor`,
		"leading gap":     `data bytes [0, 4) before tensor "conv1.weight" belong to no tensor`,
		"trailing bytes":  "4 data bytes after the last tensor belong to no tensor",
		"flip weight":     `tensor "conv1.weight": its bytes have CRC-32C`,
		"flip bias":       `tensor "fc.bias": its bytes have CRC-32C`,
		"crc missing":     `tensor "fc.bias" has no checksum`,
		"crc malformed":   `tensor "conv1.weight": checksum "xyz" is not 8 hexadecimal digits`,
		"crc not json":    "metadata crc32c",
	} {
		b := crafted(t)[name]
		if b == nil {
			t.Fatalf("no crafted case %q", name)
		}
		_, err := Decode(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
}

// TestChecksums checks that Encode records every tensor's CRC-32C, that
// Decode drops the key from the metadata and ignores a stale one on
// re-encoding, and that a file without checksums (written before they
// existed) still loads.
func TestChecksums(t *testing.T) {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	var sums map[string]string
	rewrite(t, good, nil, func(_ map[string]*entry, meta map[string]string) {
		if err := json.Unmarshal([]byte(meta[crcKey]), &sums); err != nil {
			t.Fatalf("metadata %s = %q: %v", crcKey, meta[crcKey], err)
		}
	})
	if len(sums) != len(sample().Tensors) {
		t.Errorf("checksums %v, want one per tensor", sums)
	}
	c, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Meta[crcKey]; ok {
		t.Errorf("decoded metadata keeps %s: %v", crcKey, c.Meta)
	}
	// A stale checksum in Meta is replaced: changed data re-encodes valid.
	c.Meta[crcKey] = fmt.Sprintf(`{"fc.bias":"%08x"}`, 0)
	c.Tensors["fc.bias"].Data[0] = 7
	again, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(again); err != nil {
		t.Errorf("re-encoded checkpoint: %v", err)
	}
	old := rewrite(t, good, nil, func(_ map[string]*entry, meta map[string]string) { delete(meta, crcKey) })
	if _, err := Decode(old); err != nil {
		t.Errorf("checkpoint without checksums: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := sample().Encode()
	f.Add(good)
	f.Add(good[:20])
	for _, b := range crafted(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	})
}
