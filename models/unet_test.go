package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

func unetConfig(c, h, w, scale int, mode quant.Mode) models.Config {
	cfg := models.Config{Model: "unet", InC: c, InH: h, InW: w, Scale: scale, Seed: 5,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)}
	if mode == quant.Float {
		cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	}
	return cfg
}

func uniform(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// TestUNetShapes builds the U-Net for even, odd and mixed input sizes and
// checks that its output is the input upscaled by the factor, that the
// skips are concatenations at every pooling level, and that only odd
// sides bring padding into the graph.
func TestUNetShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct{ c, h, w, scale int }{
		{1, 4, 4, 2}, {1, 8, 8, 2}, {1, 5, 5, 2}, {3, 7, 6, 3}, {1, 6, 9, 2}, {1, 11, 4, 4}, {3, 32, 32, 2},
	} {
		name := fmt.Sprintf("%dx%dx%d_x%d", s.h, s.w, s.c, s.scale)
		t.Run(name, func(t *testing.T) {
			m, err := models.Build(unetConfig(s.c, s.h, s.w, s.scale, quant.Float))
			if err != nil {
				t.Fatal(err)
			}
			if m.Task != models.SuperResolve {
				t.Errorf("task %s, want %s", m.Task, models.SuperResolve)
			}
			tp := autodiff.NewTape(1)
			y := m.Forward(tp, tp.Constant(uniform(rng, 2, s.h, s.w, s.c)), false).Value
			if want := []int{2, s.h * s.scale, s.w * s.scale, s.c}; !slices.Equal(y.Shape, want) {
				t.Fatalf("output %v, want %v", y.Shape, want)
			}
			ops := map[graph.Op]int{}
			for _, n := range m.Graph().Nodes {
				ops[n.Op]++
				if n.Op == graph.Concat && len(n.Inputs) != 2 {
					t.Errorf("%s joins %d values", n.Name, len(n.Inputs))
				}
			}
			if ops[graph.Concat] != 3 || ops[graph.Resize] != 2 || ops[graph.MaxPool] != 2 || ops[graph.DepthToSpace] != 1 {
				t.Errorf("operations %v: want 3 concatenations (2 skips and the image's), 2 resizes and poolings, 1 pixel shuffle", ops)
			}
			if n := m.Graph().Nodes; !slices.Contains(n[len(n)-3].Inputs, "input") || n[len(n)-2].Name != "head" {
				t.Errorf("the head reads %v, want the image concatenated to the decoder's output", n[len(n)-2].Inputs)
			}
			odd := s.h%2 != 0 || s.w%2 != 0 || (s.h+1)/2%2 != 0 || (s.w+1)/2%2 != 0
			if (ops[graph.Pad] > 0) != odd {
				t.Errorf("%d pad nodes for a %dx%d input", ops[graph.Pad], s.h, s.w)
			}
			if len(m.Layers) != 13 || !m.Hidden(1) || m.Hidden(0) || m.Hidden(len(m.Layers)-1) {
				t.Errorf("%d layers; want 13 with the first and last at the edges", len(m.Layers))
			}
		})
	}
}

// TestUNetRefuses: sizes the poolings cannot halve twice, and a missing
// upscaling factor, are refused with the size in the error.
func TestUNetRefuses(t *testing.T) {
	for _, c := range []struct {
		cfg  models.Config
		want string
	}{
		{unetConfig(1, 3, 8, 2, quant.Float), "input 3x8"},
		{unetConfig(1, 16, 2, 2, quant.Float), "input 16x2"},
		{unetConfig(1, 16, 16, 1, quant.Float), "upscaling factor of at least 2, got 1"},
	} {
		if _, err := models.Build(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "unet") {
			t.Errorf("%dx%d ×%d: err = %v, want the model and %q", c.cfg.InH, c.cfg.InW, c.cfg.Scale, err, c.want)
		}
	}
}

// TestUNetGradients checks the float U-Net's gradients of an MSE loss on
// its output, with respect to the image and to the weights of layers at
// every level (encoder, bottleneck, resize convolution, decoder after the
// concatenation, head), against finite differences.
func TestUNetGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m, err := models.Build(unetConfig(1, 5, 6, 2, quant.Float))
	if err != nil {
		t.Fatal(err)
	}
	x := uniform(rng, 2, 5, 6, 1)
	target := uniform(rng, 2, 10, 12, 1)
	var ps []*nn.Param
	for _, l := range m.Layers {
		switch l.Name {
		case "enc1.conv1", "mid.conv2", "dec2.upconv", "dec1.conv1", "head":
			ps = append(ps, l.Weight)
		}
	}
	if len(ps) != 5 {
		t.Fatalf("found %d of the 5 layers", len(ps))
	}
	inputs := []*tensor.Tensor{x}
	saved := make([][2]*tensor.Tensor, len(ps))
	for i, p := range ps {
		inputs = append(inputs, p.Value)
		saved[i] = [2]*tensor.Tensor{p.Value, p.Grad}
	}
	f := func(tp *autodiff.Tape, v []*autodiff.Var) *autodiff.Var {
		for i, p := range ps {
			p.Value, p.Grad = v[i+1].Value, v[i+1].Grad
		}
		return tp.MSE(m.Forward(tp, v[0], false), target)
	}
	err = autodiff.GradCheck(f, inputs, 1e-3, 2e-2, 12, rng)
	for i, p := range ps {
		p.Value, p.Grad = saved[i][0], saved[i][1]
	}
	if err != nil {
		t.Error(err)
	}
}

// quantizedUNet is an A2Q+ U-Net for an h×w input, its activation
// quantizers calibrated by a training-mode pass over n random images, and
// those images with random targets.
func quantizedUNet(t *testing.T, rng *rand.Rand, h, w, n int) (*models.Model, *data.Set) {
	t.Helper()
	m, err := models.Build(unetConfig(1, h, w, 2, quant.A2QPlus))
	if err != nil {
		t.Fatal(err)
	}
	s := &data.Set{Name: "random", N: n, C: 1, H: h, W: w, TC: 1, TH: 2 * h, TW: 2 * w}
	s.X = uniform(rng, n*h*w).Data
	s.Y = uniform(rng, n*4*h*w).Data
	x := make([]float32, len(s.X))
	tensor.NCHWToNHWC(x, s.X, n, 1, h, w)
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, n, h, w, 1)), true)
	return m, s
}

// TestUNetIntegerBitExact runs a small A2Q+ U-Net (odd input size: the
// poolings pad and the resize convolutions trim) as integers in every
// overflow mode: every layer's integer input and the output image equal
// the fake-quantized model's bit for bit, with no overflow at the
// certified widths.
func TestUNetIntegerBitExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m, s := quantizedUNet(t, rng, 7, 5, 16)
	certs, err := m.Certificates(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if !c.Certified {
			t.Errorf("hidden layer %s not certified at P = %d (exact %d bits)", c.Name, c.AccBitsTarget, c.AccBitsExact)
		}
	}
	im, err := intinfer.FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate} {
		e, err := intinfer.NewEngine(im, intinfer.Options{Mode: mode, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		v, err := intinfer.Verify(context.Background(), m, e, s, intinfer.VerifyOptions{Batch: 8})
		if err != nil {
			t.Fatal(err)
		}
		if !v.IntegerMatchesFakeQuant || !v.OutputsEqual || v.Overflows != 0 {
			t.Errorf("%v: integer inputs match %v, outputs equal %v (max difference %g), overflows %d", mode, v.IntegerMatchesFakeQuant, v.OutputsEqual, v.MaxOutputDiff, v.Overflows)
		}
		if len(v.Layers) != len(m.Layers) {
			t.Errorf("%v: %d layers checked, model has %d", mode, len(v.Layers), len(m.Layers))
		}
	}
	// Not vacuous: the layers after the concatenations see many levels.
	e, err := intinfer.NewEngine(im, intinfer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(s.X))
	tensor.NCHWToNHWC(x, s.X, s.N, s.C, s.H, s.W)
	r := e.Run(x, s.N, true)
	for i, l := range m.Layers {
		if !strings.HasSuffix(l.Name, ".conv1") || !strings.HasPrefix(l.Name, "dec") {
			continue
		}
		seen := map[int32]bool{}
		for _, v := range r.Inputs[i] {
			seen[v] = true
		}
		if len(seen) < 8 {
			t.Errorf("%s sees only %d distinct levels", l.Name, len(seen))
		}
	}
}

// TestUNetQONNXRoundTrip exports a small A2Q+ U-Net to QONNX, decodes the
// file, and checks that Inspect at the hidden layers' P certifies every
// layer exactly as the model's certificates (all but the quantizer's
// budget, which a QONNX file does not hold), with the claims in the
// metadata holding, and that the exported graph computes the model's
// image.
func TestUNetQONNXRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	m, s := quantizedUNet(t, rng, 6, 7, 8)
	g, err := qonnx.Export(m, qonnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := qonnx.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := qonnx.Inspect(back, 16)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != len(want) || !r.ClaimsHold || len(r.Claims) != len(want) || len(r.Unclaimed) != 0 {
		t.Fatalf("inspect: %d layers, claims hold %v (%d claims, unclaimed %v); model has %d layers", len(r.Layers), r.ClaimsHold, len(r.Claims), r.Unclaimed, len(want))
	}
	got := map[string]accum.Certificate{}
	for _, c := range r.Layers {
		got[c.Name] = c
	}
	for _, w := range want {
		w.L1Bound = 0
		if g := got[w.Name]; g != w {
			t.Errorf("certificate of %s:\nexport %+v\nmodel  %+v", w.Name, g, w)
		}
	}
	a, err := qonnx.Compare(context.Background(), back, m, s.X, s.N, 4)
	if err != nil {
		t.Fatal(err)
	}
	if a.MaxAbsDiff > 1e-2 {
		t.Errorf("exported graph differs from the model by up to %g", a.MaxAbsDiff)
	}
}
