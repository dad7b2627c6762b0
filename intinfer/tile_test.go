package intinfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

var modes = []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate}

// refTiled is the two-stage dot product the slow way: the terms in tiles
// of tile consecutive ones, each tile's partial sums kept in a pIn-bit
// accumulator, each tile sum added to a pOut-bit one, a sum out of range
// reduced modulo 2^p into the range (wrap) or clamped (saturate) or kept
// (exact), and counted per stage.
func refTiled(x, w []int32, tile, pIn, pOut int, mode intgemm.Mode) (acc, inner, outer int64) {
	reduce := func(v int64, p int) (int64, bool) {
		lo, hi := -int64(1)<<(p-1), int64(1)<<(p-1)-1
		if lo <= v && v <= hi {
			return v, false
		}
		switch mode {
		case intgemm.Wrap:
			m := int64(1) << p
			v = ((v-lo)%m+m)%m + lo
		case intgemm.Saturate:
			if v < lo {
				v = lo
			} else {
				v = hi
			}
		}
		return v, true
	}
	for start := 0; start < len(x); start += tile {
		var s int64
		for i := start; i < len(x) && i < start+tile; i++ {
			var ov bool
			if s, ov = reduce(s+int64(x[i])*int64(w[i]), pIn); ov {
				inner++
			}
		}
		var ov bool
		if acc, ov = reduce(acc+s, pOut); ov {
			outer++
		}
	}
	return acc, inner, outer
}

// TestDotTiled checks the engine's two-stage accumulator against refTiled
// on short random dot products in every mode, over widths that make the
// inner stage overflow alone, the outer alone (an outer narrower than
// accum.OuterBits), both, and neither; at the outer width the engine uses,
// wrap and saturate never overflow the outer stage, and exact mode gives
// the exact dot product.
func TestDotTiled(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	for _, mode := range modes {
		seen := map[[2]bool]int{}
		for trial := 0; trial < 4000; trial++ {
			k := 1 + rng.IntN(16)
			tile := 1 + rng.IntN(k)
			x, w := make([]int32, k), make([]int32, k)
			for i := range x {
				x[i] = int32(rng.IntN(16))
				if trial%2 == 0 {
					x[i] -= 8
				}
				w[i] = int32(rng.IntN(15)) - 7
			}
			pIn := 2 + rng.IntN(9)
			pOut := max(2, pIn-2+rng.IntN(6))
			if trial%3 == 0 {
				pOut = accum.OuterBits(pIn, k, tile)
			}
			a, in, out := dotTiled(x, w, tile, pIn, pOut, mode)
			ra, rin, rout := refTiled(x, w, tile, pIn, pOut, mode)
			if a != ra || in != rin || out != rout {
				t.Fatalf("%v: x %v, w %v, tile %d, P_I %d, P_O %d: got (%d, %d, %d), reference (%d, %d, %d)",
					mode, x, w, tile, pIn, pOut, a, in, out, ra, rin, rout)
			}
			seen[[2]bool{in > 0, out > 0}]++
			if pOut == accum.OuterBits(pIn, k, tile) && mode != intgemm.Exact && out != 0 {
				t.Fatalf("%v: x %v, w %v, tile %d, P_I %d: %d outer overflows at P_O = OuterBits = %d", mode, x, w, tile, pIn, out, pOut)
			}
			if mode == intgemm.Exact {
				var sum int64
				for i := range x {
					sum += int64(x[i]) * int64(w[i])
				}
				if a != sum {
					t.Fatalf("exact mode: %d, exact dot product %d", a, sum)
				}
			}
		}
		for _, c := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			if seen[c] == 0 {
				t.Errorf("%v: no case with inner overflows %v and outer overflows %v (cases %v)", mode, c[0], c[1], seen)
			}
		}
	}
}

// layerCase is a one-layer integer model (a convolution of random geometry,
// or a linear layer after a flatten) with random weights.
func layerCase(rng *rand.Rand, linear, signed bool) *Model {
	h, w, cin := 2+rng.IntN(5), 2+rng.IntN(5), 1+rng.IntN(4)
	l := &Layer{Name: "layer", Kind: "conv", KH: 1, KW: 1, Stride: 1, Groups: 1, WeightBits: 8,
		InputBits: 8, InputSigned: signed, InputScale: 1.0 / 255, AccBits: 16}
	m := &Model{Name: "one", Task: TaskClassify, InH: h, InW: w, InC: cin}
	if linear {
		l.Kind, l.InC, l.OutC = "linear", h*w*cin, 1+rng.IntN(6)
		l.K = l.InC
		m.Ops = []Op{{Kind: OpFlatten}, {Kind: OpLayer, Layer: l}}
	} else {
		l.Groups = 1 + rng.IntN(2)
		l.InC, l.OutC = cin*l.Groups, (1+rng.IntN(3))*l.Groups
		m.InC = l.InC
		l.KH, l.KW = 1+rng.IntN(min(h, w, 3)), 1+rng.IntN(min(h, w, 3))
		l.Pad, l.Stride = rng.IntN(max(l.KH, l.KW)), 1+rng.IntN(2)
		l.K = l.KH * l.KW * cin
		m.Ops = []Op{{Kind: OpLayer, Layer: l}}
	}
	l.Weights = make([]int32, l.OutC*l.K)
	for i := range l.Weights {
		if rng.IntN(4) > 0 {
			l.Weights[i] = int32(rng.IntN(255)) - 127
		}
	}
	l.Scale, l.Bias = make([]float32, l.OutC), make([]float32, l.OutC)
	for c := range l.Scale {
		l.Scale[c] = float32(1e-3 * (0.5 + rng.Float64()))
		l.Bias[c] = float32(rng.NormFloat64())
	}
	return m
}

// refLayer computes a one-layer model's float outputs and overflow counts
// directly: each output's patch gathered from the quantized image in (kh,
// kw, cin) order (zeros in the padding), refTiled at P_I = the layer's
// AccBits and P_O = accum.OuterBits, thresh.Requant.
func refLayer(m *Model, x []float32, n int, mode intgemm.Mode) (out []float32, inner, outer int64) {
	l := m.Layers()[0]
	lo, hi := levels(l.InputBits, l.InputSigned)
	xq := make([]int32, len(x))
	for i, v := range x {
		xq[i] = int32(thresh.Quantize(v, l.InputScale, float32(lo), float32(hi)))
	}
	pOut := accum.OuterBits(l.AccBits, l.K, l.Tile)
	dot := func(patch []int32, c int) float32 {
		a, in, o := refTiled(patch, l.Weights[c*l.K:(c+1)*l.K], l.Tile, l.AccBits, pOut, mode)
		inner += in
		outer += o
		return thresh.Requant(float32(a), l.Scale[c], l.Bias[c])
	}
	H, W, C := m.InH, m.InW, m.InC
	if l.Kind == "linear" {
		for b := 0; b < n; b++ {
			for c := 0; c < l.OutC; c++ {
				out = append(out, dot(xq[b*l.K:(b+1)*l.K], c))
			}
		}
		return out, inner, outer
	}
	oh, ow := (H+2*l.Pad-l.KH)/l.Stride+1, (W+2*l.Pad-l.KW)/l.Stride+1
	cg, cog := l.InC/l.Groups, l.OutC/l.Groups
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < l.OutC; c++ {
					var patch []int32
					for kh := 0; kh < l.KH; kh++ {
						for kw := 0; kw < l.KW; kw++ {
							for ci := 0; ci < cg; ci++ {
								y, z := i*l.Stride-l.Pad+kh, j*l.Stride-l.Pad+kw
								v := int32(0)
								if y >= 0 && y < H && z >= 0 && z < W {
									v = xq[((b*H+y)*W+z)*C+c/cog*cg+ci]
								}
								patch = append(patch, v)
							}
						}
					}
					out = append(out, dot(patch, c))
				}
			}
		}
	}
	return out, inner, outer
}

// TestTiledEngine runs random tiled layers, at widths around their
// certificates, on the engine's scalar path in every mode and compares
// outputs and per-stage overflow counts with refLayer. At a width where the
// tiles are certified the layer runs on the integer kernels (with and
// without VNNI, on every path) with no overflow and the scalar path's
// outputs, though a one-stage accumulator of that width could overflow.
func TestTiledEngine(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 2))
	var certifiedOnlyTiled, innerOnly, both int
	for trial := 0; trial < 60; trial++ {
		signed := trial%3 == 1
		m := layerCase(rng, trial%4 == 3, signed)
		l := m.Layers()[0]
		if l.K < 2 {
			continue
		}
		l.Tile = 1 + rng.IntN(l.K-1)
		inner, _ := accum.TiledBits(l.Weights, l.OutC, l.K, l.Tile, l.InputBits, l.InputSigned)
		if inner < 5 {
			continue // (almost) zero weights
		}
		exact := accum.ExactBits(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned)
		lo := 0.0
		if signed {
			lo = -0.6
		}
		n := 1 + rng.IntN(3)
		x := randImages(rng, n, m, lo, 1)
		for _, p := range []int{max(2, inner-3), inner - 1, inner} {
			l.AccBits = p
			for _, mode := range modes {
				e, err := NewEngine(m, Options{Mode: mode, Path: PathScalar, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				if note := e.Layers()[0].Note; (p < inner) != strings.Contains(note, "can overflow") {
					t.Errorf("trial %d, P_I %d (tiles need %d): forced scalar path, note %q", trial, p, inner, note)
				}
				got := e.Run(x, n, false)
				want, wIn, wOut := refLayer(m, x, n, mode)
				name := fmt.Sprintf("trial %d (%s, K %d, tile %d, P_I %d, %v)", trial, l.Kind, l.K, l.Tile, p, mode)
				if !slices.Equal(got.Out, want) || got.Overflows[0] != wIn || got.OuterOverflows[0] != wOut {
					t.Fatalf("%s: overflows (%d, %d), reference (%d, %d); outputs equal %v", name, got.Overflows[0], got.OuterOverflows[0], wIn, wOut, slices.Equal(got.Out, want))
				}
				info := e.Layers()[0]
				if info.Tile != l.Tile || info.AccBitsInner != p || info.AccBitsInnerExact != inner || info.AccBitsOuter != accum.OuterBits(p, l.K, l.Tile) || info.Certified() != (p >= inner) {
					t.Errorf("%s: layer info %+v", name, info)
				}
				if wIn > 0 && wOut == 0 {
					innerOnly++
				}
				if wIn > 0 && wOut > 0 {
					both++
				}
				if p >= inner {
					if wIn+wOut != 0 {
						t.Fatalf("%s: certified, %d and %d overflows", name, wIn, wOut)
					}
					continue
				}
				// Uncertified: the default path is the scalar one, with a
				// note naming the stages.
				d, err := NewEngine(m, Options{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				di := d.Layers()[0]
				if !strings.HasPrefix(di.Impl, "scalar") || !strings.Contains(di.Note, "inner stage") && !strings.Contains(di.Note, "both stages") {
					t.Errorf("%s: uncertified layer runs %q (%s)", name, di.Impl, di.Note)
				}
				if r := d.Run(x, n, false); !slices.Equal(r.Out, want) {
					t.Errorf("%s: default path differs from the reference", name)
				}
			}
			if p != inner {
				continue
			}
			if exact > inner {
				certifiedOnlyTiled++
			}
			ref, err := NewEngine(m, Options{Path: PathScalar})
			if err != nil {
				t.Fatal(err)
			}
			want := ref.Run(x, n, false).Out
			for _, path := range []Path{PathPreferred, PathAcc16, PathAcc32} {
				for _, noVNNI := range []bool{false, true} {
					e, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: path, NoVNNI: noVNNI, Threads: 2})
					if err != nil {
						t.Fatal(err)
					}
					if info := e.Layers()[0]; strings.HasPrefix(info.Impl, "scalar") {
						t.Fatalf("trial %d: certified tiled layer on %q (%s)", trial, info.Impl, info.Note)
					}
					r := e.Run(x, n, false)
					if !slices.Equal(r.Out, want) || r.Overflows[0] != 0 || r.OuterOverflows[0] != 0 {
						t.Errorf("trial %d, %v, no VNNI %v: kernels differ from the scalar path", trial, path, noVNNI)
					}
				}
			}
		}
	}
	if certifiedOnlyTiled == 0 || innerOnly == 0 || both == 0 {
		t.Errorf("cases: %d certified only by their tiles, %d overflowing the inner stage only, %d both stages", certifiedOnlyTiled, innerOnly, both)
	}
}

// tiledTiny is tinyModel with its convolution in tiles of tile terms at
// P_I = the tiles' exact width, narrower than its dot products' exact
// width: certified only by tiling.
func tiledTiny(t *testing.T, rng *rand.Rand, sp tinySpec, tile int) *Model {
	t.Helper()
	m := tinyModel(rng, sp)
	conv := m.Ops[0].Layer
	conv.Tile = tile
	conv.AccBits = conv.certBits()
	if exact := accum.ExactBits(conv.Weights, conv.OutC, conv.K, conv.InputBits, conv.InputSigned); exact <= conv.AccBits {
		t.Fatalf("%+v, tile %d: exact width %d, tiled %d: tiling certifies nothing here", sp, tile, exact, conv.AccBits)
	}
	return m
}

// TestTiledFused runs models with a convolution certified only by its
// tiles through the fused pipeline with each vector kernel set (and none),
// with and without VNNI: the outputs and captured inputs equal the scalar
// path's, without overflows.
func TestTiledFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for i, sp := range []tinySpec{
		{h: 12, w: 12, cin: 8, cout: 24, k: 3, pad: 1, classes: 5, l1: 2000},
		{h: 9, w: 11, cin: 3, cout: 8, k: 3, pad: 0, classes: 7, l1: 2000, inSigned: true, hiddenSigned: true},
	} {
		m := tiledTiny(t, rng, sp, 8+i)
		lo := 0.0
		if sp.inSigned {
			lo = -0.6
		}
		n := chunkImages + 3
		x := randImages(rng, n, m, lo, 1)
		ref, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: PathScalar})
		if err != nil {
			t.Fatal(err)
		}
		want := ref.Run(x, n, true)
		if want.Overflows[0] != 0 || want.OuterOverflows[0] != 0 {
			t.Fatalf("model %d: certified tiles overflow: %v %v", i, want.Overflows, want.OuterOverflows)
		}
		for _, impl := range append(vecImpls(), "go") {
			for _, noVNNI := range []bool{false, true} {
				forceVec(t, impl)
				e, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: PathPreferred, NoVNNI: noVNNI, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				if e.plan == nil {
					t.Fatalf("model %d: no fused pipeline (layers %+v)", i, e.Layers())
				}
				got := e.Run(x, n, true)
				if !slices.Equal(got.Out, want.Out) || !slices.Equal(got.Inputs[1], want.Inputs[1]) || !slices.Equal(got.OuterOverflows, want.OuterOverflows) {
					t.Errorf("model %d, %s kernels, no VNNI %v: fused run differs from the scalar path", i, impl, noVNNI)
				}
			}
		}
	}
}

// TestTiledValidate: a tile must split the dot products (0 < Tile < K)
// or be 0; the error names the layer, for chain and graph models.
func TestTiledValidate(t *testing.T) {
	for _, tile := range []int{-1, 27, 28, 1000} {
		m := tinyModel(rand.New(rand.NewPCG(2, 2)), tinySpec{h: 6, w: 6, cin: 3, cout: 3, k: 3, classes: 4, l1: 100})
		m.Ops[0].Layer.Tile = tile
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "layer conv") || !strings.Contains(err.Error(), "tile") {
			t.Errorf("tile %d of K = 27: %v", tile, err)
		}
		if _, err := NewEngine(m, Options{}); err == nil {
			t.Errorf("tile %d: NewEngine accepted the model", tile)
		}
	}
	for _, tile := range []int{0, 1, 26} {
		m := tinyModel(rand.New(rand.NewPCG(2, 2)), tinySpec{h: 6, w: 6, cin: 3, cout: 3, k: 3, classes: 4, l1: 100})
		m.Ops[0].Layer.Tile = tile
		if err := m.Validate(); err != nil {
			t.Errorf("tile %d of K = 27: %v", tile, err)
		}
	}
}

// TestTiledFormat: a model with a tiled layer is written as format
// version 3 and reads back equal; a model without one stays at version 1;
// a tile in an older version, and a tile that does not split K, are
// refused at load naming the file and the layer.
func TestTiledFormat(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(6, 6))
	m := tiledTiny(t, rng, tinySpec{h: 6, w: 6, cin: 4, cout: 3, k: 3, classes: 4, l1: 2000}, 5)
	m.Ops[4].Layer.Tile = 7
	path := filepath.Join(dir, "tiled.a2qint")
	if err := Save(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) || got.Layers()[0].Tile != 5 || got.Layers()[1].Tile != 7 {
		t.Fatalf("loaded model differs from the saved one")
	}
	e1, err1 := NewEngine(m, Options{Mode: intgemm.Wrap})
	e2, err2 := NewEngine(got, Options{Mode: intgemm.Wrap})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	x := randImages(rng, 3, m, 0, 1)
	if !slices.Equal(e1.Run(x, 3, false).Out, e2.Run(x, 3, false).Out) || !reflect.DeepEqual(e1.Layers(), e2.Layers()) {
		t.Error("outputs or layer descriptions differ after a round trip")
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary16(b); v != 3 {
		t.Errorf("tiled model: version %d, want 3", v)
	}
	for _, l := range m.Layers() {
		l.Tile = 0
	}
	plain, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary16(plain); v != 1 {
		t.Errorf("untiled model: version %d, want 1", v)
	}
	if strings.Contains(string(plain), `"tile"`) {
		t.Error("an untiled model's header mentions tiles")
	}
	older := append([]byte(nil), b...)
	older[6], older[7] = 2, 0
	if _, err := Decode(older, "old.a2qint"); err == nil || !strings.Contains(err.Error(), "old.a2qint") || !strings.Contains(err.Error(), "layer conv") || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("tile in a version 2 file: %v", err)
	}
	for _, tile := range []int{-2, 36, 99} {
		bad := strings.Replace(string(b), `"tile":5`, fmt.Sprintf(`"tile":%d`, tile), 1)
		if bad == string(b) {
			t.Fatal("no tile in the header")
		}
		_, err := Decode(fixHeaderLen(t, []byte(bad), len(b)), "bad.a2qint")
		if err == nil || !strings.Contains(err.Error(), "bad.a2qint") || !strings.Contains(err.Error(), "layer conv") || !strings.Contains(err.Error(), "tile") {
			t.Errorf("tile %d of K = 36: %v", tile, err)
		}
	}
}

func binary16(b []byte) int { return int(b[6]) | int(b[7])<<8 }

// fixHeaderLen rewrites the header length of an encoded model whose header
// was edited (the payload is unchanged; oldLen is the unedited length).
func fixHeaderLen(t *testing.T, b []byte, oldLen int) []byte {
	t.Helper()
	hl := int(b[8]) | int(b[9])<<8 | int(b[10])<<16 | int(b[11])<<24
	hl += len(b) - oldLen
	b[8], b[9], b[10], b[11] = byte(hl), byte(hl>>8), byte(hl>>16), byte(hl>>24)
	return b
}

// tiledCNN builds the reference CNN with its hidden layer quantized by
// mode at P in tiles of tile terms (the first and last layers untiled),
// with projection-initialised weights and calibrated activations.
func tiledCNN(t *testing.T, mode quant.Mode, p, tile int) *models.Model {
	t.Helper()
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: p, Tile: tile},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 16*28*28)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, 16, 28, 28, 1)), false)
	return m
}

// TestTiledFromModel converts quantized models with a tile setting: each
// integer layer takes the tile quant.LayerConfig.TileFor gives its K. The
// chain engine and the graph engine of the same network (the chain read
// as a graph) agree on the outputs, the layers' inputs and the overflow
// counts of each stage, at the layers' P and with the hidden layer well
// below its tiles' width (where exact mode overflows both stages), in every
// mode; Verify and Evaluate report the counts per stage.
func TestTiledFromModel(t *testing.T) {
	for _, mode := range []quant.Mode{quant.Baseline, quant.A2Q} {
		m := tiledCNN(t, mode, 16, 32)
		im, err := FromModel(m)
		if err != nil {
			t.Fatal(err)
		}
		tiled := 0
		for i, l := range im.Layers() {
			if want := m.Layers[i].Config.TileFor(l.K); l.Tile != want {
				t.Errorf("%s: layer %s (K %d): tile %d, want %d", mode, l.Name, l.K, l.Tile, want)
			}
			if l.Tile > 0 {
				tiled++
			}
		}
		if tiled == 0 {
			t.Fatalf("%s: no tiled layer", mode)
		}
		d := &nn.DAG{Output: len(m.Net)}
		for i, mod := range m.Net {
			d.Steps = append(d.Steps, nn.Step{Name: fmt.Sprintf("%d", i), Op: mod, Inputs: []int{i}})
		}
		gm, err := fromDAG(m, d)
		if err != nil {
			t.Fatal(err)
		}
		hidden := im.Layers()[1]
		x := randImages(rand.New(rand.NewPCG(1, 2)), 5, im, 0, 1)
		for _, emode := range modes {
			for _, bits := range []map[string]int{nil, {hidden.Name: hidden.certBits() - 8}} {
				var res [2]*Result
				for i, model := range []*Model{im, gm} {
					e, err := NewEngine(model, Options{Mode: emode, AccBits: bits, Threads: 2})
					if err != nil {
						t.Fatal(err)
					}
					res[i] = e.Run(x, 5, true)
				}
				c, g := res[0], res[1]
				name := fmt.Sprintf("%s, %v, widths %v", mode, emode, bits)
				if !slices.Equal(c.Out, g.Out) || !slices.Equal(c.Overflows, g.Overflows) || !slices.Equal(c.OuterOverflows, g.OuterOverflows) {
					t.Errorf("%s: chain and graph engines differ: overflows %v %v, %v %v", name, c.Overflows, c.OuterOverflows, g.Overflows, g.OuterOverflows)
				}
				for li := range c.Inputs {
					if !slices.Equal(c.Inputs[li], g.Inputs[li]) {
						t.Errorf("%s: layer %d's inputs differ", name, li)
					}
				}
				if bits != nil && (c.Overflows[1] == 0 || emode == intgemm.Exact && c.OuterOverflows[1] == 0) {
					t.Errorf("%s: the hidden layer 8 bits below its tiles' width overflows (%d, %d) times", name, c.Overflows[1], c.OuterOverflows[1])
				}
			}
		}
		// Verify and Evaluate count per stage, on the hidden layer made
		// to overflow.
		s := testImages(t)
		e, err := NewEngine(im, Options{Mode: intgemm.Exact, AccBits: map[string]int{hidden.Name: hidden.certBits() - 8}})
		if err != nil {
			t.Fatal(err)
		}
		v, err := Verify(context.Background(), m, e, s, VerifyOptions{Limit: 40, Batch: 16})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Evaluate(context.Background(), e, s, VerifyOptions{Limit: 40, Batch: 16})
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for i, lc := range v.Layers {
			lr := ev.Layers[i]
			if (lc.OuterOverflows != nil) != (lc.Tile > 0) || (lr.OuterOverflows != nil) != (lr.Tile > 0) {
				t.Errorf("%s: layer %s (tile %d): outer counts %v, %v", mode, lc.Name, lc.Tile, lc.OuterOverflows, lr.OuterOverflows)
			}
			if lc.Overflows != lr.Overflows || stageCount(lc.OuterOverflows) != stageCount(lr.OuterOverflows) {
				t.Errorf("%s: layer %s: Verify and Evaluate count differently", mode, lc.Name)
			}
			sum += lc.Overflows + stageCount(lc.OuterOverflows)
		}
		if v.Layers[1].Overflows == 0 || stageCount(v.Layers[1].OuterOverflows) == 0 || v.Overflows != sum || ev.Overflows != sum {
			t.Errorf("%s: hidden layer overflows %d and %d, totals %d and %d, want %d", mode, v.Layers[1].Overflows, stageCount(v.Layers[1].OuterOverflows), v.Overflows, ev.Overflows, sum)
		}
		// Exact mode keeps the sums: the integer model still matches the
		// fake-quantized one.
		if !v.IntegerMatchesFakeQuant {
			t.Errorf("%s: exact mode with overflows changed the activations", mode)
		}
	}
}

// testImages returns 40 embedded test images.
func testImages(t *testing.T) *data.Set {
	t.Helper()
	_, te, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := te.Split(40)
	return s
}

// TestTiledTransposedConv: a tiled transposed convolution converts when its
// flipped kernel keeps the tiles (whole kernel positions dividing K), and
// is refused with an error naming it otherwise.
func TestTiledTransposedConv(t *testing.T) {
	for _, tc := range []struct {
		tile int
		ok   bool
	}{{0, true}, {6, true}, {2, true}, {4, false}, {3, false}, {18, true}} {
		// 2 input channels, 3×3 kernel: K = 18, whole positions of 2 terms.
		cfg := quant.LayerConfig{Mode: quant.Baseline, WeightBits: 8, ActBits: 8, AccBits: 20, Tile: tc.tile}
		v, err := quant.NewConvTranspose("up", 2, 4, 3, autodiff.ConvTransposeOptions{Stride: 2, Pad: 1}, true, cfg, false, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		v.In.FixScale(1.0 / 255)
		l, err := fromLayer(v)
		switch {
		case tc.ok && err != nil:
			t.Errorf("tile %d: %v", tc.tile, err)
		case tc.ok && l.Tile != cfg.TileFor(18):
			t.Errorf("tile %d: integer layer tile %d", tc.tile, l.Tile)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "layer up")):
			t.Errorf("tile %d: %v, want an error naming the layer", tc.tile, err)
		}
		if err != nil || l.Tile == 0 {
			continue
		}
		// The flipped rows have the same tiles: the same inner width.
		q, _ := v.W.IntegerWeights()
		want, _ := accum.TiledBits(q, 4, 18, l.Tile, 8, false)
		if got := l.certBits(); got != want {
			t.Errorf("tile %d: flipped inner width %d, layer's %d", tc.tile, got, want)
		}
	}
}

// TestTiledAdversarial: the adversarial vectors of a tiled layer at its
// tiles' width do not overflow either stage; a bit below, they overflow
// the inner one in wrap and saturate modes.
func TestTiledAdversarial(t *testing.T) {
	m := tiledTiny(t, rand.New(rand.NewPCG(8, 1)), tinySpec{h: 6, w: 6, cin: 4, cout: 5, k: 3, classes: 3, l1: 2000}, 6)
	conv := m.Layers()[0]
	adv, err := Adversarial(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := adv[0]
	if a.Tile != 6 || a.AccBitsOuter != accum.OuterBits(conv.AccBits, conv.K, 6) || a.WrapOverflows != 0 || a.SaturateOverflows != 0 || a.WrapMaxError != 0 {
		t.Errorf("certified tiles: %+v", a)
	}
	adv, err = Adversarial(m, map[string]int{"conv": conv.AccBits - 1})
	if err != nil {
		t.Fatal(err)
	}
	if a := adv[0]; a.WrapOverflows == 0 || a.SaturateOverflows == 0 || a.SaturateMaxError == 0 {
		t.Errorf("one bit below the tiles' width: %+v", a)
	}
}
