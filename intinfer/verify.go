package intinfer

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Batch is the number of images per forward pass (default 256).
	Batch int
	// Limit caps the number of images (0: the whole set).
	Limit int
	// Threads for the fake-quantized float model (≤ 1: one).
	Threads int
}

// LayerCheck is one layer's outcome in a Verification.
type LayerCheck struct {
	LayerInfo
	// Overflows counts the additions that left the layer's P-bit range
	// (its inner range, for a tiled layer).
	Overflows int64 `json:"overflows"`
	// OuterOverflows, for a tiled layer only, counts the additions of tile
	// sums that left its outer range.
	OuterOverflows *int64 `json:"outer_overflows,omitempty"`
	// Mismatches counts the layer's integer inputs that differ from the
	// fake-quantized model's, out of Values.
	Mismatches int64 `json:"activation_mismatches"`
	Values     int64 `json:"activation_values"`
}

// Verification compares integer inference with the fake-quantized float
// model on a data set.
type Verification struct {
	Images int          `json:"images"`
	Mode   string       `json:"mode"`
	Layers []LayerCheck `json:"integer_layers"`
	// Overflows is the total over the layers and, for tiled layers, both
	// stages.
	Overflows int64 `json:"overflows"`
	// IntegerMatchesFakeQuant reports that every layer's integer input
	// equals the fake-quantized model's, bit for bit, on every image.
	IntegerMatchesFakeQuant bool `json:"integer_matches_fake_quant"`
	// OutputsEqual reports that the float outputs (logits or images) are
	// identical; MaxOutputDiff is the largest absolute difference.
	OutputsEqual  bool    `json:"outputs_equal"`
	MaxOutputDiff float64 `json:"max_output_diff"`
	// SamePredictions counts the images whose predicted class is the same
	// in both models (classification only).
	SamePredictions int `json:"same_predictions"`
	// IntegerScore and FakeQuantScore are the test accuracy
	// (classification) or mean PSNR in dB (super-resolution) of the two
	// models.
	IntegerScore   float64 `json:"integer_score"`
	FakeQuantScore float64 `json:"fake_quant_score"`
}

// Verify runs the fake-quantized model m (in evaluation mode, layer by layer,
// capturing each quantized layer's integer input) and the engine e (built
// from FromModel(m)) on the examples of s, and compares them.
func Verify(ctx context.Context, m *models.Model, e *Engine, s *data.Set, o VerifyOptions) (*Verification, error) {
	total, batch, err := fit(e.Model(), s, o)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	sr := m.Task == models.SuperResolve
	v := &Verification{Mode: e.o.Mode.String(), IntegerMatchesFakeQuant: true, OutputsEqual: true}
	for _, info := range e.Layers() {
		v.Layers = append(v.Layers, LayerCheck{LayerInfo: info, OuterOverflows: outerCount(info)})
	}
	tp := autodiff.NewTape(max(o.Threads, 1))
	size := s.Size()
	var intScore, fqScore float64
	var y []float32 // scratch for super-resolution targets
	for start := 0; start < total; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, total-start)
		x := make([]float32, n*size)
		tensor.NCHWToNHWC(x, s.X[start*size:(start+n)*size], n, s.C, s.H, s.W)
		ins, fq := fakeQuant(tp, m, x, n, s)
		res := e.Run(x, n, true)
		if len(ins) != len(res.Inputs) {
			tp.Reset()
			return nil, fmt.Errorf("verify: the float model has %d quantized layers, the integer model %d", len(ins), len(res.Inputs))
		}
		for i, a := range ins {
			lc := &v.Layers[i]
			lc.Overflows += res.Overflows[i]
			addOuter(lc.OuterOverflows, res.OuterOverflows[i])
			b := res.Inputs[i]
			lc.Values += int64(len(a))
			if len(a) != len(b) {
				lc.Mismatches += int64(len(a))
				continue
			}
			for j, f := range a {
				if f != float32(b[j]) {
					lc.Mismatches++
				}
			}
		}
		if len(fq) != len(res.Out) {
			tp.Reset()
			return nil, fmt.Errorf("verify: the float model gives %d outputs, the integer model %d", len(fq), len(res.Out))
		}
		for j, f := range fq {
			d := math.Abs(float64(f) - float64(res.Out[j]))
			if f != res.Out[j] {
				v.OutputsEqual = false
			}
			if d > v.MaxOutputDiff || math.IsNaN(d) {
				v.MaxOutputDiff = d
			}
		}
		per := len(fq) / n
		for i := 0; i < n; i++ {
			a, b := fq[i*per:(i+1)*per], res.Out[i*per:(i+1)*per]
			y = slices.Grow(y[:0], per)
			fqScore += score(sr, a, s, start+i, y)
			intScore += score(sr, b, s, start+i, y)
			if !sr && metrics.Argmax(a) == metrics.Argmax(b) {
				v.SamePredictions++
			}
		}
		tp.Reset()
	}
	v.Images = total
	v.IntegerScore, v.FakeQuantScore = intScore/float64(total), fqScore/float64(total)
	for _, lc := range v.Layers {
		v.Overflows += lc.Overflows + stageCount(lc.OuterOverflows)
		if lc.Mismatches > 0 {
			v.IntegerMatchesFakeQuant = false
		}
	}
	return v, nil
}

// outerCount returns a zero outer overflow count for a tiled layer, nil
// for the others.
func outerCount(info LayerInfo) *int64 {
	if info.Tile > 0 {
		return new(int64)
	}
	return nil
}

// addOuter adds n to the outer overflow count c of a tiled layer; an
// untiled layer (c nil) has no outer stage, and n is then 0.
func addOuter(c *int64, n int64) {
	if c != nil {
		*c += n
	}
}

// stageCount is an outer overflow count, 0 for an untiled layer.
func stageCount(c *int64) int64 {
	if c == nil {
		return 0
	}
	return *c
}

// fit checks that s suits the integer model im (image shape, labels or
// targets for its task, not empty) and returns how many of its examples to
// run (at most o.Limit) and the batch size.
func fit(im *Model, s *data.Set, o VerifyOptions) (total, batch int, err error) {
	if s.C != im.InC || s.H != im.InH || s.W != im.InW {
		return 0, 0, fmt.Errorf("data set %s has %d×%d×%d images, the model takes %d×%d×%d", s.Name, s.C, s.H, s.W, im.InC, im.InH, im.InW)
	}
	sr := im.Task == TaskSuperResolve
	if sr && s.Y == nil || !sr && s.Labels == nil {
		return 0, 0, fmt.Errorf("data set %s does not fit a %s model", s.Name, im.Task)
	}
	total = s.N
	if o.Limit > 0 {
		total = min(total, o.Limit)
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("data set %s is empty", s.Name)
	}
	batch = o.Batch
	if batch < 1 {
		batch = 256
	}
	return total, batch, nil
}

// score is example i's score for the output out: 1 for a correct class
// and 0 otherwise (classification), its PSNR in dB (super-resolution, with
// y scratch for the target, at least len(out) values).
func score(sr bool, out []float32, s *data.Set, i int, y []float32) float64 {
	if sr {
		y = y[:len(out)]
		tensor.NCHWToNHWC(y, s.Target(i), 1, s.TC, s.TH, s.TW)
		return metrics.ImagePSNR(out, y)
	}
	if metrics.Argmax(out) == s.Labels[i] {
		return 1
	}
	return 0
}

// LayerRun is how one layer ran in an Evaluation.
type LayerRun struct {
	LayerInfo
	// Overflows counts the additions that left the layer's P-bit range
	// (its inner range, for a tiled layer).
	Overflows int64 `json:"overflows"`
	// OuterOverflows, for a tiled layer only, counts the additions of tile
	// sums that left its outer range.
	OuterOverflows *int64 `json:"outer_overflows,omitempty"`
}

// Evaluation is the outcome of running an integer model alone on a data set.
type Evaluation struct {
	Images int        `json:"images"`
	Mode   string     `json:"mode"`
	Layers []LayerRun `json:"integer_layers"`
	// Overflows is the total over the layers and, for tiled layers, both
	// stages.
	Overflows int64 `json:"overflows"`
	// Score is the test accuracy (classification) or the mean PSNR in dB
	// (super-resolution).
	Score float64 `json:"score"`
}

// Evaluate runs the engine on the examples of s (at most o.Limit, in
// batches of o.Batch) and scores its outputs: what an integer model file
// does without the model it was made from.
func Evaluate(ctx context.Context, e *Engine, s *data.Set, o VerifyOptions) (*Evaluation, error) {
	total, batch, err := fit(e.Model(), s, o)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	sr := e.Model().Task == TaskSuperResolve
	ev := &Evaluation{Images: total, Mode: e.o.Mode.String()}
	for _, info := range e.Layers() {
		ev.Layers = append(ev.Layers, LayerRun{LayerInfo: info, OuterOverflows: outerCount(info)})
	}
	size := s.Size()
	x := make([]float32, batch*size)
	var sum float64
	var y []float32 // scratch for super-resolution targets
	for start := 0; start < total; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, total-start)
		tensor.NCHWToNHWC(x[:n*size], s.X[start*size:(start+n)*size], n, s.C, s.H, s.W)
		res := e.Run(x[:n*size], n, false)
		for i, ov := range res.Overflows {
			ev.Layers[i].Overflows += ov
			addOuter(ev.Layers[i].OuterOverflows, res.OuterOverflows[i])
			ev.Overflows += ov + res.OuterOverflows[i]
		}
		per := len(res.Out) / n
		for i := 0; i < n; i++ {
			y = slices.Grow(y[:0], per)
			sum += score(sr, res.Out[i*per:(i+1)*per], s, start+i, y)
		}
	}
	ev.Score = sum / float64(total)
	return ev, nil
}

// fakeQuant runs m on x (n NHWC images) with train = false and returns
// each quantized layer's integer input, as its input quantizer computes it
// from the input the layer observes, and the output.
func fakeQuant(tp *autodiff.Tape, m *models.Model, x []float32, n int, s *data.Set) ([][]float32, []float32) {
	ins := make([][]float32, len(m.Layers))
	for i, l := range m.Layers {
		if l.In == nil {
			continue
		}
		lo, hi := l.In.Range()
		scale := l.In.Scale()
		l.Observe = func(x *tensor.Tensor) {
			q := make([]float32, x.Len())
			for j, f := range x.Data {
				q[j] = thresh.Quantize(f, scale, lo, hi)
			}
			ins[i] = q
		}
	}
	defer func() {
		for _, l := range m.Layers {
			l.Observe = nil
		}
	}()
	out := m.Forward(tp, tp.Constant(tensor.FromData(x, n, s.H, s.W, s.C)), false)
	return ins, out.Value.Data
}
