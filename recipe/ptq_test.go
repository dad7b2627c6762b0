package recipe

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestQuantize rounds a float CNN's hidden layer with each method and
// quantizer: the layer's integers are certified at P, and the float
// model's checkpoint is refused as a quantized one. Methods not
// implemented yet are skipped.
func TestQuantize(t *testing.T) {
	tr, te, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	fm, err := models.Build(FloatConfig(models.Config{Model: "cnn", InC: tr.C, InH: tr.H, InW: tr.W, Classes: tr.Classes, Seed: 2}))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := fm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []ptq.Method{ptq.RTN, ptq.GPTQ, ptq.GPFQ} {
		for _, mode := range []quant.Mode{quant.A2Q, quant.A2QPlus} {
			h := quant.LayerConfig{Mode: mode, WeightBits: 6, ActBits: 6, AccBits: 14}
			o := PTQOptions{Float: fc, Hidden: h, First: models.DefaultEdge(mode), Last: models.DefaultEdge(mode),
				Method: method, Calib: tr, CalibSize: 64, Test: te.Spread(100), Threads: 2}
			res, err := Quantize(context.Background(), o)
			if err != nil && method != ptq.RTN && strings.Contains(err.Error(), "not implemented") {
				continue
			}
			if err != nil {
				t.Fatalf("%s %s: %v", method, mode, err)
			}
			if !slices.Equal(res.Quantized, []string{"conv2"}) || !res.Report.Certified {
				t.Errorf("%s %s: quantized %v, certified %v", method, mode, res.Quantized, res.Report.Certified)
			}
			if res.Score <= 0 || res.FloatScore <= 0 {
				t.Errorf("%s %s: scores %v, float %v", method, mode, res.Score, res.FloatScore)
			}
			// The result is quantized: it cannot start another run.
			qc, err := res.Model.Checkpoint(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			o.Float = qc
			var se *SetupError
			if _, err := Quantize(context.Background(), o); !errors.As(err, &se) || se.Field != "Float" {
				t.Errorf("%s %s: quantizing a quantized model: %v, want a SetupError for Float", method, mode, err)
			}
		}
	}
}

// TestQuantizeCalibShape refuses calibration data the model cannot take.
func TestQuantizeCalibShape(t *testing.T) {
	fm, err := models.Build(FloatConfig(models.Config{Model: "cnn", InC: 3, InH: 32, InW: 32, Classes: 10, Seed: 2}))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := fm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	h := quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16}
	_, err = Quantize(context.Background(), PTQOptions{Float: fc, Hidden: h, First: models.DefaultEdge(h.Mode), Last: models.DefaultEdge(h.Mode),
		Method: ptq.RTN, Calib: tr})
	var se *SetupError
	if !errors.As(err, &se) || se.Field != "Calib" {
		t.Errorf("got %v, want a SetupError for Calib", err)
	}
}
