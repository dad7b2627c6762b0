package intinfer

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/train"
)

// tinySpec describes a hand-built integer model: conv k×k cin→cout on an
// h×w image (padding pad), max pool 2, ReLU, flatten, linear → classes.
type tinySpec struct {
	h, w, cin, cout, k, pad, classes int
	inSigned                         bool // the conv's input (the image) is signed
	hiddenSigned                     bool // the linear layer's input is signed
	l1                               int  // per-channel bound on q⁺ and q⁻ of the conv
}

// tinyModel builds a random integer model from spec with thresholds from
// Thresholds, so that it is valid by construction.
func tinyModel(rng *rand.Rand, sp tinySpec) *Model {
	conv := &Layer{Name: "conv", Kind: "conv", InC: sp.cin, OutC: sp.cout, KH: sp.k, KW: sp.k, Stride: 1, Pad: sp.pad, Groups: 1,
		K: sp.k * sp.k * sp.cin, WeightBits: 8, InputBits: 8, InputSigned: sp.inSigned, InputScale: 1.0 / 255, AccBits: 16}
	conv.Weights = randWeights(rng, sp.cout, conv.K, sp.l1)
	oh, ow := (sp.h+2*sp.pad-sp.k)/1+1, (sp.w+2*sp.pad-sp.k)/1+1
	fin := (oh / 2) * (ow / 2) * sp.cout
	fc := &Layer{Name: "fc", Kind: "linear", InC: fin, OutC: sp.classes, KH: 1, KW: 1, Stride: 1, Groups: 1, K: fin,
		WeightBits: 8, InputBits: 8, InputSigned: sp.hiddenSigned, InputScale: 0.05, AccBits: 32}
	fc.Weights = randWeights(rng, sp.classes, fin, 1<<30)
	for _, l := range []*Layer{conv, fc} {
		l.Scale = make([]float32, l.OutC)
		l.Bias = make([]float32, l.OutC)
		for c := range l.Scale {
			l.Scale[c] = float32(1e-4 * (0.5 + rng.Float64()))
			l.Bias[c] = float32(rng.NormFloat64() * 0.3)
		}
	}
	conv.OutBits, conv.OutSigned = fc.InputBits, fc.InputSigned
	lo, hi := levels(fc.InputBits, fc.InputSigned)
	n := int(hi - lo)
	conv.Thresholds = make([]int64, sp.cout*n)
	for c := 0; c < sp.cout; c++ {
		Thresholds(conv.Scale[c], conv.Bias[c], fc.InputScale, lo, hi, conv.Thresholds[c*n:(c+1)*n])
	}
	return &Model{Name: "tiny", Task: "classify", InH: sp.h, InW: sp.w, InC: sp.cin, Ops: []Op{
		{Kind: OpLayer, Layer: conv}, {Kind: OpMaxPool, K: 2}, {Kind: OpReLU}, {Kind: OpFlatten}, {Kind: OpLayer, Layer: fc}}}
}

// randWeights draws n rows of k weights in [−127, 127] whose positive and
// negative sums stay within l1 each.
func randWeights(rng *rand.Rand, n, k, l1 int) []int32 {
	w := make([]int32, n*k)
	for j := 0; j < n; j++ {
		pos, neg := l1, l1
		for _, i := range rng.Perm(k) {
			if rng.IntN(3) == 0 {
				continue // sparse, like A2Q weights
			}
			v := rng.IntN(40)
			if rng.IntN(2) == 0 {
				v = min(v, pos)
				pos -= v
				w[j*k+i] = int32(v)
			} else {
				v = min(v, neg)
				neg -= v
				w[j*k+i] = -int32(v)
			}
		}
	}
	return w
}

// randImages returns n NHWC images with values in [lo, hi].
func randImages(rng *rand.Rand, n int, m *Model, lo, hi float64) []float32 {
	x := make([]float32, n*m.InH*m.InW*m.InC)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return x
}

// trainedModels are the fixtures of the end-to-end tests: a float CNN
// trained briefly on the embedded Fashion-MNIST, and A2Q+ and baseline
// models at P = 16 initialised from it and fine-tuned briefly.
type trainedModels struct {
	a2qPlus, baseline *models.Model
	test              *data.Set
	err               error
}

var (
	fixtureOnce sync.Once
	fixture     trainedModels
)

func cnnModel(mode quant.Mode, p int) (*models.Model, error) {
	return models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 3,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: 8, ActBits: 8, AccBits: p},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)})
}

func trained(t *testing.T) trainedModels {
	t.Helper()
	fixtureOnce.Do(func() { fixture = buildFixture(t.TempDir()) })
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture
}

func buildFixture(dir string) trainedModels {
	ctx := context.Background()
	tr, te, err := data.Default()
	if err != nil {
		return trainedModels{err: err}
	}
	trainSet, _ := tr.Split(2000)
	testSet, _ := te.Split(500)
	f, err := cnnModel(quant.Float, 0)
	if err != nil {
		return trainedModels{err: err}
	}
	ft, err := train.New(f, train.Options{Epochs: 1, Batch: 64, LR: 2e-3, Threads: 2, Seed: 1, Dir: dir})
	if err != nil {
		return trainedModels{err: err}
	}
	if err := ft.Run(ctx, trainSet, nil); err != nil {
		return trainedModels{err: err}
	}
	floatPath := filepath.Join(dir, "model.ckpt")
	out := trainedModels{test: testSet}
	for _, mode := range []quant.Mode{quant.A2QPlus, quant.Baseline} {
		m, err := cnnModel(mode, 16)
		if err != nil {
			return trainedModels{err: err}
		}
		if err := models.InitFromFloat(m, floatPath); err != nil {
			return trainedModels{err: err}
		}
		qt, err := train.New(m, train.Options{Epochs: 1, Batch: 64, LR: 1e-3, Threads: 2, Seed: 2})
		if err != nil {
			return trainedModels{err: err}
		}
		if err := qt.Run(ctx, trainSet, nil); err != nil {
			return trainedModels{err: err}
		}
		if mode == quant.A2QPlus {
			out.a2qPlus = m
		} else {
			out.baseline = m
		}
	}
	return out
}

// calibrated builds a model of the given quantizer at P with random weights
// (projection init) and calibrates its activation quantizers on random
// images.
func calibrated(t testing.TB, mode quant.Mode, p int) *models.Model {
	t.Helper()
	m, err := cnnModel(mode, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 16*28*28)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, 16, 28, 28, 1)), false)
	return m
}

// calibrate runs m once on the images of s (evaluation mode), which sets
// the scales of its uncalibrated activation quantizers.
func calibrate(m *models.Model, s *data.Set) {
	x := make([]float32, s.N*s.Size())
	tensor.NCHWToNHWC(x, s.X, s.N, s.C, s.H, s.W)
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, s.N, s.H, s.W, s.C)), false)
}

// thresholdCase is a random layer requantisation for the threshold
// searches: cout rows of ts thresholds clamped to the accumulator range
// [lo, hi] (each row ending in an unreachable one), their guesses, and
// accumulators drawn from that range.
type thresholdCase struct {
	ts, cout int
	lo, hi   int32
	thr      []int32
	guess    []thrGuess
	acc      []int32
}

// randThresholds draws a thresholdCase. regular thresholds step like a
// linear map's rounded levels; others step irregularly, with repeats.
// last is the value of each channel's unreachable final threshold.
func randThresholds(rng *rand.Rand, regular bool, last func(hi int32) int32) thresholdCase {
	bits := 1 + rng.IntN(8)
	ts := 1 << bits
	lo, hi := int32(-5000-rng.IntN(5000)), int32(5000+rng.IntN(5000))
	tc := thresholdCase{ts: ts, cout: 1 + rng.IntN(5), lo: lo, hi: hi}
	tc.thr = make([]int32, tc.cout*ts)
	tc.guess = make([]thrGuess, tc.cout)
	for c := 0; c < tc.cout; c++ {
		row := tc.thr[c*ts : (c+1)*ts]
		v := lo - 1 + int32(rng.IntN(3000))
		step := 1 + rng.IntN(60)
		for i := range row[:ts-1] {
			if regular {
				v += int32(step/2 + rng.IntN(2))
			} else {
				v += int32(rng.IntN(step))
			}
			row[i] = min(max(v, lo), hi+1)
		}
		row[ts-1] = last(hi)
		tc.guess[c] = fitGuess(row[:ts-1], lo, hi+1)
	}
	tc.acc = make([]int32, tc.cout*50)
	for i := range tc.acc {
		tc.acc[i] = lo + int32(rng.IntN(int(hi-lo+1)))
	}
	return tc
}

// count is lo plus the number of channel c's thresholds at most v.
func (tc *thresholdCase) count(c int, v, lo int32) int32 {
	for _, tv := range tc.thr[c*tc.ts : (c+1)*tc.ts] {
		if v >= tv {
			lo++
		}
	}
	return lo
}
