package qonnx

import (
	"context"
	"fmt"
	"github.com/a2qtoolkit/a2q/metrics"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

// subset returns the first n examples of s.
func subset(s *data.Set, n int) *data.Set {
	c := *s
	c.N = min(n, s.N)
	c.X = s.X[:c.N*s.Size()]
	if s.Labels != nil {
		c.Labels = s.Labels[:c.N]
	}
	if s.Y != nil {
		c.Y = s.Y[:c.N*s.TargetSize()]
	}
	return &c
}

// forward runs m on n NCHW images in evaluation mode (train: training mode,
// which calibrates quantizers and updates batch-norm statistics) and
// returns its output converted to NCHW when it is an image.
func forward(m *models.Model, x []float32, n int, training bool) []float32 {
	c, h, w := m.Config.InC, m.Config.InH, m.Config.InW
	xh := make([]float32, len(x))
	tensor.NCHWToNHWC(xh, x, n, c, h, w)
	tp := autodiff.NewTape(2)
	out := m.Forward(tp, tp.Constant(tensor.FromData(xh, n, h, w, c)), training).Value
	if len(out.Shape) != 4 {
		return append([]float32(nil), out.Data...)
	}
	s := out.Shape
	y := make([]float32, out.Len())
	for b := 0; b < s[0]; b++ {
		for i := 0; i < s[1]; i++ {
			for j := 0; j < s[2]; j++ {
				for k := 0; k < s[3]; k++ {
					y[((b*s[3]+k)*s[1]+i)*s[2]+j] = out.Data[((b*s[1]+i)*s[2]+j)*s[3]+k]
				}
			}
		}
	}
	return y
}

// roundTrip exports m, encodes and decodes it.
func roundTrip(t *testing.T, m *models.Model, o ExportOptions) (*Model, []byte) {
	t.Helper()
	ex, err := Export(m, o)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	b, err := ex.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return back, b
}

// checkLayers compares the layers Model.Layers recovers from the exported
// graph with the model's own: integer weights channel by channel, scales,
// bit widths; then the certificates of Inspect with models.Certificates.
func checkLayers(t *testing.T, m *models.Model, back *Model) {
	t.Helper()
	layers, err := back.Layers()
	if err != nil {
		t.Fatalf("Layers: %v", err)
	}
	if len(layers) != len(m.Layers) {
		t.Fatalf("exported graph has %d layers, model %d", len(layers), len(m.Layers))
	}
	// Graph order may interleave parallel branches: match layers by name.
	byName := make(map[string]Layer)
	for _, l := range layers {
		byName[l.Name] = l
	}
	quantized := 0
	for _, ml := range m.Layers {
		ql, ok := byName[ml.Name]
		if !ok {
			t.Fatalf("layer %s is missing from the export", ml.Name)
		}
		if ml.W == nil {
			if ql.WeightQuant != nil || ql.Certifiable() {
				t.Errorf("float layer %s exported with quantized weights", ml.Name)
			}
			continue
		}
		quantized++
		if !ql.Certifiable() {
			t.Errorf("layer %s: not certifiable in the export: %s", ml.Name, ql.Reason)
			continue
		}
		q, log2s := ml.W.Integers()
		k := ml.K()
		if ql.OutChannels != ml.OutC || ql.K != k {
			t.Fatalf("layer %s: export has %d×%d weights, model %d×%d", ml.Name, ql.OutChannels, ql.K, ml.OutC, k)
		}
		// a2q keeps conv weights (kh, kw, cin); QONNX layers list (cin, kh, kw).
		kh, kw, cg := 1, 1, k
		if ml.Kind == "conv" {
			ws := ml.Weight.Value.Shape
			kh, kw, cg = ws[1], ws[2], ws[3]
		}
		// Tiles run along a2q's order: TileOrder gives its rows back.
		if got := ql.TileOrder(); !slices.Equal(got, toInt32(q)) {
			t.Fatalf("layer %s: TileOrder differs from the model's weight order", ml.Name)
		}
		for c := 0; c < ml.OutC; c++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					for ci := 0; ci < cg; ci++ {
						want := int32(q[c*k+(y*kw+x)*cg+ci])
						if got := ql.Weights[c*k+(ci*kh+y)*kw+x]; got != want {
							t.Fatalf("layer %s channel %d weight (ci %d, ky %d, kx %d): export %d, model %d", ml.Name, c, ci, y, x, got, want)
						}
					}
				}
			}
			if want := float64(quant.Exp2(log2s[c])); ql.WeightScale[c] != want {
				t.Errorf("layer %s channel %d: weight scale %v, model %v", ml.Name, c, ql.WeightScale[c], want)
			}
		}
		if ql.WeightBits != ml.W.Bits || ql.InputBits != ml.In.Bits || ql.InputSigned != ml.In.Signed || !ql.WeightNarrow {
			t.Errorf("layer %s: export M=%d N=%d signed=%v narrow=%v, model M=%d N=%d signed=%v",
				ml.Name, ql.WeightBits, ql.InputBits, ql.InputSigned, ql.WeightNarrow, ml.W.Bits, ml.In.Bits, ml.In.Signed)
		}
		if ql.InputScale != float64(ml.In.Scale()) {
			t.Errorf("layer %s: input scale %v, model %v", ml.Name, ql.InputScale, ml.In.Scale())
		}
	}
	if quantized == 0 {
		if v, ok := back.Metadata[CertificatesKey]; ok {
			t.Errorf("a float export claims certificates: %s", v)
		}
		return
	}
	r, err := Inspect(back, 0)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != len(want) {
		t.Fatalf("Inspect certifies %d layers, model %d", len(r.Layers), len(want))
	}
	certs := make(map[string]accum.Certificate)
	for _, c := range r.Layers {
		certs[c.Name] = c
	}
	for _, w := range want {
		g := certs[w.Name]
		if g.Name != w.Name || g.K != w.K || g.OutChannels != w.OutChannels || g.L1Max != w.L1Max ||
			g.AccBitsDatatype != w.AccBitsDatatype || g.AccBitsL1 != w.AccBitsL1 || g.AccBitsExact != w.AccBitsExact ||
			g.AccMin != w.AccMin || g.AccMax != w.AccMax || g.ZeroChannels != w.ZeroChannels ||
			g.Tile != w.Tile || g.AccBitsInner != w.AccBitsInner || g.AccBitsOuter != w.AccBitsOuter {
			t.Errorf("certificate of %s:\nexport %+v\nmodel  %+v", w.Name, g, w)
		}
	}
	checkClaims(t, r, want)
}

// checkClaims checks the certificates the decoded export claims in its
// metadata: one per quantized layer, each holding, at the width the
// layer's quantizer targets when it is certified there (else its exact
// width), with the exact range and the first bound that proves it.
func checkClaims(t *testing.T, r Report, want []accum.Certificate) {
	t.Helper()
	if !r.ClaimsHold || len(r.Claims) != len(want) || len(r.Unclaimed) != 0 {
		t.Fatalf("claims: hold %v, %d claims for %d layers, unclaimed %v", r.ClaimsHold, len(r.Claims), len(want), r.Unclaimed)
	}
	claims := make(map[string]ClaimCheck)
	for _, c := range r.Claims {
		claims[c.Name] = c
	}
	for _, w := range want {
		c, ok := claims[w.Name]
		// The claimed P applies to the tiles of a tiled layer.
		exact, dt := w.AccBitsExact, w.AccBitsDatatype
		if w.Tile > 0 {
			exact, dt = w.AccBitsInner, accum.DataTypeBits(w.Tile, w.InputBits, w.InputSigned, w.WeightBits)
		}
		p := max(exact, 2)
		if w.Certified {
			p = w.AccBitsTarget
		}
		bound := BoundExact
		if dt <= p {
			bound = BoundDatatype
		} else if w.AccBitsL1 <= p {
			bound = BoundL1
		}
		if !ok || !c.Holds || c.AccBits != p || c.Tile != w.Tile || c.AccMin != w.AccMin || c.AccMax != w.AccMax || c.Bound != bound ||
			c.RecomputedAccBits != exact || c.InputBits != w.InputBits || c.InputSigned != w.InputSigned || c.WeightBits != w.WeightBits {
			t.Errorf("claim of %s: %+v, want P = %d, bound %s, certificate %+v", w.Name, c, p, bound, w)
		}
	}
}

// runFloat runs the exported graph on n NCHW images.
func runFloat(t *testing.T, back *Model, x []float32, n int, cfg models.Config, o RunOptions) (*Tensor, *Result) {
	t.Helper()
	res, err := back.Run(context.Background(), map[string]*Tensor{"input": NewFloat(x, n, cfg.InC, cfg.InH, cfg.InW)}, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := res.Outputs["output"]
	if out == nil {
		t.Fatalf("Run: no output named %q", "output")
	}
	return out, res
}

// compareOutputs checks the exported graph's outputs against the model's:
// same shape, every value within 1e-3 of the largest output (float32
// accumulation error, which cancellation in long dot products can make
// large relative to small outputs; a layout error is of the order of the
// outputs themselves), and, for classifiers, the same argmax. It returns the largest difference.
func compareOutputs(t *testing.T, name string, got *Tensor, want []float32, rows int) float64 {
	return compareOutputsTol(t, name, got, want, rows, 1e-3)
}

// compareOutputsTol is compareOutputs with a tolerance relative to the
// largest output.
func compareOutputsTol(t *testing.T, name string, got *Tensor, want []float32, rows int, rel float64) float64 {
	t.Helper()
	if got.Len() != len(want) {
		t.Fatalf("%s: export gives %d outputs (shape %v), model %d", name, got.Len(), got.Shape, len(want))
	}
	var scale, worst float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i, v := range got.Float {
		worst = max(worst, math.Abs(float64(v)-float64(want[i])))
	}
	if tol := rel*scale + 1e-6; worst > tol {
		t.Errorf("%s: outputs differ by up to %g (tolerance %g, largest output %g)", name, worst, tol, scale)
	}
	if rows > 0 {
		per := len(want) / rows
		for r := 0; r < rows; r++ {
			if a, b := metrics.Argmax(got.Float[r*per:(r+1)*per]), metrics.Argmax(want[r*per:(r+1)*per]); a != b {
				t.Errorf("%s: image %d: export predicts class %d, model %d", name, r, a, b)
			}
		}
	}
	return worst
}

// TestExportTrainedCNN exports a briefly trained reference CNN with an A2Q
// P = 16 hidden layer and checks the round trip: the same integer weights
// and certificates, the same predictions on 64 test images, and no partial
// sum of the hidden layer outside 16 bits when the graph runs as integers.
func TestExportTrainedCNN(t *testing.T) {
	trainSet, testSet, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	// The A2Q recipe: a short float pre-training, projection
	// initialisation of the quantized model from it, a short QAT epoch.
	float := models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: models.DefaultEdge(quant.Float), Last: models.DefaultEdge(quant.Float)}
	cfg := float
	cfg.Hidden = quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16}
	cfg.First, cfg.Last = models.DefaultEdge(quant.A2Q), models.DefaultEdge(quant.A2Q)
	trainSub, testSub := subset(trainSet, 2048), subset(testSet, 256)
	dir := t.TempDir()
	var m *models.Model
	var tr *train.Trainer
	lr := map[quant.Mode]float64{quant.Float: 3e-3, quant.A2Q: 5e-4}
	for _, c := range []models.Config{float, cfg} {
		if m, err = models.Build(c); err != nil {
			t.Fatal(err)
		}
		if c.Hidden.Mode != quant.Float {
			if err := models.InitFromFloat(m, filepath.Join(dir, "model.ckpt")); err != nil {
				t.Fatal(err)
			}
		}
		if tr, err = train.New(m, train.Options{Epochs: 1, Batch: 64, LR: lr[c.Hidden.Mode], Threads: 2, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background(), trainSub, testSub); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s hidden layer, one short epoch: test accuracy %.3f", c.Hidden.Mode, *tr.State.History[0].TestScore)
		if c.Hidden.Mode == quant.Float {
			if err := tr.Save(filepath.Join(dir, "model.ckpt")); err != nil {
				t.Fatal(err)
			}
		}
	}
	back, _ := roundTrip(t, m, ExportOptions{})
	checkLayers(t, m, back)

	const n = 64
	test := subset(testSet, n)
	want := forward(m, test.X, n, false)
	got, _ := runFloat(t, back, test.X, n, cfg, RunOptions{})
	worst := compareOutputs(t, "cnn", got, want, n)
	classes := make(map[int]bool)
	for r := 0; r < n; r++ {
		classes[metrics.Argmax(want[r*10:(r+1)*10])] = true
	}
	if len(classes) < 3 {
		t.Errorf("the model predicts only %d classes on %d images: too little training for a meaningful comparison", len(classes), n)
	}
	t.Logf("%d images: largest output difference %g", n, worst)
	ag, err := Compare(context.Background(), back, m, test.X, n, 24)
	if err != nil {
		t.Fatal(err)
	}
	if ag.Images != n || ag.SameArgmax != n || ag.MaxAbsDiff != worst {
		t.Errorf("Compare: %+v, want %d images alike, largest difference %g", ag, n, worst)
	}

	// Integer execution at P = 16: the A2Q hidden layer never leaves the range.
	gotInt, res := runFloat(t, back, test.X, n, cfg, RunOptions{Integer: true, AccBits: 16})
	found := false
	for _, st := range res.Layers {
		if st.Name != "conv2" {
			continue
		}
		found = true
		if st.Overflows != 0 || st.AccMin < -1<<15 || st.AccMax > 1<<15-1 {
			t.Errorf("conv2 at P=16: %d partial sums out of range, extremes [%d, %d]", st.Overflows, st.AccMin, st.AccMax)
		}
		if st.Outputs == 0 {
			t.Error("conv2 computed no outputs")
		}
	}
	if !found {
		t.Fatalf("conv2 did not run as integers: %+v", res.Layers)
	}
	compareOutputs(t, "cnn (integer layers)", gotInt, want, n)
}

// TestExportModels round-trips every model of the zoo, float and with each
// quantizer, on random inputs: batch norm (with non-trivial statistics),
// depthwise convolutions, residual blocks, global pooling and pixel
// shuffle included.
func TestExportModels(t *testing.T) {
	edge := models.DefaultEdge
	cases := []struct {
		name string
		cfg  models.Config
		// tol is the tolerance relative to the largest output (0: 1e-3).
		// A quantized ResNet sums and averages on its activations' integer
		// grid, exactly, where the export's float interpreter adds the
		// dequantized values: a value on a rounding tie of the next
		// quantizer may land one step apart.
		tol float64
	}{
		{"cnn float", models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.Float}, First: edge(quant.Float), Last: edge(quant.Float)}, 0},
		{"cnn rgb a2q+", models.Config{Model: "cnn", InC: 3, InH: 16, InW: 16, Classes: 4,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 6, ActBits: 5, AccBits: 14}, First: edge(quant.A2QPlus), Last: edge(quant.A2QPlus)}, 0},
		{"mlp a2q+", models.Config{Model: "mlp", InC: 2, InH: 6, InW: 6, Classes: 5,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}, First: edge(quant.A2QPlus), Last: edge(quant.A2QPlus)}, 0},
		{"espcn a2q", models.Config{Model: "espcn", InC: 3, InH: 8, InW: 8, Scale: 3,
			Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 4, ActBits: 4, AccBits: 13}, First: edge(quant.A2Q), Last: edge(quant.A2Q)}, 0},
		{"mobilenet baseline", models.Config{Model: "mobilenet", InC: 3, InH: 12, InW: 12, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.Baseline, WeightBits: 4, ActBits: 4, AccBits: 32}, First: edge(quant.Baseline), Last: edge(quant.Baseline)}, 0},
		{"resnet a2q+", models.Config{Model: "resnet", InC: 3, InH: 12, InW: 12, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}, First: edge(quant.A2QPlus), Last: edge(quant.A2QPlus)}, 1e-2},
		{"resnet float", models.Config{Model: "resnet", InC: 3, InH: 8, InW: 8, Classes: 3,
			Hidden: quant.LayerConfig{Mode: quant.Float}, First: edge(quant.Float), Last: edge(quant.Float)}, 0},
		// Tiled hidden layers: the export certifies and claims them in
		// tiles along a2q's weight order (kh, kw, Cin), not ONNX's.
		{"cnn rgb a2q+ tiled", models.Config{Model: "cnn", InC: 3, InH: 16, InW: 16, Classes: 4,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 6, ActBits: 5, AccBits: 14, Tile: 20}, First: edge(quant.A2QPlus), Last: edge(quant.A2QPlus)}, 0},
		{"mobilenet a2q tiled", models.Config{Model: "mobilenet", InC: 3, InH: 12, InW: 12, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 4, ActBits: 4, AccBits: 14, Tile: 8}, First: edge(quant.A2Q), Last: edge(quant.A2Q)}, 0},
		{"resnet a2q+ tiled", models.Config{Model: "resnet", InC: 3, InH: 12, InW: 12, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16, Tile: 40}, First: edge(quant.A2QPlus), Last: edge(quant.A2QPlus)}, 1e-2},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Seed = uint64(i + 1)
			m, err := models.Build(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			const n = 6
			c := tc.cfg
			x := make([]float32, n*c.InC*c.InH*c.InW)
			for j := range x {
				x[j] = float32(rng.IntN(256)) / 255
			}
			// A training-mode pass calibrates the activation quantizers and
			// moves the batch-norm statistics; then give γ and β some spread.
			forward(m, x, n, true)
			for _, p := range m.Params() {
				if strings.HasSuffix(p.Name, ".bn.weight") || strings.HasSuffix(p.Name, ".bn.bias") {
					for j := range p.Value.Data {
						p.Value.Data[j] += float32(rng.NormFloat64() * 0.2)
					}
				}
			}
			back, _ := roundTrip(t, m, ExportOptions{DynamicBatch: i%2 == 0})
			checkLayers(t, m, back)
			if tc.cfg.Hidden.Tile > 0 {
				certs, err := m.Certificates(true)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(certs, func(c accum.Certificate) bool { return c.Tile > 0 }) {
					t.Fatal("no hidden layer is tiled: the tiled case checks nothing")
				}
			}
			want := forward(m, x, n, false)
			got, _ := runFloat(t, back, x, n, tc.cfg, RunOptions{})
			rows := n
			if m.Task == models.SuperResolve {
				rows = 0
				if wantShape := []int{n, c.InC, c.InH * c.Scale, c.InW * c.Scale}; !slices.Equal(got.Shape, wantShape) {
					t.Errorf("output shape %v, want %v", got.Shape, wantShape)
				}
			}
			tol := tc.tol
			if tol == 0 {
				tol = 1e-3
			}
			worst := compareOutputsTol(t, tc.name, got, want, rows, tol)
			t.Logf("largest output difference %g", worst)
			ag, err := Compare(context.Background(), back, m, x, n, 4)
			if err != nil {
				t.Fatal(err)
			}
			if ag.Images != n || ag.SameArgmax != rows || ag.MaxAbsDiff != worst {
				t.Errorf("Compare: %+v, want %d images, %d alike, largest difference %g", ag, n, rows, worst)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	cfg := models.Config{Model: "cnn", InC: 1, InH: 12, InW: 12, Classes: 3,
		Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2Q), Last: models.DefaultEdge(quant.A2Q)}
	fresh := func() *models.Model {
		m, err := models.Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	uncalibrated := fresh()
	custom := fresh()
	forward(custom, make([]float32, 12*12), 1, false)
	custom.Net = append(custom.Net, nn.Sequential{nn.ReLU{}, unknownModule{}})
	for _, c := range []struct {
		name string
		m    *models.Model
		want string
	}{
		{"uncalibrated", uncalibrated, "conv2"},
		{"unknown module", custom, "unknownModule"},
	} {
		if _, err := Export(c.m, ExportOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
}

type unknownModule struct{}

func (unknownModule) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var { return x }
func (unknownModule) Params() []*nn.Param                                                  { return nil }

// TestExportONNXChecker runs onnx.checker.check_model (with shape
// inference) on an exported model.
func TestExportONNXChecker(t *testing.T) {
	py := pythonWithONNX()
	if py == "" {
		t.Skip("qonnx: python3 with onnx not found (Debian package python3-onnx); onnx.checker not run")
	}
	for _, tc := range []struct {
		name string
		cfg  models.Config
	}{
		{"cnn", models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16}, First: models.DefaultEdge(quant.A2Q), Last: models.DefaultEdge(quant.A2Q)}},
		{"resnet", models.Config{Model: "resnet", InC: 3, InH: 8, InW: 8, Classes: 10,
			Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}, First: models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}},
		{"espcn", models.Config{Model: "espcn", InC: 1, InH: 8, InW: 8, Scale: 2,
			Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16}, First: models.DefaultEdge(quant.A2Q), Last: models.DefaultEdge(quant.A2Q)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := models.Build(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := tc.cfg
			forward(m, make([]float32, c.InC*c.InH*c.InW), 1, true)
			_, b := roundTrip(t, m, ExportOptions{})
			path := filepath.Join(t.TempDir(), tc.name+".onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			script := `import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
doms = {o.domain: o.version for o in m.opset_import}
assert doms.get("") == 11, doms
assert "qonnx.custom_op.general" in doms, doms
quants = [n for n in m.graph.node if n.op_type == "Quant"]
assert quants and all(n.domain == "qonnx.custom_op.general" for n in quants)
print(len(m.graph.node), "nodes,", len(quants), "Quant")
`
			out, err := exec.Command(py, "-c", script, path).CombinedOutput()
			if err != nil {
				t.Fatalf("onnx.checker: %v\n%s", err, out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}

// Export the reference CNN with an A2Q hidden layer at P = 16, after one
// evaluation pass on blank images has calibrated its activation
// quantizers, and list the graph and the layers Inspect finds in it with
// the hidden layers at P = 16 (the first and last keep the P they claim).
func ExampleExport() {
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2Q), Last: models.DefaultEdge(quant.A2Q)})
	if err != nil {
		log.Fatal(err)
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.New(1, 28, 28, 1)), false)
	g, err := Export(m, ExportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	var ops []string
	for _, n := range g.Graph.Nodes {
		ops = append(ops, n.OpType)
	}
	fmt.Println(strings.Join(ops, " "))
	r, err := Inspect(g, 16)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range r.Layers {
		fmt.Printf("%s: K=%d N=%d M=%d P=%d P_exact=%d certified: %v\n", c.Name, c.K, c.InputBits, c.WeightBits, c.AccBitsTarget, c.AccBitsExact, c.Certified)
	}
	// Output:
	// Quant Quant Quant Quant Conv Add MaxPool Relu Quant Conv Add MaxPool Relu Transpose Flatten Quant Gemm Add
	// conv1: K=9 N=8 M=8 P=32 P_exact=19 certified: true
	// conv2: K=288 N=8 M=8 P=16 P_exact=16 certified: true
	// fc: K=1600 N=8 M=8 P=32 P_exact=25 certified: true
}

// toInt32 converts integer-valued floats.
func toInt32(v []float32) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
