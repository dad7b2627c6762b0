package models

import (
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestESPCNCalibratesOnMaximum checks that a quantized ESPCN sets its
// hidden activation scales so that nothing in the calibration batch is
// clipped, while a classifier keeps the percentile default.
func TestESPCNCalibratesOnMaximum(t *testing.T) {
	q := quant.LayerConfig{Mode: quant.Baseline, WeightBits: 8, ActBits: 8, AccBits: 32}
	m, err := Build(Config{Model: "espcn", InC: 1, InH: 12, InW: 12, Scale: 2, Seed: 3, Hidden: q, First: q, Last: q})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(4, 12, 12, 1)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	tp := autodiff.NewTape(1)
	v := tp.Constant(x)
	for _, mod := range m.Net {
		if l, ok := mod.(*quant.Layer); ok && l != m.Layers[0] {
			var top float32
			for _, a := range v.Value.Data {
				top = max(top, a)
			}
			v = mod.Forward(tp, v, false)
			_, hi := l.In.Range()
			if got := l.In.Scale() * hi; got < top*(1-1e-5) || got > top*(1+1e-5) {
				t.Errorf("%s: scale maps %g to the top of the range, want the batch maximum %g", l.Name, got, top)
			}
			continue
		}
		v = mod.Forward(tp, v, false)
	}
	c, err := Build(Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3, Hidden: q, First: q, Last: q})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Layers[1].In.Percentile; p != 0 {
		t.Errorf("cnn conv2 calibration percentile %g, want the default 0", p)
	}
}

// TestESPCNImageSkip checks that ESPCN's last convolution reads the image
// beside the hidden features: with every other weight and bias zero and
// that convolution copying the image's pixel to each of its r² outputs,
// the network is nearest-neighbour upscaling.
func TestESPCNImageSkip(t *testing.T) {
	const c, h, w, r = 2, 5, 6, 2
	m, err := Build(Config{Model: "espcn", InC: c, InH: h, InW: w, Scale: r, Seed: 3,
		Hidden: quant.LayerConfig{Mode: quant.Float}, First: DefaultEdge(quant.Float), Last: DefaultEdge(quant.Float)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		clear(l.Weight.Value.Data)
		clear(l.Bias.Value.Data)
	}
	last := m.Layers[len(m.Layers)-1]
	if last.InC != 32+c {
		t.Fatalf("%s reads %d channels, want 32 features and %d image channels", last.Name, last.InC, c)
	}
	// Weights [Cout, 3, 3, Cin]; output channel o = ch·r² + sub (PyTorch's
	// pixel shuffle order) copies image channel ch from the centre tap.
	for o := range last.OutC {
		last.Weight.Value.Data[((o*3+1)*3+1)*last.InC+32+o/(r*r)] = 1
	}
	rng := rand.New(rand.NewPCG(4, 5))
	x := tensor.New(2, h, w, c)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	tp := autodiff.NewTape(1)
	y := m.Forward(tp, tp.Constant(x), false).Value
	for n := range 2 {
		for i := range h * r {
			for j := range w * r {
				for ch := range c {
					got := y.Data[((n*h*r+i)*w*r+j)*c+ch]
					if want := x.Data[((n*h+i/r)*w+j/r)*c+ch]; got != want {
						t.Fatalf("output (%d, %d, %d, %d) = %g, want the image's %g", n, i, j, ch, got, want)
					}
				}
			}
		}
	}
}
