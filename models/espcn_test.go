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
