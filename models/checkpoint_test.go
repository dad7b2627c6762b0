package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/quant"
)

// smallCheckpoint returns the checkpoint file of a small untrained A2Q+
// model (a 10×10 CNN, a 4×4 MLP, an 8×8 ESPCN ×2) whose activation
// quantizers are calibrated, as after a first training step.
func smallCheckpoint(t testing.TB, model string) []byte {
	t.Helper()
	cfg := Config{Model: model, InC: 1, InH: 10, InW: 10, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  DefaultEdge(quant.A2QPlus), Last: DefaultEdge(quant.A2QPlus)}
	switch model {
	case "mlp":
		cfg.InH, cfg.InW = 4, 4
	case "espcn":
		cfg.InH, cfg.InW, cfg.Classes, cfg.Scale = 8, 8, 0, 2
	}
	m, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(input(4, cfg.InH, cfg.InW, cfg.InC)), false)
	c, err := m.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edited returns the checkpoint file b after edit has changed its decoded
// form; withConfig and withValue are the usual edits.
func edited(t testing.TB, b []byte, edit func(c *checkpoint.Checkpoint)) []byte {
	t.Helper()
	c, err := checkpoint.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	out, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withConfig sets keys of the checkpoint's model configuration (the
// "config" metadata) to the given JSON values.
func withConfig(t testing.TB, b []byte, kv ...string) []byte {
	return edited(t, b, func(c *checkpoint.Checkpoint) {
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.Meta["config"]), &cfg); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			cfg[kv[i]] = json.RawMessage(kv[i+1])
		}
		s, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Meta["config"] = string(s)
	})
}

// withValue sets element 0 of tensor name.
func withValue(t testing.TB, b []byte, name string, v float32) []byte {
	return edited(t, b, func(c *checkpoint.Checkpoint) {
		x, ok := c.Tensors[name]
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		x = x.Clone()
		x.Data[0] = v
		c.Tensors[name] = x
	})
}

// hugeGraph is a graph of valid form whose linear layer asks for 10^6×16
// weights.
const hugeGraph = `{"input":"x","in_shape":[4,4,1],"output":"fc","nodes":[
	{"name":"flat","op":"flatten","inputs":["x"]},
	{"name":"fc","op":"linear","inputs":["flat"],"in":16,"out":1000000,"bias":true}]}`

// craftedCase is a checkpoint file whose metadata or quantizer state lies,
// and the error it must bring.
type craftedCase struct {
	name string
	b    []byte
	want string
}

// craftedCheckpoints returns the audit's crafted checkpoints: sizes in the
// configuration that are absurd or disagree with the stored tensors, and
// quantizer log2 scales of ±200 (scale +Inf or 0 in float32).
func craftedCheckpoints(t testing.TB) []craftedCase {
	cnn, mlp, espcn := smallCheckpoint(t, "cnn"), smallCheckpoint(t, "mlp"), smallCheckpoint(t, "espcn")
	cs := []craftedCase{
		{"classes 1e18", withConfig(t, mlp, "classes", "1000000000000000000"), "1000000000000000000 classes"},
		{"classes 1e9", withConfig(t, mlp, "classes", "1000000000"), "1000000000 classes"},
		{"classes 1e6", withConfig(t, mlp, "classes", "1000000"), `tensor "fc3.bias": checkpoint shape [10], the configuration's mlp network has [1000000]`},
		{"classes 11", withConfig(t, cnn, "classes", "11"), `tensor "fc.bias": checkpoint shape [10]`},
		{"classes 0", withConfig(t, mlp, "classes", "0"), "needs at least 2 classes, got 0"},
		{"classes -1", withConfig(t, mlp, "classes", "-1"), "-1 classes"},
		{"in_h in_w 1e5", withConfig(t, cnn, "in_h", "100000", "in_w", "100000"), "exceeds"},
		{"in_h in_w 2000", withConfig(t, cnn, "in_h", "2000", "in_w", "2000"), `tensor "fc.weight": checkpoint shape [10 64]`},
		{"in_h in_w 0", withConfig(t, cnn, "in_h", "0", "in_w", "0"), "is empty"},
		{"in_c 1e6", withConfig(t, mlp, "in_c", "1000000"), "exceeds"},
		{"in_c 2", withConfig(t, mlp, "in_c", "2"), `tensor "fc1.weight": checkpoint shape [256 16], the configuration's mlp network has [256 32]`},
		{"unknown model", withConfig(t, mlp, "model", `"nosuch"`), `unknown model "nosuch"`},
		{"model swapped", withConfig(t, cnn, "model", `"mlp"`), `checkpoint has no tensor "fc1.bias"`},
		{"graph huge", withConfig(t, mlp, "graph", hugeGraph), `tensor "fc.bias"`},
		{"graph not json", withConfig(t, mlp, "graph", `{"nodes":7}`), "configuration"},
		{"scale 1e9", withConfig(t, espcn, "scale", "1000000000"), "upscaling factor 1000000000"},
		{"scale 2^62+2", withConfig(t, espcn, "scale", fmt.Sprint(1<<62+2)), "upscaling factor"},
		{"scale 3", withConfig(t, espcn, "scale", "3"), `tensor "conv3.bias": checkpoint shape [4]`},
		{"seed", withConfig(t, mlp, "seed", "-1"), "configuration"},
		{"hidden bits", withConfig(t, mlp, "hidden", `{"Mode":"a2q+","WeightBits":99,"ActBits":8,"AccBits":16}`), "weight bits 99"},
	}
	for _, v := range []float32{200, -200, 128, -128} {
		for _, name := range []string{"fc2.log2_s", "fc2.log2_g", "fc2.input_quant.log2_scale", "fc1.input_quant.log2_scale"} {
			cs = append(cs, craftedCase{fmt.Sprintf("%s %v", name, v), withValue(t, mlp, name, v),
				fmt.Sprintf("tensor %s", name)})
		}
	}
	return cs
}

// TestFromCheckpointCrafted loads every crafted checkpoint: each is an
// error naming the fault, found before the model allocates more than the
// file's own tensors.
func TestFromCheckpointCrafted(t *testing.T) {
	for _, c := range craftedCheckpoints(t) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := decodeModel(c.b)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: model %v, err = %v, want %q", c.name, m != nil, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Errorf("%s: %d MB allocated to reject a %d kB file", c.name, alloc>>20, len(c.b)>>10)
		}
	}
}

// TestFromCheckpointScales checks the edge of the usable log2 scales: the
// largest and smallest whose scale and its reciprocal are finite load.
func TestFromCheckpointScales(t *testing.T) {
	mlp := smallCheckpoint(t, "mlp")
	for _, c := range []struct {
		v  float32
		ok bool
	}{{127.9, true}, {-127.9, true}, {128, false}, {-128, false}, {-40, true}} {
		_, err := decodeModel(withValue(t, mlp, "fc2.log2_s", c.v))
		if (err == nil) != c.ok {
			t.Errorf("log2 s = %v: err = %v, want ok %v", c.v, err, c.ok)
		}
	}
}

// TestFromCheckpointZoo reloads every zoo network and imported graphs
// (branches, batch norms, a transposed and a grouped convolution), float
// and A2Q+: the shapes FromCheckpoint expects before building are the
// built model's.
func TestFromCheckpointZoo(t *testing.T) {
	cfgs := []Config{}
	for _, name := range Names() {
		for _, mode := range []quant.Mode{quant.Float, quant.A2QPlus} {
			c := config(name, mode)
			if name == "mobilenet" || name == "resnet" {
				c.InC, c.InH, c.InW = 3, 32, 32
			}
			cfgs = append(cfgs, c)
		}
	}
	up := &graph.Graph{Input: "x", InShape: []int{6, 6, 4}, Output: "up", Nodes: []graph.Node{
		{Name: "dw", Op: graph.Conv, Inputs: []string{"x"}, In: 4, Out: 8, Kernel: 3, Pad: 1, Groups: 2},
		{Name: "dw.bn", Op: graph.BatchNorm, Inputs: []string{"dw"}, Out: 8, Eps: 1e-5},
		{Name: "up", Op: graph.ConvTranspose, Inputs: []string{"dw.bn"}, In: 8, Out: 2, Kernel: 2, Stride: 2, Bias: true},
	}}
	for _, g := range []*graph.Graph{skipNet(), up} {
		cfgs = append(cfgs, Config{Model: "imported", Graph: g, InH: g.InShape[0], InW: g.InShape[1], InC: g.InShape[2], Seed: 2,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
			First:  DefaultEdge(quant.A2QPlus), Last: DefaultEdge(quant.A2QPlus)})
	}
	for _, cfg := range cfgs {
		m, err := Build(cfg)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Model, err)
		}
		c, err := m.Checkpoint(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FromCheckpoint(c); err != nil {
			t.Errorf("%s %s: %v", cfg.Model, cfg.Hidden.Mode, err)
		}
	}
}

// FuzzFromCheckpoint decodes a checkpoint file and builds its model: an
// error or a model, never a panic or an allocation beyond the file's
// tensors. The seeds are small real checkpoints and the crafted ones.
func FuzzFromCheckpoint(f *testing.F) {
	for _, model := range []string{"cnn", "mlp", "espcn"} {
		f.Add(smallCheckpoint(f, model))
	}
	for _, c := range craftedCheckpoints(f) {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeModel(b)
		if err != nil {
			return
		}
		if err := m.CheckScales(); err != nil {
			t.Fatalf("a loaded model has an unusable scale: %v", err)
		}
	})
}

// TestCertificatesTiled checks that the certificates follow each layer's
// tile setting through quant.LayerConfig.TileFor: a layer whose K exceeds
// the tile is certified in tiles (inner and outer widths of its integer
// weights), one whose K does not in one stage, and the edge layers, whose
// configuration has no tile, in one stage; a tile longer than every hidden
// layer's K is refused (TileError).
func TestCertificatesTiled(t *testing.T) {
	for _, model := range []string{"cnn", "mlp", "mobilenet"} {
		for _, tile := range []int{0, 1, 16, 100, 1 << 20} {
			cfg := config(model, quant.A2QPlus)
			cfg.Hidden.Tile = tile
			m, err := Build(cfg)
			if te := (*TileError)(nil); tile == 1<<20 {
				// Longer than every hidden layer's K: refused.
				if !errors.As(err, &te) || te.Edges || te.Tile != tile {
					t.Fatalf("%s tile %d: %v, want a TileError for the hidden layers", model, tile, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			certs, err := m.Certificates(false)
			if err != nil {
				t.Fatal(err)
			}
			tiled, next := 0, 0
			for i, l := range m.Layers {
				if l.W == nil {
					continue
				}
				c := certs[next]
				next++
				want := 0
				if m.Hidden(i) && tile > 0 && tile < l.K() {
					want = tile
				}
				if c.Tile != want {
					t.Fatalf("%s tile %d: layer %s (K = %d, hidden %v) certified with tile %d, want %d",
						model, tile, l.Name, l.K(), m.Hidden(i), c.Tile, want)
				}
				if want == 0 {
					if c.AccBitsInner != 0 || c.AccBitsOuter != 0 {
						t.Fatalf("%s tile %d: one-stage layer %s has stages %q", model, tile, l.Name, c.Stages())
					}
					continue
				}
				tiled++
				q, _ := l.W.IntegerWeights()
				inner, outer := accum.TiledBits(q, l.OutC, l.K(), tile, l.In.Bits, l.In.Signed)
				if c.AccBitsInner != inner || c.AccBitsOuter != outer || c.Certified != (inner <= c.AccBitsTarget) {
					t.Fatalf("%s tile %d: layer %s: inner %d, outer %d, certified %v; want %d, %d at P = %d",
						model, tile, l.Name, c.AccBitsInner, c.AccBitsOuter, c.Certified, inner, outer, c.AccBitsTarget)
				}
			}
			if (tile == 1 || tile == 16) && tiled == 0 {
				t.Errorf("%s tile %d: no layer was tiled: the check was vacuous", model, tile)
			}
		}
	}
}

// TestTileRulesAgree: quant.LayerConfig.TileFor, the rule for configured
// layers, and accum.EffectiveTile, the rule for files without a
// configuration, give the same tile for every quantized mode.
func TestTileRulesAgree(t *testing.T) {
	for _, mode := range []quant.Mode{quant.Baseline, quant.A2Q, quant.A2QPlus} {
		for k := 1; k <= 40; k++ {
			for tile := -2; tile <= 45; tile++ {
				c := quant.LayerConfig{Mode: mode, Tile: tile}
				if got, want := c.TileFor(k), accum.EffectiveTile(tile, k); got != want {
					t.Fatalf("%s, K = %d, tile %d: TileFor %d, EffectiveTile %d", mode, k, tile, got, want)
				}
			}
		}
	}
}

// TestEdgeTile: one tile setting covers the first and last layers
// together, so a tile that splits only the last layer's long dot product
// is accepted (the first layer runs in one stage), and one that splits
// neither is refused as an edge setting.
func TestEdgeTile(t *testing.T) {
	for _, tt := range []struct {
		tile    int
		refused bool
	}{{64, false}, {1600, true}} {
		cfg := config("cnn", quant.A2Q)
		cfg.First.Tile, cfg.Last.Tile = tt.tile, tt.tile
		m, err := Build(cfg)
		var te *TileError
		if tt.refused {
			if !errors.As(err, &te) || !te.Edges || te.LongestK != 1600 {
				t.Errorf("edge tile %d: %v, want an edge TileError with longest K 1600", tt.tile, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("edge tile %d: %v", tt.tile, err)
		}
		first, last := m.Layers[0], m.Layers[len(m.Layers)-1]
		if first.Config.TileFor(first.K()) != 0 || last.Config.TileFor(last.K()) != tt.tile {
			t.Errorf("edge tile %d: first layer tile %d, last %d", tt.tile, first.Config.TileFor(first.K()), last.Config.TileFor(last.K()))
		}
	}
}
