package hw

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// smallModel builds a model with 8-bit A2Q+ hidden layers at P = 16 and captures its
// layers' integer inputs on seeded random images.
func smallModel(t *testing.T, name string, h, w int) (*models.Model, *tensor.Tensor, map[string]*tensor.Tensor) {
	t.Helper()
	cfg := models.Config{Model: name, InC: 1, InH: h, InW: w, Classes: 4, Scale: 2, Seed: 3,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	x := tensor.New(3, h, w, 1)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	in, err := CaptureInputs(m, x, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m, x, in
}

func TestEstimateModel(t *testing.T) {
	m, _, _ := smallModel(t, "cnn", 12, 12)
	mc, err := EstimateModel(m, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	wantB := []int{8, 8, 0} // the next layer's input bits; the last layer has no thresholds
	var total, total32 float64
	for i, l := range mc.Layers {
		c := certs[i]
		if l.Name != c.Name || l.AccBits != max(c.AccBitsExact, 2) || l.Unit.OutputBits != wantB[i] {
			t.Errorf("layer %d: %s at P = %d, B = %d; certificate %s at %d bits, want B = %d",
				i, l.Name, l.AccBits, l.Unit.OutputBits, c.Name, c.AccBitsExact, wantB[i])
		}
		if l.Unit.MH%l.Unit.PE != 0 || l.Unit.PE > 4 || l.Unit.MW%l.Unit.SIMD != 0 || l.Unit.SIMD > 8 {
			t.Errorf("%s: folding PE=%d SIMD=%d of %d×%d", l.Name, l.Unit.PE, l.Unit.SIMD, l.Unit.MW, l.Unit.MH)
		}
		total += l.LUTEstimate
		total32 += l.LUTEstimateP32
	}
	if mc.TotalLUTEstimate != total || mc.TotalLUTEstimateP32 != total32 || mc.Reduction != total32/total {
		t.Errorf("totals %+v, layers sum to %g and %g", mc, total, total32)
	}
	if _, err := EstimateModel(m, 0, 8); err == nil {
		t.Error("PE cap 0 accepted")
	}
}

// TestEstimateLayers checks that EstimateModel is EstimateLayers on the model's certificates
// with B = the next layer's input bits, that each layer is EstimateLUT of its unit, that the
// totals are the sums of the layers, and the errors.
func TestEstimateLayers(t *testing.T) {
	m, _, _ := smallModel(t, "cnn", 12, 12)
	certs, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	specs := []LayerSpec{{certs[0], 8}, {certs[1], 8}, {certs[2], 0}}
	got, err := EstimateLayers(specs, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	want, err := EstimateModel(m, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EstimateLayers %+v\nEstimateModel %+v", got, want)
	}
	var total float64
	for i, l := range got.Layers {
		e, err := EstimateLUT(l.Unit)
		if err != nil || e != l.Estimate || l.LUTEstimate != e.LUT || l.Unit.OutputBits != specs[i].OutputBits {
			t.Errorf("%s: estimate %+v, EstimateLUT of its unit %+v (%v)", l.Name, l.Estimate, e, err)
		}
		total += l.LUTEstimate
	}
	if got.TotalLUTEstimate != total {
		t.Errorf("total %g, layers sum to %g", got.TotalLUTEstimate, total)
	}
	bad := specs[1]
	bad.OutputBits = MaxOutputBits + 1
	for _, tc := range []struct {
		name  string
		specs []LayerSpec
		want  string
	}{
		{"empty", nil, "no quantized layer"},
		{"bad B", []LayerSpec{specs[0], bad}, certs[1].Name},
	} {
		if _, err := EstimateLayers(tc.specs, 4, 8); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a mention of %q", tc.name, err, tc.want)
		}
	}
	if _, err := EstimateLayers(specs, 4, 0); err == nil {
		t.Error("SIMD cap 0 accepted")
	}
}

// TestLayerThresholds checks the derived thresholds against the float model: for
// accumulator values across the layer's range and on both sides of every threshold, the
// number of thresholds reached equals the next layer's quantized input (offset by its lowest
// level) of ReLU(thresh.Requant(acc, s, b)), ties included.
func TestLayerThresholds(t *testing.T) {
	m, _, _ := smallModel(t, "cnn", 12, 12)
	qs := quantized(m)
	l, next := qs[0], qs[1]
	b, thr, err := LayerThresholds(m, l.Name, 24)
	if err != nil {
		t.Fatal(err)
	}
	nt := 1<<b - 1
	if b != next.In.Bits || len(thr) != l.OutC*nt {
		t.Fatalf("B = %d with %d thresholds, want B = %d with %d", b, len(thr), next.In.Bits, l.OutC*nt)
	}
	_, log2s := l.W.Integers()
	lo, hi := next.In.Range()
	sNext := next.In.Scale()
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for c := range l.OutC {
		scale := thresh.OutputScale(l.In.Log2Scale.Value.Data[0], log2s[c])
		bias := l.Bias.Value.Data[c]
		span := float64(hi-lo) * float64(sNext) / float64(scale)
		ct := thr[c*nt : (c+1)*nt]
		var accs []int64
		for range 400 {
			accs = append(accs, int64(math.Round((rng.Float64()*1.4-0.2)*span)))
		}
		for _, v := range ct {
			accs = append(accs, v-1, v)
		}
		for _, acc := range accs {
			y := max(thresh.Requant(float32(acc), scale, bias), 0)
			want := int(thresh.Quantize(y, sNext, lo, hi) - lo)
			if got := thresh.Count(acc, ct); got != want {
				t.Fatalf("channel %d, acc %d (y = %g): %d thresholds reached, quantizer gives level %d", c, acc, y, got, want)
			}
			checked++
		}
	}
	if checked < l.OutC*400 {
		t.Errorf("only %d values checked", checked)
	}
	if _, _, err := LayerThresholds(m, qs[len(qs)-1].Name, 24); err == nil || !strings.Contains(err.Error(), "last layer") {
		t.Errorf("thresholds of the last layer: err = %v", err)
	}
	// Average pooling is not monotone in the sense thresholds need: refuse.
	for i, mod := range m.Net {
		if _, ok := mod.(nn.MaxPool); ok {
			m.Net[i] = nn.AvgPool{K: 2}
			break
		}
	}
	if _, _, err := LayerThresholds(m, l.Name, 24); err == nil || !strings.Contains(err.Error(), "AvgPool") {
		t.Errorf("thresholds across average pooling: err = %v", err)
	}
}

func TestInputRows(t *testing.T) {
	tests := []struct {
		model string
		h, w  int
	}{
		{"cnn", 12, 12},  // valid convolutions, then a linear layer
		{"espcn", 8, 10}, // padded 5×5 and 3×3 convolutions, the image concatenated before the last
		{"unet", 8, 8},   // a graph: pooling, resize convolutions, skip concatenations
	}
	for _, tt := range tests {
		m, x, in := smallModel(t, tt.model, tt.h, tt.w)
		for _, l := range quantized(m) {
			// InputRows checks every row's dot products against the layer's own product.
			rows, err := InputRows(l, in[l.Name], 7)
			if err != nil {
				t.Fatalf("%s: %v", tt.model, err)
			}
			want := 7
			if l.Kind == "linear" {
				want = x.Shape[0] // one row per image
			}
			if len(rows) != want {
				t.Errorf("%s %s: %d rows, want %d", tt.model, l.Name, len(rows), want)
			}
			lo, hi := l.In.Range()
			nonzero := 0
			for _, r := range rows {
				if len(r) != l.K() {
					t.Fatalf("%s %s: row of %d, want K = %d", tt.model, l.Name, len(r), l.K())
				}
				for _, v := range r {
					if float32(v) < lo || float32(v) > hi {
						t.Fatalf("%s %s: input %d outside [%g, %g]", tt.model, l.Name, v, lo, hi)
					}
					if v != 0 {
						nonzero++
					}
				}
			}
			if nonzero == 0 {
				t.Errorf("%s %s: every selected input is zero", tt.model, l.Name)
			}
		}
	}
	m, _, in := smallModel(t, "cnn", 12, 12)
	if _, err := InputRows(quantized(m)[1], in["conv1"], 3); err == nil {
		t.Error("conv2 accepted conv1's input")
	}
}

// TestLayerUnitSimulation simulates conv1 of a small model with its thresholding stage on
// real input rows: every accumulator and every activation must match.
func TestLayerUnitSimulation(t *testing.T) {
	requireTool(t, "iverilog", "iverilog")
	m, _, in := smallModel(t, "cnn", 12, 12)
	mc, err := EstimateModel(m, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	l := mc.Layers[0]
	u, err := LayerUnit(m, l.Name, l.AccBits, l.Unit.SIMD, true)
	if err != nil {
		t.Fatal(err)
	}
	if u.OutputBits != 8 || len(u.Thresholds) != u.OutChannels*255 {
		t.Fatalf("unit has B = %d and %d thresholds", u.OutputBits, len(u.Thresholds))
	}
	rows, err := InputRows(quantized(m)[0], in[l.Name], 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := WriteFiles(dir, u, rows); err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(context.Background(), dir, u.Name+".v", u.Name+"_tb.v")
	skipWithout(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(rows) * u.OutChannels; res.Passed != want || res.Failed != 0 {
		t.Errorf("simulation: %d passed, %d failed, want %d passed\n%s", res.Passed, res.Failed, want, tail(res.Output, 10))
	}
}

func TestWritePlotPNG(t *testing.T) {
	m, _, _ := smallModel(t, "cnn", 12, 12)
	mc, err := EstimateModel(m, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, synth := range []bool{false, true} {
		if synth {
			a, b := 100, 120
			mc.Layers[1].LUTSynth, mc.Layers[1].LUTSynthP32 = &a, &b
		}
		var buf bytes.Buffer
		if err := mc.WritePlotPNG(&buf, "test"); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 864 || b.Dy() != 480 {
			t.Errorf("synth %v: image %v, want 864×480", synth, b)
		}
	}
	if err := (&ModelCost{}).WritePlotPNG(io.Discard, "empty"); err == nil {
		t.Error("empty cost plotted")
	}
}

// TestEstimateModelTiled tiles the CNN's hidden layer (conv2, K = 288) and checks that its
// estimate is the tiled unit at the certificate's inner width, with the outer width of
// accum.OuterBits, SIMD dividing the tile, against a one-stage unit at P = 32 of the same
// folding; that the edges are estimated as before; and that synthesis refuses the tiled layer.
func TestEstimateModelTiled(t *testing.T) {
	m, x, _ := smallModel(t, "cnn", 12, 12)
	plain, err := EstimateModel(m, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range []int{64, 36, 288} {
		for i, l := range m.Layers {
			if m.Hidden(i) {
				l.Config.Tile = tile
			}
		}
		certs, err := m.Certificates(false)
		if err != nil {
			t.Fatal(err)
		}
		mc, err := EstimateModel(m, 4, 8)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range mc.Layers {
			c := certs[i]
			if l.Name != "conv2" || tile >= c.K {
				if !reflect.DeepEqual(l, plain.Layers[i]) {
					t.Errorf("tile %d: one-stage layer %s estimated %+v, untiled model %+v", tile, l.Name, l.Estimate, plain.Layers[i].Estimate)
				}
				continue
			}
			u := l.Unit
			if l.Tile != tile || !u.Tiled() || l.AccBits != max(c.AccBitsInner, 2) || l.AccBitsOuter != accum.OuterBits(l.AccBits, 288, tile) ||
				tile%u.SIMD != 0 || u.SIMD > 8 {
				t.Errorf("tile %d: conv2 at P_I %d, P_O %d, SIMD %d; certificate P_I %d", tile, l.AccBits, l.AccBitsOuter, u.SIMD, c.AccBitsInner)
			}
			u32 := u
			u32.AccBits, u32.Tile = ReferenceAccBits, 0
			if e32, err := EstimateLUT(u32); err != nil || e32 != l.EstimateP32 {
				t.Errorf("tile %d: conv2's P = 32 reference %+v, want the one-stage unit's %+v (%v)", tile, l.EstimateP32, e32, err)
			}
			if e, err := EstimateLUT(u); err != nil || e != l.Estimate || e.Acc != float64(l.AccBits+l.AccBitsOuter) {
				t.Errorf("tile %d: conv2 estimate %+v, EstimateLUT of its unit %+v (%v)", tile, l.Estimate, e, err)
			}
			err = SynthesizeModel(context.Background(), m, mc, SynthOptions{Dir: t.TempDir(), Images: x, Layers: []string{"conv2"}})
			if err == nil || !strings.Contains(err.Error(), "conv2 accumulates in tiles") {
				t.Errorf("tile %d: synthesis of the tiled conv2: %v", tile, err)
			}
		}
	}
}
