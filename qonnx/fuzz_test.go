package qonnx

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func addFixtureSeeds(f *testing.F) {
	for _, name := range fuzzSeedFixtures {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m, err := seedModel()
	if err != nil {
		f.Fatal(err)
	}
	data, err := m.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte("\x3a\x02\x0a\x00"))
	addBadSeeds(f)
}

// seedModel is a small QONNX model: a quantized 3×3 convolution.
func seedModel() (*Model, error) {
	b := NewGraph("seed")
	b.AddInput("x", 1, 2, 3, 3)
	xq := b.AddQuant("xq", "x", NewFloat([]float32{0.5}), 4, false, false)
	wq := b.AddQuantWeights("w", []int32{1, -2, 3, 0, 1, -1, 2, 2, 0, 0, 0, 1, -3, 1, 1, 1, 1, 1}, []int{1, 2, 3, 3}, []float32{0.1}, 3)
	y := b.AddConv("conv", xq, wq, "", 3, 3, ConvParams{Pads: [4]int64{1, 1, 1, 1}})
	b.AddOutput(y)
	return b.Model()
}

// addBadSeeds adds the impossible structures of badEdits, each applied to
// the small fixtures and the seed model, encoded without validation.
func addBadSeeds(f *testing.F) {
	models := map[string]func() (*Model, error){"seed": seedModel}
	for _, name := range fuzzSeedFixtures {
		models[name] = func() (*Model, error) { return Load(filepath.Join("testdata", name)) }
	}
	for name, load := range models {
		for _, c := range badEdits {
			m, err := load()
			if err != nil {
				f.Fatalf("%s: %v", name, err)
			}
			if _, ok := c.edit(m); !ok {
				continue
			}
			b, err := m.Encode()
			if err != nil {
				f.Fatalf("%s, %s: %v", name, c.name, err)
			}
			f.Add(b)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must return a model or an
// error, never panic, and a decoded model must survive Encode and Decode.
func FuzzDecode(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			return // e.g. an attribute type this package does not write
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding an encoded model failed: %v", err)
		}
		if len(back.Graph.Nodes) != len(m.Graph.Nodes) {
			t.Fatalf("round trip changed the node count: %d → %d", len(m.Graph.Nodes), len(back.Graph.Nodes))
		}
	})
}

// FuzzInspect decodes arbitrary bytes (Decode runs the structural checks
// of Validate), inspects and, for small graphs, runs them (float and
// integer) on a small input: errors are fine, panics are not. Its seeds
// include the impossible structures of badEdits.
func FuzzInspect(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted a model Validate refuses: %v", err)
		}
		if r, err := Inspect(m, 16); err == nil {
			for _, c := range r.Layers {
				if c.AccBitsExact > c.AccBitsDatatype {
					t.Fatalf("%s: exact bound %d above data-type bound %d", c.Name, c.AccBitsExact, c.AccBitsDatatype)
				}
			}
		}
		if len(data) > 64<<10 || len(m.Graph.Nodes) > 64 {
			return
		}
		in := make(map[string]*Tensor)
		for _, v := range m.Graph.Inputs {
			shape := make([]int, len(v.Shape))
			for i, d := range v.Shape {
				shape[i] = int(min(max(d, 1), 4))
			}
			n, err := numElements(shape)
			if err != nil {
				return
			}
			in[v.Name] = NewFloat(make([]float32, n), shape...)
		}
		for _, integer := range []bool{false, true} {
			_, _ = m.Run(context.Background(), in, RunOptions{Integer: integer, AccBits: 16, MaxElements: 1 << 20})
		}
	})
}

// fuzzSeedFixtures are the fixtures used as seeds; the 250 kB ESPCN files
// slow the fuzzing engine's mutator to a crawl, and the mutations that
// matter (headers, shapes, attributes) are exercised on the small ones.
var fuzzSeedFixtures = []string{mnistFloat, residualFloat}
