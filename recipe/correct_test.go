package recipe

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

// TestCorrectionFit: the fit recovers an affine map, keeps the gain of a
// constant or anti-correlated channel, and clamps the gain.
func TestCorrectionFit(t *testing.T) {
	const c = 4
	k := newCorrection(c)
	var z, y []float32
	for i := range 50 {
		v := float32(i%7) - 3
		z = append(z, v, 2, v, v)
		y = append(y, 2.5*v+0.3, float32(i%3), -v+1, 1000*v)
	}
	k.add(z, y)
	k.fit()
	mean := func(v []float32, ch int) float64 {
		var s float64
		for i := ch; i < len(v); i += c {
			s += float64(v[i])
		}
		return s / float64(len(v)/c)
	}
	for _, tt := range []struct {
		ch   int
		gain float64
	}{
		{0, 2.5},               // affine: y = 2.5 z + 0.3
		{1, 1},                 // constant z: offset only
		{2, 1},                 // anti-correlated: gain kept
		{3, maxCorrectionGain}, // clamped gain
	} {
		offset := mean(y, tt.ch) - tt.gain*mean(z, tt.ch)
		if math.Abs(k.gain[tt.ch]-tt.gain) > 1e-6 || math.Abs(k.offset[tt.ch]-offset) > 1e-4 {
			t.Errorf("channel %d: gain %v offset %v, want %v %v", tt.ch, k.gain[tt.ch], k.offset[tt.ch], tt.gain, offset)
		}
	}
}

// TestCorrectOutputs rounds a float ResNet's hidden layers with GPTQ at a
// tight P without the correction, then corrects convolutions whose only
// reader is a batch norm (no bias: the offset goes into the norm's running
// mean): the integers stay as they were, and the norm's output comes
// closer to the float model's on the calibration data. The last layer,
// which no norm reads, is left alone.
func TestCorrectOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes a ResNet")
	}
	tr, _, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	fcfg := FloatConfig(models.Config{Model: "resnet", InC: tr.C, InH: tr.H, InW: tr.W, Classes: tr.Classes, Seed: 4})
	fm, err := models.Build(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := fm.Checkpoint(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := quant.LayerConfig{Mode: quant.A2Q, WeightBits: 6, ActBits: 6, AccBits: 12}
	calib := tr.Spread(128)
	res, err := Quantize(context.Background(), PTQOptions{Float: fc, Hidden: h, First: models.DefaultEdge(h.Mode), Last: models.DefaultEdge(h.Mode),
		Method: ptq.GPTQ, Calib: calib, CalibSize: 128, Threads: 2, NoCorrection: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	if fm, err = models.FromCheckpoint(fc); err != nil {
		t.Fatal(err)
	}
	x := train.FirstInputs(calib, calib.N)
	tested := 0
	for i, l := range m.Layers {
		bn := m.NormAfter(l)
		if !m.Hidden(i) || bn == nil || l.Bias != nil {
			continue
		}
		fbn := fm.NormAfter(fm.Layers[i])
		before := normError(t, m, fm, i, bn, fbn, x)
		q0, _ := l.W.IntegerWeights()
		changed, err := correctOutputs(context.Background(), m, fm, i, x, 2)
		if err != nil || !changed {
			t.Fatalf("layer %s: changed %v, %v", l.Name, changed, err)
		}
		q1, _ := l.W.IntegerWeights()
		if !slices.Equal(q0, q1) {
			t.Errorf("layer %s: the correction changed the integer weights", l.Name)
		}
		after := normError(t, m, fm, i, bn, fbn, x)
		t.Logf("layer %s: batch-norm output error %.4g → %.4g", l.Name, before, after)
		if !(after < before) {
			t.Errorf("layer %s: batch-norm output error %.4g → %.4g, want it smaller", l.Name, before, after)
		}
		tested++
		if tested == 2 {
			break
		}
	}
	if tested == 0 {
		t.Fatal("no hidden convolution read by a batch norm alone")
	}
	// A layer no batch norm reads is left as GPTQ rounded it.
	last := len(m.Layers) - 1
	if m.NormAfter(m.Layers[last]) != nil {
		t.Fatalf("layer %s: read by a batch norm", m.Layers[last].Name)
	}
	if changed, err := correctOutputs(context.Background(), m, fm, last, x, 2); changed || err != nil {
		t.Errorf("layer %s, no batch norm after it: changed %v, %v", m.Layers[last].Name, changed, err)
	}
}

// normError returns Σ (BN(y) − BN_float(y_float))² over the calibration
// inputs x, y being layer i's output in m and y_float in fm.
func normError(t *testing.T, m, fm *models.Model, i int, bn, fbn *nn.BatchNorm, x *tensor.Tensor) float64 {
	t.Helper()
	l, fl := m.Layers[i], fm.Layers[i]
	var qx, fx *tensor.Tensor
	l.Observe = func(v *tensor.Tensor) { qx = v.Clone() }
	fl.Observe = func(v *tensor.Tensor) { fx = v.Clone() }
	defer func() { l.Observe, fl.Observe = nil, nil }()
	tp := autodiff.NewTape(2)
	m.Forward(tp, tp.Constant(x), false)
	fm.Forward(tp, tp.Constant(x), false)
	y, yf := layerOutput(tp, l, qx), layerOutput(tp, fl, fx)
	norm := func(b *nn.BatchNorm, v float32, c int) float64 {
		return float64(b.Gamma.Value.Data[c])*(float64(v)-float64(b.RunMean.Value.Data[c]))/
			math.Sqrt(float64(b.RunVar.Value.Data[c])+float64(b.Eps)) + float64(b.Beta.Value.Data[c])
	}
	var e float64
	for j := range y {
		c := j % l.OutC
		d := norm(bn, y[j], c) - norm(fbn, yf[j], c)
		e += d * d
	}
	return e
}
