package qonnx

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestGraphQuants finds the quantizer of the graph input and the Quant each
// layer's output reaches, on the Brevitas fixtures.
func TestGraphQuants(t *testing.T) {
	cases := []struct {
		file    string
		input   string            // Quant of the graph input ("" none)
		outputs map[string]string // layer → the Quant its output reaches
	}{
		{subpixelQuant, "", map[string]string{"Conv_5": "Quant_11", "Conv_17": "Quant_23", "Conv_29": "Quant_35", "Conv_41": "Quant_47"}},
		{resizeQuant, "Quant_4", map[string]string{"Conv_10": "Quant_16", "Conv_22": "Quant_28", "Conv_34": "Quant_40", "Conv_48": "Quant_53"}},
	}
	for _, tc := range cases {
		m := loadFixture(t, tc.file)
		got := ""
		if q := m.InputQuant(m.Graph.Inputs[0].Name); q != nil {
			got = q.Name
		}
		if got != tc.input {
			t.Errorf("%s: input Quant %q, want %q", tc.file, got, tc.input)
		}
		layers, err := m.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for i := range layers {
			q := m.OutputQuant(&layers[i])
			if q == nil || q.Name != tc.outputs[layers[i].Name] {
				t.Errorf("%s: layer %s reaches %v, want %s", tc.file, layers[i].Name, q, tc.outputs[layers[i].Name])
			}
		}
		if tc.input != "" {
			a, err := m.ActQuant(m.InputQuant(m.Graph.Inputs[0].Name))
			if err != nil || a.Bits != 8 || a.Signed || a.Scale <= 0 {
				t.Errorf("%s: input quantizer %+v, %v", tc.file, a, err)
			}
		}
	}
}

// TestOutputQuantConcat: in the export of the zoo's U-Net, a layer whose
// output reaches a skip concatenation alone is thresholded by the Quant
// after the concatenation (the input quantizer of the convolution reading
// it); one whose output also feeds a pooling branches, and has none.
func TestOutputQuantConcat(t *testing.T) {
	q := quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16}
	m, err := models.Build(models.Config{Model: "unet", InC: 1, InH: 8, InW: 8, Scale: 2, Seed: 1,
		Hidden: q, First: models.DefaultEdge(q.Mode), Last: models.DefaultEdge(q.Mode)})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*8*8)
	for i := range x {
		x[i] = float32(i%13) / 12
	}
	forward(m, x, 2, true) // calibrate
	back, _ := roundTrip(t, m, ExportOptions{})
	layers, err := back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Layer{}
	for i := range layers {
		byName[layers[i].Name] = &layers[i]
	}
	for _, c := range []struct{ layer, reader string }{
		{"dec1.upconv", "dec1.conv1"}, {"dec2.upconv", "dec2.conv1"}, {"enc2.conv1", "enc2.conv2"},
		{"enc1.conv2", ""}, {"head", ""},
	} {
		l := byName[c.layer]
		if l == nil {
			t.Fatalf("no layer %s in the export", c.layer)
		}
		got := back.OutputQuant(l)
		switch {
		case c.reader == "" && got != nil:
			t.Errorf("%s reaches %s, want none", c.layer, got.Name)
		case c.reader != "" && (got == nil || got != byName[c.reader].InputQuant):
			t.Errorf("%s reaches %v, want the input quantizer of %s", c.layer, got, c.reader)
		}
	}
}

// TestVerifyFixtures runs the ESPCN fixtures through Verify on small random
// images: no overflow at each layer's exact width, integer and
// fake-quantized runs one step apart at most on the same inputs; at
// P = 12 for every layer the last layer (P_exact = 17) overflows.
func TestVerifyFixtures(t *testing.T) {
	size := 24
	if testing.Short() {
		size = 12
	}
	for _, file := range []string{subpixelQuant, resizeQuant} {
		t.Run(file, func(t *testing.T) {
			m := loadFixture(t, file)
			r, err := Inspect(m, 0)
			if err != nil {
				t.Fatal(err)
			}
			exact := make(map[string]int)
			for _, c := range r.Layers {
				exact[c.Name] = c.AccBitsExact
			}
			rng := rand.New(rand.NewPCG(11, 3))
			var inputs []map[string]*Tensor
			for range 3 {
				x := make([]float32, 3*size*size)
				for i := range x {
					x[i] = float32(rng.IntN(256)) / 255
				}
				inputs = append(inputs, map[string]*Tensor{m.Graph.Inputs[0].Name: NewFloat(x, 1, 3, size, size)})
			}
			v, err := m.Verify(context.Background(), inputs, VerifyOptions{LayerAccBits: exact, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if v.Inputs != 3 || len(v.Layers) != len(r.Layers) || v.Overflows != 0 || !v.WithinTies || v.IsolatedMaxDiffSteps > 1.001 {
				t.Errorf("at the exact widths: %+v", v)
			}
			for _, l := range v.Layers {
				if l.AccBits != exact[l.Name] || l.Outputs == 0 || l.ActivationValues == 0 || l.OutputQuant == "" || l.TieValues == 0 {
					t.Errorf("layer %+v", l)
				}
				if l.AccMinSeen < -(1<<(l.AccBits-1)) || l.AccMaxSeen >= 1<<(l.AccBits-1) {
					t.Errorf("%s: partial sums [%d, %d] outside %d bits with no overflow counted", l.Name, l.AccMinSeen, l.AccMaxSeen, l.AccBits)
				}
			}
			if len(v.Outputs) != 1 || v.Outputs[0].Quant == "" || v.Outputs[0].Values != int64(3*3*4*size*size) {
				t.Errorf("outputs %+v", v.Outputs)
			}
			t.Logf("%d of %d quantized activations differ (up to %.3g steps); on the same inputs %d (up to %.3g)",
				v.Differ, v.QuantizedValues, v.MaxDiffSteps, v.IsolatedDiffer, v.IsolatedMaxDiffSteps)

			narrow, err := m.Verify(context.Background(), inputs[:1], VerifyOptions{AccBits: 12})
			if err != nil {
				t.Fatal(err)
			}
			last := narrow.Layers[len(narrow.Layers)-1]
			if last.AccBits != 12 || last.Overflows == 0 || last.OverflowedOutputs == 0 || narrow.Overflows < last.Overflows {
				t.Errorf("at P = 12: %+v", narrow.Layers)
			}
		})
	}
}

// TestVerifyErrors: no input, and an input of the wrong rank, are errors.
func TestVerifyErrors(t *testing.T) {
	m := loadFixture(t, subpixelQuant)
	if _, err := m.Verify(context.Background(), nil, VerifyOptions{}); err == nil {
		t.Error("no inputs: no error")
	}
	bad := []map[string]*Tensor{{m.Graph.Inputs[0].Name: NewFloat(make([]float32, 12), 3, 4)}}
	if _, err := m.Verify(context.Background(), bad, VerifyOptions{Threads: 2}); err == nil {
		t.Error("wrong rank: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok := []map[string]*Tensor{{m.Graph.Inputs[0].Name: NewFloat(make([]float32, 3*8*8), 1, 3, 8, 8)}}
	if _, err := m.Verify(ctx, ok, VerifyOptions{}); err == nil {
		t.Error("cancelled: no error")
	}
}
