package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

// calibratedCheckpoint writes an untrained A2Q+ CNN at P = 16
// (projection init) whose activation quantizers are calibrated on embedded
// training images, as the first training step would.
func calibratedCheckpoint(t *testing.T, path string) {
	t.Helper()
	tiledCheckpoint(t, path, 0)
}

// tiledCheckpoint is calibratedCheckpoint with the hidden layer's dot
// products in tiles of tile terms (0: one stage).
func tiledCheckpoint(t *testing.T, path string, tile int) {
	t.Helper()
	tr, _, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	initCheckpoint(t, path, models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16, Tile: tile},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}, tr, 128)
}

// initCheckpoint writes cfg's model, projection-initialised, with its
// activation quantizers calibrated on the first n images of s, as the
// first training step would.
func initCheckpoint(t *testing.T, path string, cfg models.Config, s *data.Set, n int) {
	t.Helper()
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	n = min(n, s.N)
	x := make([]float32, n*s.Size())
	tensor.NCHWToNHWC(x, s.X[:n*s.Size()], n, s.C, s.H, s.W)
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, n, s.H, s.W, s.C)), false)
	c, err := m.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}
}

// TestVerify takes an untrained A2Q+ model at P = 16 and checks verify's report and exit status: bit-exact and overflow
// free at P = 16, a failed check at P = 10, errors for bad input.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	calibratedCheckpoint(t, ckpt)
	intModel := filepath.Join(dir, "model.a2qint")
	code, stdout, stderr := runArgs(t, "verify", ckpt, "--limit", "300", "--adversarial", "--save", intModel, "--json")
	if code != 0 {
		t.Fatalf("verify at P = 16: exit %d: %s", code, stderr)
	}
	var rep struct {
		Layers []struct {
			Name      string `json:"name"`
			Certified bool   `json:"certified"`
		} `json:"layers"`
		TestAccuracy            *float64 `json:"test_accuracy"`
		FakeQuantAccuracy       *float64 `json:"fake_quant_accuracy"`
		Overflows               *int64   `json:"overflows"`
		IntegerMatchesFakeQuant *bool    `json:"integer_matches_fake_quant"`
		Images                  int      `json:"images"`
		Mode                    string   `json:"mode"`
		IntegerLayers           []struct {
			Name    string `json:"name"`
			AccBits int    `json:"acc_bits"`
			Impl    string `json:"impl"`
		} `json:"integer_layers"`
		Adversarial []struct {
			Name          string `json:"name"`
			WrapOverflows int64  `json:"wrap_overflows"`
		} `json:"adversarial"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, stdout)
	}
	if rep.Images != 300 || rep.Mode != "wrap" || rep.Overflows == nil || *rep.Overflows != 0 ||
		rep.IntegerMatchesFakeQuant == nil || !*rep.IntegerMatchesFakeQuant || rep.TestAccuracy == nil ||
		rep.FakeQuantAccuracy == nil || *rep.TestAccuracy != *rep.FakeQuantAccuracy {
		t.Errorf("report: %s", stdout)
	}
	if len(rep.Layers) != 3 || len(rep.IntegerLayers) != 3 || rep.IntegerLayers[1].AccBits != 16 || rep.IntegerLayers[0].AccBits != 32 {
		t.Errorf("layers: %+v %+v", rep.Layers, rep.IntegerLayers)
	}
	if len(rep.Adversarial) != 3 || rep.Adversarial[1].WrapOverflows != 0 {
		t.Errorf("adversarial: %+v", rep.Adversarial)
	}
	checkIntModelFile(t, intModel, *rep.TestAccuracy)

	// At P = 10 the hidden layer is not certified; the adversarial inputs
	// overflow it and the check fails (exit 1). The first and last layers
	// keep their 32-bit targets.
	code, stdout, _ = runArgs(t, "verify", ckpt, "--acc-bits", "10", "--mode", "saturate", "--limit", "50", "--adversarial")
	if code != 1 || !strings.Contains(stdout, "scalar-saturate") {
		t.Errorf("verify at P = 10: exit %d, want 1\n%s", code, stdout)
	}

	// A checkpoint written before any data went through it.
	uncalibrated := filepath.Join(dir, "fresh", "model.ckpt")
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--epochs", "0", "--out", filepath.Dir(uncalibrated)); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	cases := []struct {
		args   []string
		stderr string
	}{
		{[]string{"verify", ckpt, "--mode", "round"}, "--mode"},
		{[]string{"verify", uncalibrated, "--limit", "10"}, "calibrated"},
		{[]string{"verify", ckpt, "--acc-bits", "99"}, "--acc-bits"},
		{[]string{"verify", filepath.Join(dir, "nope.ckpt")}, "nope.ckpt"},
		{[]string{"verify"}, "one checkpoint"},
	}
	for _, c := range cases {
		if code, _, stderr := runArgs(t, c.args...); code != 2 || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and a mention of %q)", c.args, code, stderr, c.stderr)
		}
	}
}

// checkIntModelFile runs the integer model file that verify --save wrote
// through verify and eval: the same accuracy as the checkpoint's verify on
// the same images, a failed check once a layer's P is lowered below its
// exact width, and bad input for a damaged file.
func checkIntModelFile(t *testing.T, path string, accuracy float64) {
	t.Helper()
	for _, cmd := range []string{"verify", "eval"} {
		code, stdout, stderr := runArgs(t, cmd, path, "--limit", "300", "--json")
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", cmd, path, code, stderr)
		}
		var r struct {
			TestAccuracy *float64 `json:"test_accuracy"`
			Certified    bool     `json:"certified"`
			Images       int      `json:"images"`
			Overflows    int64    `json:"overflows"`
			Layers       []struct {
				AccBits int `json:"acc_bits"`
			} `json:"integer_layers"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%s --json: %v\n%s", cmd, err, stdout)
		}
		if r.TestAccuracy == nil || *r.TestAccuracy != accuracy || !r.Certified || r.Images != 300 || r.Overflows != 0 || len(r.Layers) != 3 {
			t.Errorf("%s %s: %s (want accuracy %v, certified, no overflows)", cmd, path, stdout, accuracy)
		}
	}

	// conv2 at a P below its exact width: not certified, and the
	// adversarial inputs overflow it.
	im, err := intinfer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l := im.Layers()[1]
	l.AccBits = accum.ExactBits(l.Weights, l.OutC, l.K, l.InputBits, l.InputSigned) - 2
	narrow := filepath.Join(filepath.Dir(path), "narrow.a2qint")
	if err := intinfer.Save(narrow, im); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runArgs(t, "verify", narrow, "--limit", "50", "--adversarial"); code != 1 || !strings.Contains(stdout, "false") {
		t.Errorf("verify of conv2 below its exact width: exit %d, want 1\n%s", code, stdout)
	}
	if code, _, stderr := runArgs(t, "eval", narrow, "--limit", "50"); code != 0 {
		t.Errorf("eval of conv2 below its exact width: exit %d, want 0 (eval reports, verify checks): %s", code, stderr)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(filepath.Dir(path), "cut.a2qint")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runArgs(t, "verify", cut); code != 2 || !strings.Contains(stderr, "cut.a2qint") {
		t.Errorf("verify of a truncated integer model: exit %d, stderr %q (want 2, naming the file)", code, stderr)
	}
}

// stageLayer is a layer of integer_layers with its multi-stage fields.
type stageLayer struct {
	Name              string `json:"name"`
	AccBits           int    `json:"acc_bits"`
	AccBitsExact      int    `json:"acc_bits_exact"`
	Impl              string `json:"impl"`
	Tile              int    `json:"tile"`
	AccBitsInner      int    `json:"acc_bits_inner"`
	AccBitsInnerExact int    `json:"acc_bits_inner_exact"`
	AccBitsOuter      int    `json:"acc_bits_outer"`
	Overflows         int64  `json:"overflows"`
	OuterOverflows    *int64 `json:"outer_overflows"`
}

// TestVerifyTiled verifies a model whose hidden layer accumulates in tiles
// of 32 terms, from its checkpoint and from its integer model file: the
// reports give the tiled layer's inner and outer widths and overflows per
// stage (text and JSON) and the file keeps the tile. With integer weights
// set so that each tile's sums are small but the whole dot products' are
// not, the file's layer certified only by its tiles passes, and one run
// below its tiles' width fails with overflows in both stages (exact mode),
// which eval reports without failing.
func TestVerifyTiled(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	tiledCheckpoint(t, ckpt, 32)
	file := filepath.Join(dir, "tiled.a2qint")
	code, stdout, stderr := runArgs(t, "verify", ckpt, "--limit", "100", "--save", file, "--json")
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr)
	}
	var rep struct {
		IntegerLayers []stageLayer `json:"integer_layers"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, stdout)
	}
	im, err := intinfer.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	conv2 := im.Layers()[1]
	if len(rep.IntegerLayers) != 3 || conv2.Tile != 32 {
		t.Fatalf("%d layers, saved conv2 in tiles of %d, want 32", len(rep.IntegerLayers), conv2.Tile)
	}
	for i, l := range rep.IntegerLayers {
		if i != 1 {
			if l.Tile != 0 || l.AccBitsOuter != 0 || l.OuterOverflows != nil {
				t.Errorf("untiled layer %s: %+v", l.Name, l)
			}
			continue
		}
		if l.Tile != 32 || l.AccBitsInner != 16 || l.AccBitsOuter != accum.OuterBits(16, conv2.K, 32) || l.OuterOverflows == nil || *l.OuterOverflows != 0 || l.Overflows != 0 {
			t.Errorf("tiled layer: %+v", l)
		}
	}
	code, stdout, _ = runArgs(t, "verify", ckpt, "--limit", "20")
	if code != 0 || !strings.Contains(stdout, "multi-stage accumulation") || !strings.Contains(stdout, "P_outer") {
		t.Errorf("verify text: exit %d\n%s", code, stdout)
	}

	// At most 4 weights of magnitude at most 15 in each tile of 32.
	rng := rand.New(rand.NewPCG(1, 2))
	for c := 0; c < conv2.OutC; c++ {
		row := conv2.Weights[c*conv2.K : (c+1)*conv2.K]
		clear(row)
		for t := 0; t < len(row); t += 32 {
			for range 4 {
				row[t+rng.IntN(min(32, len(row)-t))] = int32(rng.IntN(31) - 15)
			}
		}
	}
	inner, _ := accum.TiledBits(conv2.Weights, conv2.OutC, conv2.K, 32, conv2.InputBits, conv2.InputSigned)
	exact := accum.ExactBits(conv2.Weights, conv2.OutC, conv2.K, conv2.InputBits, conv2.InputSigned)
	if inner >= exact {
		t.Fatalf("conv2: tiles need %d bits, the dot products %d: the test wants a layer certified only by its tiles", inner, exact)
	}
	for _, tc := range []struct {
		p         int
		code      int
		certified bool
	}{{inner, 0, true}, {inner - 8, 1, false}} {
		conv2.AccBits = tc.p
		path := filepath.Join(dir, "p.a2qint")
		if err := intinfer.Save(path, im); err != nil {
			t.Fatal(err)
		}
		var r struct {
			Certified bool         `json:"certified"`
			Overflows int64        `json:"overflows"`
			Layers    []stageLayer `json:"integer_layers"`
		}
		code, stdout, stderr := runArgs(t, "verify", path, "--mode", "exact", "--limit", "100", "--json")
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("P_I = %d: verify --json: %v\n%s", tc.p, err, stdout)
		}
		l := r.Layers[1]
		if code != tc.code || r.Certified != tc.certified || l.Tile != 32 || l.AccBitsInner != tc.p || l.AccBitsInnerExact != inner || l.OuterOverflows == nil {
			t.Fatalf("P_I = %d: exit %d (want %d), %s %s", tc.p, code, tc.code, stdout, stderr)
		}
		if tc.certified {
			if strings.HasPrefix(l.Impl, "scalar") || r.Overflows != 0 {
				t.Errorf("certified tiles: kernel %s, %d overflows", l.Impl, r.Overflows)
			}
			continue
		}
		if l.Overflows == 0 || *l.OuterOverflows == 0 || r.Overflows != l.Overflows+*l.OuterOverflows {
			t.Errorf("P_I = %d, exact mode: %d inner and %v outer overflows, total %d", tc.p, l.Overflows, *l.OuterOverflows, r.Overflows)
		}
		code, text, _ := runArgs(t, "verify", path, "--mode", "exact", "--limit", "100")
		want := regexp.MustCompile(fmt.Sprintf(`(?m)^conv2 +32 +%d +%d +%d +false +%d +%d$`, tc.p, inner, l.AccBitsOuter, l.Overflows, *l.OuterOverflows))
		if code != 1 || !strings.Contains(text, "multi-stage accumulation") || !want.MatchString(text) {
			t.Errorf("verify text: exit %d, want 1 and a line matching %s\n%s", code, want, text)
		}
		if code, _, stderr := runArgs(t, "eval", path, "--mode", "exact", "--limit", "20"); code != 0 {
			t.Errorf("eval below the tiles' width: exit %d, want 0: %s", code, stderr)
		}
	}
}

// TestVerifyGraphFile saves a network with branches (ESPCN: its last layer
// reads the image beside the features) as an integer model file and runs
// the file: the same PSNR, certified, no overflows.
func TestVerifyGraphFile(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	_, te, err := train.OpenData("espcn", "", 2, 1) // the test images, which verify runs
	if err != nil {
		t.Fatal(err)
	}
	initCheckpoint(t, ckpt, models.Config{Model: "espcn", InC: te.C, InH: te.H, InW: te.W, Scale: 2, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}, te, 16)
	intModel := filepath.Join(dir, "espcn.a2qint")
	var psnr []float64
	for _, args := range [][]string{{ckpt, "--save", intModel}, {intModel}} {
		code, stdout, stderr := runArgs(t, append([]string{"verify", "--limit", "20", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("verify %v: exit %d: %s", args, code, stderr)
		}
		var r struct {
			PSNR      *float64 `json:"test_psnr"`
			Overflows int64    `json:"overflows"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.PSNR == nil || r.Overflows != 0 {
			t.Fatalf("verify %v: %v\n%s", args, err, stdout)
		}
		psnr = append(psnr, *r.PSNR)
	}
	if psnr[0] != psnr[1] {
		t.Errorf("PSNR of the checkpoint %v, of its integer model file %v", psnr[0], psnr[1])
	}
}
