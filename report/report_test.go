package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

func build(t *testing.T, model string, mode quant.Mode, p int) *models.Model {
	t.Helper()
	cfg := models.Config{Model: model, InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: p},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)}
	if model == "espcn" {
		cfg.InH, cfg.InW, cfg.Classes, cfg.Scale = 9, 9, 0, 2
	}
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.W != nil {
			l.W.InitFromWeights(true)
		}
	}
	return m
}

// TestFromModel checks the report of a projection-initialised A2Q+ CNN
// against figures computed here from the hidden layer's integer weights:
// sparsity, M/H(q) and the certificate.
func TestFromModel(t *testing.T) {
	m := build(t, "cnn", quant.A2QPlus, 16)
	r, err := FromModel(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 3 || r.Layers[1].Name != "conv2" {
		t.Fatalf("layers %+v, want conv1, conv2, fc", r.Layers)
	}
	if !r.Certified || r.Layers[1].AccBitsExact > 16 {
		t.Errorf("projected A2Q+ conv2 not certified at 16: %+v", r.Layers[1])
	}
	q, _ := m.Layers[1].W.IntegerWeights()
	counts := map[int32]int{}
	for _, v := range q {
		counts[v]++
	}
	var h float64
	for _, c := range counts {
		pr := float64(c) / float64(len(q))
		h -= pr * math.Log2(pr)
	}
	if want := float64(counts[0]) / float64(len(q)); math.Abs(r.Sparsity-want) > 1e-12 {
		t.Errorf("sparsity %v, want %v", r.Sparsity, want)
	}
	if r.CompressionRate == nil || math.Abs(*r.CompressionRate-8/h) > 1e-9 {
		t.Errorf("compression rate %v, want 8/H = %v", r.CompressionRate, 8/h)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings on a live model: %v", r.Warnings)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "certified true") || !strings.Contains(b.String(), "conv2") {
		t.Errorf("text report lacks the certificate:\n%s", b.String())
	}
}

// TestDeadLayerWarning zeroes conv2's weights: the report must name it.
func TestDeadLayerWarning(t *testing.T) {
	m := build(t, "cnn", quant.A2Q, 16)
	clear(m.Layers[1].W.V.Value.Data)
	r, err := FromModel(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "conv2") {
		t.Errorf("warnings %v, want one naming conv2", r.Warnings)
	}
}

// TestSetScore files accuracy for classifiers and PSNR for super-resolution.
func TestSetScore(t *testing.T) {
	for _, c := range []struct {
		model string
		psnr  bool
	}{{"cnn", false}, {"espcn", true}} {
		m := build(t, c.model, quant.A2QPlus, 16)
		r, err := FromModel(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.SetScore(m, 0.5)
		if got := r.TestPSNR != nil; got != c.psnr || (r.TestAccuracy != nil) == c.psnr {
			t.Errorf("%s: accuracy %v, PSNR %v", c.model, r.TestAccuracy, r.TestPSNR)
		}
	}
}

// TestCertificatesHiddenAccBits: the hidden layers are certified at the P
// given, the first and last keep their own; 0 keeps every layer's own; a
// bad P is refused with accum's message.
func TestCertificatesHiddenAccBits(t *testing.T) {
	m := build(t, "cnn", quant.A2QPlus, 16)
	own, err := Certificates(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{12, 16, 40, 64} {
		certs, err := Certificates(m, p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := FromModel(m, p)
		if err != nil {
			t.Fatal(err)
		}
		hiddenOK := true
		for i, c := range certs {
			want := own[i] // the edges: conv1 and fc
			if i == 1 {
				want = own[i].WithTarget(p)
				hiddenOK = c.Certified
			}
			if c != want || r.Layers[i] != want {
				t.Errorf("hidden P = %d, %s: %+v, want target %d", p, c.Name, c, want.AccBitsTarget)
			}
		}
		if r.Certified != hiddenOK || r.AccBits != p || hiddenOK != (own[1].AccBitsExact <= p) {
			t.Errorf("hidden P = %d: report certified %v at P = %d, conv2 P_exact %d", p, r.Certified, r.AccBits, own[1].AccBitsExact)
		}
	}
	for _, p := range []int{1, 65, -2} {
		if _, err := FromModel(m, p); err == nil || !strings.Contains(err.Error(), "outside [2, 64]") {
			t.Errorf("hidden P = %d: %v", p, err)
		}
	}
}

// TestDeadChannelWarning zeroes a share of conv2's output channels: the
// report warns, with the count, from DeadChannelShare on, and about the
// whole layer when every channel is dead.
func TestDeadChannelWarning(t *testing.T) {
	for _, c := range []struct {
		dead int // of conv2's 64 channels
		want string
	}{
		{0, ""},
		{1, ""},
		{int(DeadChannelShare*64) - 1, ""},
		{int(DeadChannelShare * 64), fmt.Sprintf("conv2: %d of 64 channels have all-zero integer weights", int(DeadChannelShare*64))},
		{48, "conv2: 48 of 64 channels have all-zero integer weights"},
		{64, "layer conv2: every integer weight is zero"},
	} {
		m := build(t, "cnn", quant.A2Q, 16)
		l := m.Layers[1]
		_, k := l.W.Channels()
		clear(l.W.V.Value.Data[:c.dead*k]) // channel-major: the first c.dead channels
		r, err := FromModel(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Layers[1].ZeroChannels != c.dead {
			t.Fatalf("%d dead channels: the certificate counts %d", c.dead, r.Layers[1].ZeroChannels)
		}
		got := strings.Join(r.Warnings, "\n")
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%d dead channels: warnings %q, want %q", c.dead, got, c.want)
		}
	}
}

// TestChanceLevelWarning: a classifier at chance level and a
// super-resolution model not above a flat image, or not above bicubic
// upscaling, are reported as such.
func TestChanceLevelWarning(t *testing.T) {
	cases := []struct {
		model         string
		score         float64
		flat, bicubic float64 // super-resolution baselines (CompareSR)
		warn          bool
	}{
		{"cnn", 0.10, 0, 0, true},
		{"cnn", 0.0, 0, 0, true},
		{"cnn", (1 + ChanceMargin) / 10, 0, 0, true},
		{"cnn", 0.13, 0, 0, false},
		{"cnn", 0.87, 0, 0, false},
		{"espcn", 18.0, 19.5, 38.4, true},
		{"espcn", 19.5, 19.5, 38.4, true},
		{"espcn", 25.0, 19.5, 38.4, true}, // below bicubic
		{"espcn", 38.4, 19.5, 38.4, true},
		{"espcn", 38.5, 19.5, 38.4, false},
	}
	for _, c := range cases {
		m := build(t, c.model, quant.A2QPlus, 16)
		r, err := FromModel(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.SetScore(m, c.score)
		if c.model == "espcn" {
			r.CompareSR(c.flat, c.bicubic)
		}
		got := strings.Join(r.Warnings, "\n")
		want := "at chance level"
		if c.model == "espcn" {
			want = "not above"
		}
		if strings.Contains(got, want) != c.warn {
			t.Errorf("%s scoring %v: warnings %q, want a chance-level warning: %v", c.model, c.score, got, c.warn)
		}
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "warning: ") != c.warn {
			t.Errorf("%s scoring %v: text report %q", c.model, c.score, b.String())
		}
	}
}

// TestFromModelTiled: with tiled hidden layers the report carries each
// layer's stages in JSON and in the text, the hidden layers certified at
// any P are certified by their inner width, and the edges stay one stage.
func TestFromModelTiled(t *testing.T) {
	m := build(t, "cnn", quant.A2QPlus, 16)
	for i, l := range m.Layers {
		if m.Hidden(i) {
			l.Config.Tile = 32 // as if configured so (conv2: K = 288, 9 tiles)
		}
	}
	m.Config.Hidden.Tile = 32
	r, err := FromModel(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	conv2 := r.Layers[1]
	if r.Tile != 32 || conv2.Tile != 32 || conv2.AccBitsInner == 0 || conv2.AccBitsInner > conv2.AccBitsExact ||
		conv2.AccBitsOuter != accum.OuterBits(conv2.AccBitsInner, 288, 32) {
		t.Fatalf("report tile %d, conv2 %+v", r.Tile, conv2)
	}
	if r.Layers[0].Tile != 0 || r.Layers[2].Tile != 0 { // the edges keep their own (untiled) setting
		t.Errorf("edge layer tiled: %+v, %+v", r.Layers[0], r.Layers[2])
	}
	for _, p := range []int{conv2.AccBitsInner - 1, conv2.AccBitsInner, conv2.AccBitsExact} {
		rp, err := FromModel(m, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := p >= conv2.AccBitsInner; rp.Certified != want || rp.Layers[1].Certified != want {
			t.Errorf("hidden P = %d, inner %d: certified %v", p, conv2.AccBitsInner, rp.Certified)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tile   int              `json:"tile"`
		Layers []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for i, l := range doc.Layers {
		_, hasTile := l["tile"]
		_, hasInner := l["acc_bits_inner"]
		_, hasOuter := l["acc_bits_outer"]
		if want := i == 1; hasTile != want || hasInner != want || hasOuter != want || doc.Tile != 32 {
			t.Errorf("JSON layer %d: tile %v, inner %v, outer %v (report tile %d)", i, l["tile"], l["acc_bits_inner"], l["acc_bits_outer"], doc.Tile)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("conv2: P_I %d, P_O %d, tile 32 (9 tiles); at P = 16 the outer accumulator has %d bits",
		conv2.AccBitsInner, conv2.AccBitsOuter, accum.OuterBits(16, 288, 32))
	if s := text.String(); !strings.Contains(s, want) || !strings.Contains(s, "in tiles of 32") || strings.Contains(s, "fc: P_I") {
		t.Errorf("text report lacks %q:\n%s", want, s)
	}

	// Untiled, there is no stage section.
	text.Reset()
	r0, err := FromModel(build(t, "cnn", quant.A2QPlus, 16), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r0.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if s := text.String(); strings.Contains(s, "multi-stage") || strings.Contains(s, "tiles") || r0.Tile != 0 {
		t.Errorf("untiled report mentions tiles:\n%s", s)
	}
}
