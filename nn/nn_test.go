package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// randTensor returns a tensor of the given shape with normal entries.
func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// forward runs m on a constant x on a fresh tape.
func forward(m Module, x *tensor.Tensor, train bool) *tensor.Tensor {
	tp := autodiff.NewTape(1)
	return m.Forward(tp, tp.Constant(x), train).Value
}

// closeTo reports whether got matches want within a relative tolerance.
func closeTo(got, want []float32, tol float64) (int, bool) {
	if len(got) != len(want) {
		return -1, false
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol*math.Max(1, math.Abs(float64(want[i]))) {
			return i, false
		}
	}
	return 0, true
}

// at4 indexes an NHWC tensor.
func at4(t *tensor.Tensor, n, h, w, c int) int {
	s := t.Shape
	return ((n*s[1]+h)*s[2]+w)*s[3] + c
}

// refConv is a direct NHWC convolution, written from the definition:
// y[n, oh, ow, co] = b[co] + Σ x[n, oh·S−P+kh, ow·S−P+kw, g·Cin/G+ci]·w[co, kh, kw, ci].
func refConv(x, w *tensor.Tensor, b []float32, stride, pad, groups int) *tensor.Tensor {
	n, h, wd, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	cout, kh, kw, cinG := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	coutG := cout / groups
	oh, ow := (h+2*pad-kh)/stride+1, (wd+2*pad-kw)/stride+1
	y := tensor.New(n, oh, ow, cout)
	_ = cin
	for in := range n {
		for i := range oh {
			for j := range ow {
				for co := range cout {
					g := co / coutG
					var s float64
					if b != nil {
						s = float64(b[co])
					}
					for p := range kh {
						for q := range kw {
							r, c := i*stride-pad+p, j*stride-pad+q
							if r < 0 || r >= h || c < 0 || c >= wd {
								continue
							}
							for ci := range cinG {
								s += float64(x.Data[at4(x, in, r, c, g*cinG+ci)]) * float64(w.Data[((co*kh+p)*kw+q)*cinG+ci])
							}
						}
					}
					y.Data[at4(y, in, i, j, co)] = float32(s)
				}
			}
		}
	}
	return y
}

// refConvTranspose scatters every input pixel through the kernel, with
// weights stored output channel first ([Cout, K, K, Cin/groups]):
// y[n, ih·S−P+kh, iw·S−P+kw, co] += x[n, ih, iw, g·Cin/G+ci]·w[co, kh, kw, ci].
func refConvTranspose(x, w *tensor.Tensor, b []float32, o autodiff.ConvTransposeOptions) *tensor.Tensor {
	n, h, wd := x.Shape[0], x.Shape[1], x.Shape[2]
	cout, k, cinG := w.Shape[0], w.Shape[1], w.Shape[3]
	groups := max(o.Groups, 1)
	coutG := cout / groups
	oh := (h-1)*o.Stride - 2*o.Pad + k + o.OutputPad
	ow := (wd-1)*o.Stride - 2*o.Pad + k + o.OutputPad
	acc := make([]float64, n*oh*ow*cout)
	for in := range n {
		for i := range h {
			for j := range wd {
				for co := range cout {
					g := co / coutG
					for p := range k {
						for q := range k {
							r, c := i*o.Stride-o.Pad+p, j*o.Stride-o.Pad+q
							if r < 0 || r >= oh || c < 0 || c >= ow {
								continue
							}
							for ci := range cinG {
								acc[((in*oh+r)*ow+c)*cout+co] += float64(x.Data[at4(x, in, i, j, g*cinG+ci)]) * float64(w.Data[((co*k+p)*k+q)*cinG+ci])
							}
						}
					}
				}
			}
		}
	}
	y := tensor.New(n, oh, ow, cout)
	for i, v := range acc {
		if b != nil {
			v += float64(b[i%cout])
		}
		y.Data[i] = float32(v)
	}
	return y
}

func TestLinearForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name    string
		xShape  []int // flattened to N×In when not 2-D
		in, out int
		bias    bool
	}{
		{"matrix with bias", []int{3, 5}, 5, 4, true},
		{"matrix without bias", []int{2, 7}, 7, 3, false},
		{"image flattened", []int{2, 2, 3, 2}, 12, 5, true},
	}
	for _, c := range cases {
		l := NewLinear("fc", c.in, c.out, c.bias, rng)
		x := randTensor(rng, c.xShape...)
		got := forward(l, x, false)
		n := c.xShape[0]
		if !slices.Equal(got.Shape, []int{n, c.out}) {
			t.Fatalf("%s: output shape %v, want [%d %d]", c.name, got.Shape, n, c.out)
		}
		want := make([]float32, n*c.out)
		for r := range n {
			for o := range c.out {
				var s float64
				if c.bias {
					s = float64(l.Bias.Value.Data[o])
				}
				for i := range c.in {
					s += float64(x.Data[r*c.in+i]) * float64(l.Weight.Value.Data[o*c.in+i])
				}
				want[r*c.out+o] = float32(s)
			}
		}
		if i, ok := closeTo(got.Data, want, 1e-5); !ok {
			t.Errorf("%s: output %d = %v, want %v", c.name, i, got.Data[i], want[i])
		}
	}
}

func TestConv2dForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	cases := []struct {
		name                string
		in, out, kernel     int
		stride, pad, groups int
		bias                bool
		n, h, w             int
		wantOH, wantOW      int
	}{
		{"3×3 same padding", 3, 4, 3, 1, 1, 1, true, 2, 5, 5, 5, 5},
		{"3×3 valid, stride 2", 2, 3, 3, 2, 0, 1, false, 1, 7, 6, 3, 2},
		{"grouped", 4, 6, 3, 1, 1, 2, true, 1, 4, 4, 4, 4},
		{"depthwise", 3, 3, 3, 1, 1, 3, true, 2, 4, 3, 4, 3},
		{"1×1", 5, 2, 1, 1, 0, 1, true, 1, 3, 3, 3, 3},
	}
	for _, c := range cases {
		conv := NewConv2d("conv", c.in, c.out, c.kernel, autodiff.ConvOptions{Stride: c.stride, Pad: c.pad, Groups: c.groups}, c.bias, rng)
		if want := []int{c.out, c.kernel, c.kernel, c.in / c.groups}; !slices.Equal(conv.Weight.Value.Shape, want) {
			t.Fatalf("%s: weight shape %v, want %v", c.name, conv.Weight.Value.Shape, want)
		}
		x := randTensor(rng, c.n, c.h, c.w, c.in)
		got := forward(conv, x, false)
		if want := []int{c.n, c.wantOH, c.wantOW, c.out}; !slices.Equal(got.Shape, want) {
			t.Fatalf("%s: output shape %v, want %v", c.name, got.Shape, want)
		}
		var b []float32
		if c.bias {
			b = conv.Bias.Value.Data
		}
		want := refConv(x, conv.Weight.Value, b, c.stride, c.pad, c.groups)
		if i, ok := closeTo(got.Data, want.Data, 1e-4); !ok {
			t.Errorf("%s: output %d = %v, want %v", c.name, i, got.Data[i], want.Data[i])
		}
	}
}

func TestConvTranspose2dForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	cases := []struct {
		name            string
		in, out, kernel int
		o               autodiff.ConvTransposeOptions
		n, h, w         int
	}{
		{"stride 2 (×2 upsampling)", 3, 2, 2, autodiff.ConvTransposeOptions{Stride: 2}, 1, 3, 4},
		{"padded, output padding", 2, 4, 3, autodiff.ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1}, 2, 3, 3},
		{"grouped", 4, 6, 3, autodiff.ConvTransposeOptions{Stride: 1, Pad: 1, Groups: 2}, 1, 4, 3},
	}
	for _, c := range cases {
		conv := NewConvTranspose2d("up", c.in, c.out, c.kernel, c.o, true, rng)
		x := randTensor(rng, c.n, c.h, c.w, c.in)
		got := forward(conv, x, false)
		want := refConvTranspose(x, conv.Weight.Value, conv.Bias.Value.Data, c.o)
		if !slices.Equal(got.Shape, want.Shape) {
			t.Fatalf("%s: output shape %v, want %v", c.name, got.Shape, want.Shape)
		}
		if i, ok := closeTo(got.Data, want.Data, 1e-4); !ok {
			t.Errorf("%s: output %d = %v, want %v", c.name, i, got.Data[i], want.Data[i])
		}
	}
}

func TestBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	const c = 3
	bn := NewBatchNorm("bn", c)
	for i := range c {
		bn.Gamma.Value.Data[i] = float32(1 + rng.NormFloat64()/2)
		bn.Beta.Value.Data[i] = float32(rng.NormFloat64())
	}
	x := randTensor(rng, 2, 3, 2, c) // 12 rows of c channels
	rows := x.Len() / c
	stats := func(ch int) (mean, biased float64) {
		for r := range rows {
			mean += float64(x.Data[r*c+ch])
		}
		mean /= float64(rows)
		for r := range rows {
			d := float64(x.Data[r*c+ch]) - mean
			biased += d * d
		}
		return mean, biased / float64(rows)
	}
	norm := func(mean, variance float64, ch int, v float32) float32 {
		return float32(float64(bn.Gamma.Value.Data[ch])*(float64(v)-mean)/math.Sqrt(variance+float64(bn.Eps)) + float64(bn.Beta.Value.Data[ch]))
	}

	// Training: batch statistics (biased variance); the running statistics
	// move by Momentum towards the batch mean and unbiased variance.
	got := forward(bn, x, true)
	want := make([]float32, x.Len())
	for i, v := range x.Data {
		m, s := stats(i % c)
		want[i] = norm(m, s, i%c, v)
	}
	if i, ok := closeTo(got.Data, want, 1e-4); !ok {
		t.Errorf("training output %d = %v, want %v", i, got.Data[i], want[i])
	}
	for ch := range c {
		m, s := stats(ch)
		wantMean := 0.9*0 + 0.1*m
		wantVar := 0.9*1 + 0.1*s*float64(rows)/float64(rows-1)
		if math.Abs(float64(bn.RunMean.Value.Data[ch])-wantMean) > 1e-6 || math.Abs(float64(bn.RunVar.Value.Data[ch])-wantVar) > 1e-6 {
			t.Errorf("channel %d: running mean, var %v, %v, want %v, %v", ch, bn.RunMean.Value.Data[ch], bn.RunVar.Value.Data[ch], wantMean, wantVar)
		}
	}

	// Evaluation: the running statistics, left unchanged.
	mean, variance := slices.Clone(bn.RunMean.Value.Data), slices.Clone(bn.RunVar.Value.Data)
	got = forward(bn, x, false)
	for i, v := range x.Data {
		want[i] = norm(float64(mean[i%c]), float64(variance[i%c]), i%c, v)
	}
	if i, ok := closeTo(got.Data, want, 1e-5); !ok {
		t.Errorf("evaluation output %d = %v, want %v", i, got.Data[i], want[i])
	}
	if !slices.Equal(mean, bn.RunMean.Value.Data) || !slices.Equal(variance, bn.RunVar.Value.Data) {
		t.Error("evaluation changed the running statistics")
	}
}

func TestElementwise(t *testing.T) {
	x := tensor.FromData([]float32{-3, -0.5, 0, 0.25, 2, 7}, 1, 1, 2, 3)
	sigmoid := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	cases := []struct {
		name string
		m    Module
		f    func(float64) float64
	}{
		{"ReLU", ReLU{}, func(v float64) float64 { return max(v, 0) }},
		{"ReLU6", Clip{Lo: 0, Hi: 6}, func(v float64) float64 { return min(max(v, 0), 6) }},
		{"clip with an infinite bound", Clip{Lo: -1, Hi: float32(math.Inf(1))}, func(v float64) float64 { return max(v, -1) }},
		{"leaky ReLU", LeakyReLU{Alpha: 0.1}, func(v float64) float64 {
			if v < 0 {
				return 0.1 * v
			}
			return v
		}},
		{"sigmoid", Sigmoid{}, sigmoid},
	}
	for _, c := range cases {
		got := forward(c.m, x, false)
		if !slices.Equal(got.Shape, x.Shape) {
			t.Fatalf("%s: shape %v, want %v", c.name, got.Shape, x.Shape)
		}
		for i, v := range x.Data {
			if want := c.f(float64(v)); math.Abs(float64(got.Data[i])-want) > 1e-6 {
				t.Errorf("%s(%v) = %v, want %v", c.name, v, got.Data[i], want)
			}
		}
		if c.m.Params() != nil {
			t.Errorf("%s has parameters", c.name)
		}
	}
}

// TestShapeOps checks the parameter-free rearrangements and pools on
// small inputs whose outputs are worked out by hand.
func TestShapeOps(t *testing.T) {
	// One 4×4 single-channel image, values 1..16 row by row.
	img := tensor.New(1, 4, 4, 1)
	for i := range img.Data {
		img.Data[i] = float32(i + 1)
	}
	// One pixel of 4 channels, and a 1×2 image of 4 channels.
	depth := tensor.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, 2, 4)
	cases := []struct {
		name  string
		m     Module
		x     *tensor.Tensor
		shape []int
		want  []float32
	}{
		{"max pool 2", MaxPool{K: 2}, img, []int{1, 2, 2, 1}, []float32{6, 8, 14, 16}},
		{"max pool 3 stride 1", MaxPool{K: 3, Stride: 1}, img, []int{1, 2, 2, 1}, []float32{11, 12, 15, 16}},
		{"average pool 2", AvgPool{K: 2}, img, []int{1, 2, 2, 1}, []float32{3.5, 5.5, 11.5, 13.5}},
		{"global average pool", GlobalAvgPool{}, img, []int{1, 1}, []float32{8.5}},
		{"flatten", Flatten{}, depth, []int{1, 8}, []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		// CRD: channel c·r² + i·r + j goes to (i, j) of channel c.
		{"pixel shuffle", PixelShuffle{R: 2}, depth, []int{1, 2, 4, 1}, []float32{1, 2, 5, 6, 3, 4, 7, 8}},
		// DCR: channel (i·r + j)·C + c; with C = 1 the same order here.
		{"depth to space DCR", DepthToSpaceDCR{R: 2}, depth, []int{1, 2, 4, 1}, []float32{1, 2, 5, 6, 3, 4, 7, 8}},
		{"pad", Pad{Top: 1, Left: 0, Bottom: 0, Right: 1, Value: -1}, tensor.FromData([]float32{1, 2}, 1, 1, 2, 1),
			[]int{1, 2, 3, 1}, []float32{-1, -1, -1, 1, 2, -1}},
		{"nearest resize ×2", ResizeNearest{F: 2}, tensor.FromData([]float32{1, 2}, 1, 1, 2, 1),
			[]int{1, 2, 4, 1}, []float32{1, 1, 2, 2, 1, 1, 2, 2}},
		// Padding never wins a maximum, even over negative values.
		{"padded max pool", PaddedPool{Max: true, K: 2, Stride: 2, Pad: 1}, tensor.FromData([]float32{-1, -2, -3, -4}, 1, 2, 2, 1),
			[]int{1, 2, 2, 1}, []float32{-1, -2, -3, -4}},
		{"padded average pool, padding counted", PaddedPool{K: 2, Stride: 2, Pad: 1, CountPad: true}, tensor.FromData([]float32{4, 8, 12, 16}, 1, 2, 2, 1),
			[]int{1, 2, 2, 1}, []float32{1, 2, 3, 4}},
		{"padded average pool, padding not counted", PaddedPool{K: 2, Stride: 2, Pad: 1}, tensor.FromData([]float32{4, 8, 12, 16}, 1, 2, 2, 1),
			[]int{1, 2, 2, 1}, []float32{4, 8, 12, 16}},
	}
	for _, c := range cases {
		got := forward(c.m, c.x, false)
		if !slices.Equal(got.Shape, c.shape) || !slices.Equal(got.Data, c.want) {
			t.Errorf("%s: got %v %v, want %v %v", c.name, got.Shape, got.Data, c.shape, c.want)
		}
	}

	// DCR and CRD differ once there are several output channels: with
	// C = 2, r = 2, CRD reads output channel 1 at (0, 0) from input
	// channel 4, DCR from input channel 1.
	x := tensor.New(1, 1, 1, 8)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	crd, dcr := forward(PixelShuffle{R: 2}, x, false), forward(DepthToSpaceDCR{R: 2}, x, false)
	if crd.Data[1] != 4 || dcr.Data[1] != 1 {
		t.Errorf("channel 1 at (0, 0): CRD %v (want 4), DCR %v (want 1)", crd.Data[1], dcr.Data[1])
	}
}

// TestComposition checks Sequential, Residual and DAG against the same
// computation written out step by step, and the order of their parameters.
func TestComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	conv1 := NewConv2d("conv1", 2, 2, 3, autodiff.ConvOptions{Pad: 1}, true, rng)
	conv2 := NewConv2d("conv2", 2, 2, 1, autodiff.ConvOptions{}, false, rng)
	bn := NewBatchNorm("bn", 2)
	x := randTensor(rng, 1, 3, 3, 2)

	step := func(m Module, v *tensor.Tensor) *tensor.Tensor { return forward(m, v, false) }
	body := step(ReLU{}, step(bn, step(conv1, x)))
	short := step(conv2, x)
	wantSum := make([]float32, body.Len())
	for i := range wantSum {
		wantSum[i] = body.Data[i] + short.Data[i]
	}
	wantCat := make([]float32, 0, 2*body.Len())
	for p := range body.Len() / 2 {
		wantCat = append(wantCat, body.Data[2*p:2*p+2]...)
		wantCat = append(wantCat, x.Data[2*p:2*p+2]...)
	}

	cases := []struct {
		name   string
		m      Module
		want   []float32
		params []string
	}{
		{"sequential", Sequential{conv1, bn, ReLU{}}, body.Data,
			[]string{"conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}},
		{"residual with a shortcut", &Residual{Body: Sequential{conv1, bn, ReLU{}}, Shortcut: conv2}, wantSum,
			[]string{"conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "conv2.weight"}},
		{"DAG: add", &DAG{Steps: []Step{
			{Name: "conv1", Op: conv1, Inputs: []int{0}},
			{Name: "bn", Op: bn, Inputs: []int{1}},
			{Name: "relu", Op: ReLU{}, Inputs: []int{2}},
			{Name: "conv2", Op: conv2, Inputs: []int{0}},
			{Name: "add", Op: Add{}, Inputs: []int{3, 4}},
		}, Output: 5}, wantSum,
			[]string{"conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "conv2.weight"}},
		{"DAG: concat", &DAG{Steps: []Step{
			{Name: "block", Op: Sequential{conv1, bn, ReLU{}}, Inputs: []int{0}},
			{Name: "cat", Op: Concat{}, Inputs: []int{1, 0}},
		}, Output: 2}, wantCat,
			[]string{"conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}},
	}
	for _, c := range cases {
		got := forward(c.m, x, false)
		if i, ok := closeTo(got.Data, c.want, 1e-6); !ok {
			t.Errorf("%s: output %d = %v, want %v", c.name, i, got.Data[i], c.want[i])
		}
		var names []string
		for _, p := range c.m.Params() {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, c.params) {
			t.Errorf("%s: parameters %v, want %v", c.name, names, c.params)
		}
	}
}

// TestParams checks names, shapes, trainability, weight-decay exclusions
// and the PyTorch initialisation bounds of the layers with parameters.
func TestParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	type want struct {
		name      string
		shape     []int
		trainable bool
		noDecay   bool
		bound     float64 // |value| ≤ bound; 0: not checked
	}
	cases := []struct {
		name string
		m    Module
		want []want
	}{
		{"linear", NewLinear("fc", 16, 3, true, rng), []want{
			{"fc.weight", []int{3, 16}, true, false, 0.25},
			{"fc.bias", []int{3}, true, true, 0.25},
		}},
		{"grouped conv without bias", NewConv2d("conv", 4, 8, 3, autodiff.ConvOptions{Groups: 2}, false, rng), []want{
			{"conv.weight", []int{8, 3, 3, 2}, true, false, 1 / math.Sqrt(18)},
		}},
		{"transposed conv", NewConvTranspose2d("up", 2, 4, 2, autodiff.ConvTransposeOptions{Stride: 2}, true, rng), []want{
			{"up.weight", []int{4, 2, 2, 2}, true, false, 1 / math.Sqrt(16)},
			{"up.bias", []int{4}, true, true, 1 / math.Sqrt(16)},
		}},
		{"batch norm", NewBatchNorm("bn", 5), []want{
			{"bn.weight", []int{5}, true, true, 0},
			{"bn.bias", []int{5}, true, true, 0},
			{"bn.running_mean", []int{5}, false, true, 0},
			{"bn.running_var", []int{5}, false, true, 0},
		}},
	}
	for _, c := range cases {
		ps := c.m.Params()
		if len(ps) != len(c.want) {
			t.Fatalf("%s: %d parameters, want %d", c.name, len(ps), len(c.want))
		}
		for i, p := range ps {
			w := c.want[i]
			if p.Name != w.name || !slices.Equal(p.Value.Shape, w.shape) || p.Trainable() != w.trainable || p.NoDecay != w.noDecay {
				t.Errorf("%s: parameter %d: %s %v trainable %v no-decay %v, want %s %v %v %v",
					c.name, i, p.Name, p.Value.Shape, p.Trainable(), p.NoDecay, w.name, w.shape, w.trainable, w.noDecay)
			}
			if p.Trainable() && !slices.Equal(p.Grad.Shape, p.Value.Shape) {
				t.Errorf("%s: %s: gradient shape %v", c.name, p.Name, p.Grad.Shape)
			}
			if w.bound > 0 {
				var mx float64
				for _, v := range p.Value.Data {
					mx = max(mx, math.Abs(float64(v)))
				}
				if mx > w.bound || mx < w.bound/2 {
					t.Errorf("%s: %s: largest |value| %v, want in [%v, %v] (U(±%v))", c.name, p.Name, mx, w.bound/2, w.bound, w.bound)
				}
			}
		}
	}
	bn := NewBatchNorm("bn", 2)
	if !slices.Equal(bn.Gamma.Value.Data, []float32{1, 1}) || !slices.Equal(bn.Beta.Value.Data, []float32{0, 0}) ||
		!slices.Equal(bn.RunMean.Value.Data, []float32{0, 0}) || !slices.Equal(bn.RunVar.Value.Data, []float32{1, 1}) {
		t.Errorf("batch norm initial state: γ %v β %v mean %v var %v", bn.Gamma.Value.Data, bn.Beta.Value.Data, bn.RunMean.Value.Data, bn.RunVar.Value.Data)
	}

	// The same seed gives the same weights.
	a := NewLinear("a", 4, 4, true, rand.New(rand.NewPCG(9, 9)))
	b := NewLinear("b", 4, 4, true, rand.New(rand.NewPCG(9, 9)))
	if !slices.Equal(a.Weight.Value.Data, b.Weight.Value.Data) || !slices.Equal(a.Bias.Value.Data, b.Bias.Value.Data) {
		t.Error("same seed, different initial weights")
	}
}

// TestGradients checks each layer's gradients, with respect to its input
// and to its own parameters, against finite differences. The module is run
// as it is (through Param.Var), with its parameters' tensors swapped for
// GradCheck's copies.
func TestGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	cases := []struct {
		name  string
		m     Module
		x     *tensor.Tensor
		train bool
	}{
		{"linear", NewLinear("fc", 6, 4, true, rng), randTensor(rng, 3, 6), false},
		{"linear on an image", NewLinear("fc", 12, 2, false, rng), randTensor(rng, 2, 2, 3, 2), false},
		{"conv", NewConv2d("conv", 3, 4, 3, autodiff.ConvOptions{Stride: 2, Pad: 1}, true, rng), randTensor(rng, 2, 5, 5, 3), false},
		{"grouped conv", NewConv2d("conv", 4, 4, 3, autodiff.ConvOptions{Pad: 1, Groups: 2}, true, rng), randTensor(rng, 1, 4, 4, 4), false},
		{"depthwise conv", NewConv2d("dw", 3, 3, 3, autodiff.ConvOptions{Pad: 1, Groups: 3}, false, rng), randTensor(rng, 1, 4, 4, 3), false},
		{"batch norm, training", NewBatchNorm("bn", 3), randTensor(rng, 4, 2, 2, 3), true},
		{"batch norm, evaluation", NewBatchNorm("bn", 3), randTensor(rng, 4, 2, 2, 3), false},
		{"sequential", Sequential{NewConv2d("c", 2, 3, 3, autodiff.ConvOptions{Pad: 1}, true, rng), LeakyReLU{Alpha: 0.2}, AvgPool{K: 2}, Flatten{}, NewLinear("fc", 12, 2, true, rng)},
			randTensor(rng, 2, 4, 4, 2), false},
		{"residual", &Residual{Body: Sequential{NewConv2d("c", 2, 2, 3, autodiff.ConvOptions{Pad: 1}, true, rng), Sigmoid{}}}, randTensor(rng, 1, 3, 3, 2), false},
		{"pixel shuffle after conv", Sequential{NewConv2d("c", 1, 4, 3, autodiff.ConvOptions{Pad: 1}, true, rng), PixelShuffle{R: 2}}, randTensor(rng, 1, 3, 3, 1), false},
	}
	for _, c := range cases {
		var trainable []*Param
		inputs := []*tensor.Tensor{c.x}
		for _, p := range c.m.Params() {
			if p.Trainable() {
				trainable = append(trainable, p)
				inputs = append(inputs, p.Value)
			}
		}
		target := randTensor(rng, forward(c.m, c.x, c.train).Shape...)
		f := func(tp *autodiff.Tape, v []*autodiff.Var) *autodiff.Var {
			for i, p := range trainable {
				p.Value, p.Grad = v[i+1].Value, v[i+1].Grad
			}
			return tp.MSE(c.m.Forward(tp, v[0], c.train), target)
		}
		saved := make([][2]*tensor.Tensor, len(trainable))
		for i, p := range trainable {
			saved[i] = [2]*tensor.Tensor{p.Value, p.Grad}
		}
		err := autodiff.GradCheck(f, inputs, 1e-2, 2e-2, 30, rng)
		for i, p := range trainable {
			p.Value, p.Grad = saved[i][0], saved[i][1]
		}
		if err != nil {
			t.Errorf("%s: %v (input 0 is x, then %d trainable parameters)", c.name, err, len(trainable))
		}
	}
}

// TestZeroGrad checks that ZeroGrad clears gradients and skips buffers.
func TestZeroGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	m := Sequential{NewLinear("fc", 3, 2, true, rng), NewBatchNorm("bn", 2)}
	tp := autodiff.NewTape(1)
	x := randTensor(rng, 4, 3)
	tp.Backward(tp.MSE(m.Forward(tp, tp.Constant(x), true), tensor.New(4, 2)))
	nonzero := 0
	for _, p := range m.Params() {
		if p.Grad != nil {
			for _, g := range p.Grad.Data {
				if g != 0 {
					nonzero++
				}
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("no gradient reached the parameters")
	}
	ZeroGrad(m.Params())
	for _, p := range m.Params() {
		if p.Grad == nil {
			continue
		}
		for _, g := range p.Grad.Data {
			if g != 0 {
				t.Fatalf("%s: gradient %v after ZeroGrad", p.Name, p.Grad.Data)
			}
		}
	}
}

// TestSequentialPoolFirst checks that a convolution followed by a max
// pool and a ReLU, in either order or without the ReLU, gives through
// Sequential (which pools first) the outputs of the modules run one by
// one, bit for bit.
func TestSequentialPoolFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	conv := NewConv2d("c", 3, 8, 3, autodiff.ConvOptions{Stride: 1}, true, rng)
	x := tensor.New(2, 9, 9, 3)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for _, s := range []Sequential{
		{conv, ReLU{}, MaxPool{K: 2}},
		{conv, MaxPool{K: 2}, ReLU{}},
		{conv, MaxPool{K: 3, Stride: 2}},
		{conv, ReLU{}, MaxPool{K: 2}, ReLU{}},
	} {
		tp := autodiff.NewTape(1)
		got := s.Forward(tp, tp.Constant(x), false).Value.Data
		v := tp.Constant(x)
		for _, m := range s {
			v = m.Forward(tp, v, false)
		}
		if !slices.Equal(got, v.Value.Data) {
			t.Errorf("%T…: pool first differs from module by module", s[1])
		}
	}
}

// stageSplitter is a Splitter whose rest takes over the next module's
// stage when offered one (if take is set), recording what it was given.
type stageSplitter struct {
	take        bool
	splitStaged *[]bool // the staged argument of each ForwardSplit
	offered     *[]bool // whether each rest was offered a next module
}

func (s stageSplitter) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return x
}
func (s stageSplitter) Params() []*Param { return nil }
func (s stageSplitter) ForwardSplit(tp *autodiff.Tape, x *autodiff.Var, train, staged bool, poolK, poolStride int) (lin, bias *autodiff.Var, rest Rest, ok bool) {
	*s.splitStaged = append(*s.splitStaged, staged)
	return x, nil, func(a *autodiff.Var, relu bool, next Staged) (*autodiff.Var, bool) {
		*s.offered = append(*s.offered, next != nil)
		return a, next != nil && s.take
	}, true
}

// stageReader is a Staged module recording how it was run and the rank of
// its input.
type stageReader struct{ calls *[]string }

func (r stageReader) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	*r.calls = append(*r.calls, "forward", string(rune('0'+len(x.Shape()))))
	return x
}
func (r stageReader) ForwardStaged(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	*r.calls = append(*r.calls, "staged", string(rune('0'+len(x.Shape()))))
	return x
}
func (r stageReader) Params() []*Param { return nil }

// TestSequentialStages checks how Sequential hands a split layer's end
// the next module's input stage: offered through a pool and a ReLU, and
// through a Flatten (run before the staged module when taken, as a module
// of its own when not); a split layer after a taken stage splits on a
// staged input.
func TestSequentialStages(t *testing.T) {
	x := tensor.New(1, 4, 4, 2)
	for _, tt := range []struct {
		name      string
		take      bool
		net       func(s stageSplitter, r stageReader) Sequential
		split     []bool
		offered   []bool
		readCalls []string
	}{
		{"pool relu flatten, taken", true,
			func(s stageSplitter, r stageReader) Sequential {
				return Sequential{s, MaxPool{K: 2}, ReLU{}, Flatten{}, r}
			}, []bool{false}, []bool{true}, []string{"staged", "2"}},
		{"pool relu flatten, declined", false,
			func(s stageSplitter, r stageReader) Sequential {
				return Sequential{s, MaxPool{K: 2}, ReLU{}, Flatten{}, r}
			}, []bool{false}, []bool{true}, []string{"forward", "2"}},
		{"relu pool, taken", true,
			func(s stageSplitter, r stageReader) Sequential { return Sequential{s, ReLU{}, MaxPool{K: 2}, r} },
			[]bool{false}, []bool{true}, []string{"staged", "4"}},
		{"no reader", true,
			func(s stageSplitter, r stageReader) Sequential { return Sequential{s, MaxPool{K: 2}, ReLU{}} },
			[]bool{false}, []bool{false}, nil},
		{"two splitters", true,
			func(s stageSplitter, r stageReader) Sequential {
				return Sequential{s, MaxPool{K: 2}, stagedSplitter{s, r}, MaxPool{K: 1}, ReLU{}}
			}, []bool{false, true}, []bool{true, false}, nil},
	} {
		var split, offered []bool
		var calls []string
		s, r := stageSplitter{take: tt.take, splitStaged: &split, offered: &offered}, stageReader{&calls}
		tp := autodiff.NewTape(1)
		tt.net(s, r).Forward(tp, tp.Constant(x), false)
		if !slices.Equal(split, tt.split) || !slices.Equal(offered, tt.offered) || !slices.Equal(calls, tt.readCalls) {
			t.Errorf("%s: splits staged %v, rests offered %v, reader %v; want %v, %v, %v", tt.name, split, offered, calls, tt.split, tt.offered, tt.readCalls)
		}
	}
}

// stagedSplitter is a stageSplitter that is Staged too.
type stagedSplitter struct {
	stageSplitter
	stageReader
}

func (s stagedSplitter) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return x
}
func (s stagedSplitter) Params() []*Param { return nil }
