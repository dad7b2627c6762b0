package models

import (
	"context"
	"iter"
	"math"
	"testing"

	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestCorrectOutputBias gives ESPCN (float and A2Q+) targets that are its
// own outputs shifted by a different constant at each of the pixel
// shuffle's four phases: the correction must find the four shifts (the
// bias of conv3's four channels), leaving almost no error, and keep them;
// on its own outputs as targets it must keep the bias as it is.
func TestCorrectOutputBias(t *testing.T) {
	shift := []float32{0.01, -0.02, 0.005, 0.03} // by conv3 channel: phase (y%2)·2 + x%2
	for _, mode := range []quant.Mode{quant.Float, quant.A2QPlus} {
		q := quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: 16}
		if mode == quant.Float {
			q = quant.LayerConfig{Mode: quant.Float}
		}
		m, err := Build(Config{Model: "espcn", InC: 1, InH: 10, InW: 10, Scale: 2, Seed: 5, Hidden: q, First: DefaultEdge(mode), Last: DefaultEdge(mode)})
		if err != nil {
			t.Fatal(err)
		}
		xs := []*tensor.Tensor{input(4, 10, 10, 1), input(6, 10, 10, 1)}
		xs[1].Data = xs[1].Data[4*100:] // other images
		xs[1].Shape[0] = 2
		ctx := context.Background()
		var ys []*tensor.Tensor
		for _, x := range xs {
			if _, err := m.Infer(ctx, x, 1); err != nil { // calibrates
				t.Fatal(err)
			}
		}
		for _, x := range xs {
			y, err := m.Infer(ctx, x, 1)
			if err != nil {
				t.Fatal(err)
			}
			ys = append(ys, y)
		}
		bias := m.Layers[2].Bias.Value.Data
		before := append([]float32(nil), bias...)
		res, err := m.CorrectOutputBias(ctx, pairs(xs, ys), 1)
		if err != nil || res.Kept || res.Before != 0 || res.Layer != "conv3" {
			t.Fatalf("%s: on its own outputs: %+v, %v (want nothing kept)", mode, res, err)
		}
		for c := range bias {
			if bias[c] != before[c] {
				t.Fatalf("%s: on its own outputs the bias moved: %v, was %v", mode, bias, before)
			}
		}
		var shifted []*tensor.Tensor
		for _, y := range ys {
			s := tensor.New(y.Shape...)
			h, w := y.Shape[1], y.Shape[2]
			for i, v := range y.Data {
				yy, xx := i/w%h, i%w
				s.Data[i] = v + shift[(yy%2)*2+xx%2]
			}
			shifted = append(shifted, s)
		}
		res, err = m.CorrectOutputBias(ctx, pairs(xs, shifted), 2)
		if err != nil || !res.Kept || !(res.After < 1e-9) || !(res.Before > 1e-4) {
			t.Fatalf("%s: shifted targets: %+v, %v", mode, res, err)
		}
		for c := range bias {
			if d := bias[c] - before[c]; math.Abs(float64(d-shift[c])) > 1e-5 {
				t.Errorf("%s: channel %d moved by %v, want %v", mode, c, d, shift[c])
			}
		}
	}
}

// pairs yields xs[i] with ys[i] (nil when ys is nil), in order.
func pairs(xs, ys []*tensor.Tensor) iter.Seq2[*tensor.Tensor, *tensor.Tensor] {
	return func(yield func(x, y *tensor.Tensor) bool) {
		for i, x := range xs {
			var y *tensor.Tensor
			if ys != nil {
				y = ys[i]
			}
			if !yield(x, y) {
				return
			}
		}
	}
}
