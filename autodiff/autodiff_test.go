package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/gemm"
	"github.com/a2qtoolkit/a2q/tensor"
)

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// weighted reduces any output to a scalar with fixed random weights, so
// every output element's gradient path is exercised.
func weighted(tp *Tape, y *Var, seed uint64) *Var {
	rng := rand.New(rand.NewPCG(seed, 7))
	w := randTensor(rng, y.Value.Len())
	out := tp.NewValue(1)
	for i, v := range y.Value.Data {
		out.Data[0] += v * w.Data[i]
	}
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		for i := range g[0].Data {
			g[0].Data[i] += d.Data[0] * w.Data[i]
		}
	}, y)
}

func TestGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		inputs []*tensor.Tensor
		f      func(tp *Tape, v []*Var) *Var
	}{
		{"linear", []*tensor.Tensor{randTensor(rng, 5, 7), randTensor(rng, 3, 7), randTensor(rng, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.Linear(v[0], v[1], v[2]) }},
		{"linear-nobias", []*tensor.Tensor{randTensor(rng, 4, 6), randTensor(rng, 5, 6)},
			func(tp *Tape, v []*Var) *Var { return tp.Linear(v[0], v[1], nil) }},
		{"conv3x3", []*tensor.Tensor{randTensor(rng, 2, 6, 5, 3), randTensor(rng, 4, 3, 3, 3), randTensor(rng, 4)},
			func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], v[2], ConvOptions{}) }},
		{"conv-stride-pad", []*tensor.Tensor{randTensor(rng, 2, 7, 6, 2), randTensor(rng, 3, 3, 2, 2), randTensor(rng, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], v[2], ConvOptions{Stride: 2, Pad: 1}) }},
		{"conv-poolcrop", []*tensor.Tensor{randTensor(rng, 2, 7, 8, 3), randTensor(rng, 4, 3, 3, 3), randTensor(rng, 4)},
			func(tp *Tape, v []*Var) *Var {
				y := tp.Conv2d(v[0], v[1], v[2], ConvOptions{PoolK: 2})
				if s := y.Shape(); s[1] != 4 || s[2] != 6 {
					panic(fmt.Sprintf("cropped output %v, want 2×4×6×4", s))
				}
				return y
			}},
		{"conv-groups", []*tensor.Tensor{randTensor(rng, 2, 5, 5, 4), randTensor(rng, 6, 3, 3, 2)},
			func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], nil, ConvOptions{Pad: 1, Groups: 2}) }},
		{"conv-depthwise", []*tensor.Tensor{randTensor(rng, 2, 5, 5, 3), randTensor(rng, 3, 3, 3, 1)},
			func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], nil, ConvOptions{Pad: 1, Groups: 3}) }},
		{"conv-depthwise-stride", []*tensor.Tensor{randTensor(rng, 2, 6, 5, 4), randTensor(rng, 4, 3, 3, 1), randTensor(rng, 4)},
			func(tp *Tape, v []*Var) *Var {
				return tp.Conv2d(v[0], v[1], v[2], ConvOptions{Stride: 2, Pad: 1, Groups: 4})
			}},
		{"conv1x1", []*tensor.Tensor{randTensor(rng, 2, 3, 3, 4), randTensor(rng, 5, 1, 1, 4), randTensor(rng, 5)},
			func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], v[2], ConvOptions{}) }},
		{"relu", []*tensor.Tensor{randTensor(rng, 3, 8)},
			func(tp *Tape, v []*Var) *Var { return tp.ReLU(v[0]) }},
		{"maxpool", []*tensor.Tensor{randTensor(rng, 2, 4, 6, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.MaxPool(v[0], 2, 2) }},
		{"maxpool-overlap", []*tensor.Tensor{randTensor(rng, 1, 5, 5, 2)},
			func(tp *Tape, v []*Var) *Var { return tp.MaxPool(v[0], 3, 1) }},
		{"avgpool", []*tensor.Tensor{randTensor(rng, 2, 4, 4, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.AvgPool(v[0], 2, 2) }},
		{"globalavgpool", []*tensor.Tensor{randTensor(rng, 2, 3, 4, 5)},
			func(tp *Tape, v []*Var) *Var { return tp.GlobalAvgPool(v[0]) }},
		{"batchnorm-train", []*tensor.Tensor{randTensor(rng, 4, 3, 3, 5), randTensor(rng, 5), randTensor(rng, 5)},
			func(tp *Tape, v []*Var) *Var {
				st := &BatchNormState{Mean: tensor.New(5), Var: tensor.New(5), Momentum: 0.1, Eps: 1e-5}
				return tp.BatchNorm(v[0], v[1], v[2], st, true)
			}},
		{"batchnorm-eval", []*tensor.Tensor{randTensor(rng, 6, 4), randTensor(rng, 4), randTensor(rng, 4)},
			func(tp *Tape, v []*Var) *Var {
				st := &BatchNormState{Mean: tensor.FromData([]float32{0.1, -0.2, 0.3, 0}, 4),
					Var: tensor.FromData([]float32{1, 2, 0.5, 1.5}, 4), Momentum: 0.1, Eps: 1e-5}
				return tp.BatchNorm(v[0], v[1], v[2], st, false)
			}},
		{"add", []*tensor.Tensor{randTensor(rng, 3, 4), randTensor(rng, 3, 4)},
			func(tp *Tape, v []*Var) *Var { return tp.Add(v[0], v[1]) }},
		{"residual", []*tensor.Tensor{randTensor(rng, 1, 4, 4, 3), randTensor(rng, 3, 3, 3, 3)},
			func(tp *Tape, v []*Var) *Var {
				return tp.Add(v[0], tp.ReLU(tp.Conv2d(v[0], v[1], nil, ConvOptions{Pad: 1})))
			}},
		{"reshape", []*tensor.Tensor{randTensor(rng, 2, 3, 4)},
			func(tp *Tape, v []*Var) *Var { return tp.Flatten(v[0]) }},
		{"pixelshuffle", []*tensor.Tensor{randTensor(rng, 2, 3, 2, 8)},
			func(tp *Tape, v []*Var) *Var { return tp.PixelShuffle(v[0], 2) }},
		{"concat", []*tensor.Tensor{randTensor(rng, 2, 2, 3), randTensor(rng, 2, 2, 1)},
			func(tp *Tape, v []*Var) *Var { return tp.Concat(v[0], v[1]) }},
		{"scale", []*tensor.Tensor{randTensor(rng, 5)},
			func(tp *Tape, v []*Var) *Var { return tp.Scale(v[0], -1.5) }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := func(tp *Tape, v []*Var) *Var { return weighted(tp, c.f(tp, v), uint64(i)) }
			if err := GradCheck(f, c.inputs, 1e-2, 2e-2, 0, rng); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLossGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	logits := randTensor(rng, 5, 4)
	labels := []int{0, 3, 1, 1, 2}
	ce := func(tp *Tape, v []*Var) *Var { return tp.SoftmaxCrossEntropy(v[0], labels) }
	if err := GradCheck(ce, []*tensor.Tensor{logits}, 1e-2, 1e-2, 0, rng); err != nil {
		t.Errorf("cross-entropy: %v", err)
	}
	target := randTensor(rng, 3, 3)
	mse := func(tp *Tape, v []*Var) *Var { return tp.MSE(v[0], target) }
	if err := GradCheck(mse, []*tensor.Tensor{randTensor(rng, 3, 3)}, 1e-2, 1e-2, 0, rng); err != nil {
		t.Errorf("mse: %v", err)
	}
	sum := func(tp *Tape, v []*Var) *Var {
		return tp.Sum(tp.MSE(v[0], target), tp.SoftmaxCrossEntropy(v[1], labels))
	}
	if err := GradCheck(sum, []*tensor.Tensor{randTensor(rng, 3, 3), logits}, 1e-2, 1e-2, 0, rng); err != nil {
		t.Errorf("sum: %v", err)
	}
}

// TestConvMatchesDirect checks the im2col convolution against a direct
// six-loop reference.
func TestConvMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ n, h, w, ci, co, k, s, p, g int }{
		{1, 5, 5, 1, 2, 3, 1, 0, 1}, {2, 7, 6, 4, 6, 3, 2, 1, 2}, {1, 6, 6, 3, 3, 3, 1, 1, 3}, {2, 4, 4, 2, 3, 1, 1, 0, 1},
	} {
		x := randTensor(rng, c.n, c.h, c.w, c.ci)
		w := randTensor(rng, c.co, c.k, c.k, c.ci/c.g)
		tp := NewTape(2)
		y := tp.Conv2d(tp.Constant(x), tp.Constant(w), nil, ConvOptions{Stride: c.s, Pad: c.p, Groups: c.g}).Value
		oh, ow := y.Shape[1], y.Shape[2]
		cig, cog := c.ci/c.g, c.co/c.g
		for n := 0; n < c.n; n++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					for o := 0; o < c.co; o++ {
						var want float64
						grp := o / cog
						for a := 0; a < c.k; a++ {
							for b := 0; b < c.k; b++ {
								hh, ww := i*c.s-c.p+a, j*c.s-c.p+b
								if hh < 0 || ww < 0 || hh >= c.h || ww >= c.w {
									continue
								}
								for ci := 0; ci < cig; ci++ {
									want += float64(x.Data[((n*c.h+hh)*c.w+ww)*c.ci+grp*cig+ci]) *
										float64(w.Data[((o*c.k+a)*c.k+b)*cig+ci])
								}
							}
						}
						got := y.Data[((n*oh+i)*ow+j)*c.co+o]
						if d := float64(got) - want; d > 1e-4 || d < -1e-4 {
							t.Fatalf("%+v: out[%d,%d,%d,%d] = %v, want %v", c, n, i, j, o, got, want)
						}
					}
				}
			}
		}
	}
}

// TestConvMatchesIm2col checks that Conv2d, which reads an unpadded
// convolution's patches in place, gives bit for bit what the patch matrix
// (tensor.Im2col) and gemm.SgemmParallel give: the output on inference
// tapes (Frozen, packed weights; two threads) and on training tapes, and
// the weights' gradient. Neither tape allocates the patch matrix (seen
// where it would be the tape's largest buffer; x needs no gradient, which
// would take a patch-sized one).
func TestConvMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range []struct {
		n, h, w, ci, co, kh, kw int
		o                       ConvOptions
	}{
		{2, 13, 13, 32, 64, 3, 3, ConvOptions{PoolK: 2}},
		{3, 28, 28, 1, 32, 3, 3, ConvOptions{}},
		{1, 9, 10, 64, 48, 3, 3, ConvOptions{}},
		{2, 11, 9, 5, 20, 5, 3, ConvOptions{Stride: 2}},
		{2, 8, 8, 6, 12, 3, 3, ConvOptions{Groups: 2, PoolK: 3, PoolStride: 2}},
		{1, 6, 7, 16, 150, 2, 2, ConvOptions{}},
	} {
		x := randTensor(rng, c.n, c.h, c.w, c.ci)
		g := max(c.o.Groups, 1)
		w := randTensor(rng, c.co, c.kh, c.kw, c.ci/g)
		b := randTensor(rng, c.co)
		for _, mode := range []string{"frozen", "nograd2", "train1", "train2"} {
			name := fmt.Sprintf("%+v %s", c, mode)
			threads := 1 + int(mode[len(mode)-1]-'1')
			if mode == "frozen" {
				threads = 1
			}
			tp := NewTape(threads)
			tp.NoGrad = mode != "train1" && mode != "train2"
			tp.Frozen = mode == "frozen"
			gw, gb := tensor.New(w.Shape...), tensor.New(b.Shape...)
			y := tp.Conv2d(tp.Constant(x), tp.Leaf(w, gw), tp.Leaf(b, gb), c.o)
			geom := tensor.ConvGeom{N: c.n, H: c.h, W: c.w, C: c.ci, KH: c.kh, KW: c.kw, Stride: c.o.Stride, Groups: g, Cout: c.co}
			if err := geom.Validate(); err != nil {
				t.Fatal(err)
			}
			geom.OH, geom.OW = y.Value.Shape[1], y.Value.Shape[2]
			rows, k, cog := geom.Rows(), geom.KPerGroup, geom.CoutPerGroup
			// With k > Cout the patch matrix would be the largest buffer.
			noPatches := func() {
				if k > c.co && tp.Largest() >= rows*k {
					t.Errorf("%s: the tape handed out %d values, as many as the %d×%d patch matrix", name, tp.Largest(), rows, k)
				}
			}
			noPatches()
			cols := make([][]float32, g)
			want := make([]float32, rows*c.co)
			for grp := range cols {
				cols[grp] = make([]float32, rows*k)
				tensor.Im2col(threads, &geom, x.Data, grp, cols[grp])
				gemm.SgemmParallel(threads, false, true, rows, cog, k, cols[grp], k, w.Data[grp*cog*k:], k, 0, want[grp*cog:], c.co)
			}
			for i := range want {
				want[i] += b.Data[i%c.co]
			}
			sameBits(t, name+" output", y.Value.Data, want)
			if tp.NoGrad {
				continue
			}
			tp.Backward(weighted(tp, y, 3))
			wantGW := make([]float32, len(w.Data))
			for grp := range cols {
				gemm.SgemmParallel(threads, true, false, cog, k, rows, y.Grad.Data[grp*cog:], c.co, cols[grp], k, 1, wantGW[grp*cog*k:], k)
			}
			sameBits(t, name+" weight gradient", gw.Data, wantGW)
			noPatches() // x needs no gradient, so no patch gradient either
		}
	}
}

// sameBits fails the test unless got and want hold the same float32 bits.
func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestTapeReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x, w := randTensor(rng, 4, 6), randTensor(rng, 3, 6)
	gw := tensor.New(3, 6)
	tp := NewTape(1)
	var first []float32
	for step := 0; step < 3; step++ {
		gw.Zero()
		y := tp.Linear(tp.Constant(x), tp.Leaf(w, gw), nil)
		tp.Backward(tp.SoftmaxCrossEntropy(y, []int{0, 1, 2, 0}))
		if step == 0 {
			first = append([]float32(nil), gw.Data...)
		} else {
			for i := range first {
				if first[i] != gw.Data[i] {
					t.Fatalf("step %d: gradient %d = %v, first step %v", step, i, gw.Data[i], first[i])
				}
			}
		}
		tp.Reset()
	}
}

func TestShapeMismatchPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		if s, _ := r.(string); s == "" {
			t.Fatalf("panic value %v is not a message", r)
		}
	}()
	tp := NewTape(1)
	tp.Linear(tp.Constant(tensor.New(2, 3)), tp.Constant(tensor.New(4, 5)), nil)
}
