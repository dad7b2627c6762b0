package intinfer

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/quant"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	tiny := tinyModel(rng, tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100, hiddenSigned: true})
	// 12-bit weights are stored as int16.
	wide := tinyModel(rng, tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100})
	wide.Ops[4].Layer.WeightBits = 12
	wide.Ops[4].Layer.Weights[0] = -2000
	cnn, err := FromModel(calibrated(t, quant.A2QPlus, 16))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []*Model{tiny, wide, cnn} {
		path := filepath.Join(dir, "m.a2qint")
		if err := Save(path, m); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("model %d: loaded model differs from the saved one", i)
		}
		e1, err1 := NewEngine(m, Options{})
		e2, err2 := NewEngine(got, Options{})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		x := randImages(rng, 3, m, 0, 1)
		if !slices.Equal(e1.Run(x, 3, false).Out, e2.Run(x, 3, false).Out) {
			t.Errorf("model %d: outputs differ after a round trip", i)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Save left %d files in the directory, want 1", len(entries))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	good, err := tinyModel(rng, tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint32(good[8:]))
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"preamble only", good[:12], "truncated"},
		{"cut in the header", good[:12+hl/2], "truncated"},
		{"cut in the payload", good[:len(good)-10], "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0), "after"},
		{"bad magic", flip(0), "not an integer model"},
		{"bad version", flip(6), "version"},
		{"corrupted payload", flip(len(good) - 3), "checksum"},
		{"corrupted header", flip(12 + hl/2), "header"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".a2qint")
		if err := os.WriteFile(path, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.a2qint")); err == nil || !strings.Contains(err.Error(), "missing.a2qint") {
		t.Errorf("missing file: %v", err)
	}
}

// TestValidateRejects checks that inconsistent models are refused with an
// error naming the layer and field (what Load relies on).
func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(m *Model)
		want string
	}{
		{"weight out of range", func(m *Model) { m.Ops[0].Layer.Weights[3] = 128 }, "weights"},
		{"short weights", func(m *Model) { m.Ops[0].Layer.Weights = m.Ops[0].Layer.Weights[1:] }, "weights"},
		{"unsorted thresholds", func(m *Model) { m.Ops[0].Layer.Thresholds[5] = m.Ops[0].Layer.Thresholds[4] - 1 }, "thresholds"},
		{"wrong fc width", func(m *Model) { m.Ops[4].Layer.InC++; m.Ops[4].Layer.K++ }, "in_c"},
		{"zero scale", func(m *Model) { m.Ops[4].Layer.Scale[0] = 0 }, "scale"},
		{"bits mismatch", func(m *Model) { m.Ops[4].Layer.InputBits = 4 }, "previous layer"},
		{"last has thresholds", func(m *Model) { m.Ops = m.Ops[:1] }, "last layer"},
		{"pool too big", func(m *Model) { m.Ops[1].K = 40 }, "max pool"},
		{"unknown op", func(m *Model) { m.Ops[2].Kind = "softmax" }, "unknown op"},
	}
	for _, c := range cases {
		m := tinyModel(rand.New(rand.NewPCG(2, 2)), tinySpec{h: 6, w: 6, cin: 2, cout: 3, k: 3, classes: 4, l1: 100})
		c.edit(m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
		if _, err := NewEngine(m, Options{}); err == nil {
			t.Errorf("%s: NewEngine accepted the model", c.name)
		}
	}
}

func FuzzLoad(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 3))
	good, err := tinyModel(rng, tinySpec{h: 5, w: 5, cin: 1, cout: 2, k: 3, classes: 2, l1: 50}).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	// Version 2: a batch norm and a clip after the last layer.
	v2 := tinyModel(rng, tinySpec{h: 5, w: 5, cin: 1, cout: 2, k: 3, classes: 2, l1: 50})
	v2.Ops = append(v2.Ops, Op{Kind: OpBatchNorm, Norm: &Norm{Name: "bn", Mean: []float32{0, 1}, InvStd: []float32{1, 2},
		Gamma: []float32{-1, 0.5}, Beta: []float32{0, 1}}}, Op{Kind: OpClip, Lo: -1, Hi: float32(math.Inf(1))})
	good2, err := v2.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good2)
	// Version 4: graphs (an encoder–decoder with a sum, a concatenation
	// and padding; a U-Net with a transposed convolution).
	for _, i := range []int{2, 3} {
		_, g, _ := dagCase(f, dagCases()[i], i, rand.New(rand.NewPCG(4, uint64(i))))
		b, err := g.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, "fuzz.a2qint")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.a2qint") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("a decoded model does not encode: %v", err)
		}
		m2, err := Decode(again, "again")
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		if again2, err := m2.Encode(); err != nil || !bytes.Equal(again, again2) {
			t.Fatalf("re-encoded model does not round-trip: %v", err)
		}
		e, err := NewEngine(m, Options{Mode: intgemm.Wrap})
		if err != nil {
			return // e.g. an accumulator width the engine does not run
		}
		small := m.InH*m.InW*m.InC <= 1<<10
		for _, l := range m.Layers() {
			small = small && len(l.Weights) <= 1<<12 && l.KH <= 5 && l.KW <= 5
		}
		if m.dag != nil { // padding and resizing can grow a small input
			for _, src := range m.dag.sources {
				small = small && prod(src.shape) <= 1<<14
			}
		}
		if small {
			e.Run(make([]float32, m.InH*m.InW*m.InC), 1, false)
		}
	})
}
