package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// avoid moves every element of x that lies within 0.05 of a kink of a
// piecewise-linear operation 0.1 away from it, so finite differences with
// eps 1e-2 never straddle one.
func avoid(x *tensor.Tensor, kinks ...float32) *tensor.Tensor {
	for i, v := range x.Data {
		for _, k := range kinks {
			if d := v - k; d > -0.05 && d < 0.05 {
				if d >= 0 {
					v = k + 0.1
				} else {
					v = k - 0.1
				}
			}
		}
		x.Data[i] = v
	}
	return x
}

// distinct returns a tensor of the given shape holding a random
// permutation of values 0.1 apart: no two elements of a pooling window are
// within a finite-difference step of each other.
func distinct(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i, p := range rng.Perm(len(t.Data)) {
		t.Data[i] = 0.1 * float32(p-len(t.Data)/2)
	}
	return t
}

// TestImporterOpGradients checks the gradients of the operations a float
// ONNX importer needs against finite differences.
func TestImporterOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ct := func(o ConvTransposeOptions, bias bool) func(tp *Tape, v []*Var) *Var {
		return func(tp *Tape, v []*Var) *Var {
			var b *Var
			if bias {
				b = v[2]
			}
			return tp.ConvTranspose2d(v[0], v[1], b, o)
		}
	}
	cases := []struct {
		name   string
		inputs []*tensor.Tensor
		f      func(tp *Tape, v []*Var) *Var
	}{
		{"clip", []*tensor.Tensor{avoid(randTensor(rng, 4, 9), -0.5, 0.8)},
			func(tp *Tape, v []*Var) *Var { return tp.Clip(v[0], -0.5, 0.8) }},
		{"relu6", []*tensor.Tensor{avoid(tensor.FromData([]float32{-3, -0.2, 0.3, 2, 5.5, 6.4, 7, 12}, 2, 4), 0, 6)},
			func(tp *Tape, v []*Var) *Var { return tp.Clip(v[0], 0, 6) }},
		{"clip-onesided", []*tensor.Tensor{avoid(randTensor(rng, 3, 7), 0.3)},
			func(tp *Tape, v []*Var) *Var { return tp.Clip(v[0], float32(math.Inf(-1)), 0.3) }},
		{"leakyrelu", []*tensor.Tensor{avoid(randTensor(rng, 3, 8), 0)},
			func(tp *Tape, v []*Var) *Var { return tp.LeakyReLU(v[0], 0.1) }},
		{"sigmoid", []*tensor.Tensor{randTensor(rng, 3, 8)},
			func(tp *Tape, v []*Var) *Var { return tp.Sigmoid(v[0]) }},
		{"pad", []*tensor.Tensor{randTensor(rng, 2, 3, 4, 2)},
			func(tp *Tape, v []*Var) *Var { return tp.Pad(v[0], 1, 2, 0, 3, 0.5) }},
		{"resize", []*tensor.Tensor{randTensor(rng, 2, 3, 2, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.ResizeNearest(v[0], 2, 3) }},
		{"depthtospace-dcr", []*tensor.Tensor{randTensor(rng, 2, 2, 3, 12)},
			func(tp *Tape, v []*Var) *Var { return tp.DepthToSpace(v[0], 2, true) }},
		{"depthtospace-crd", []*tensor.Tensor{randTensor(rng, 1, 2, 2, 9)},
			func(tp *Tape, v []*Var) *Var { return tp.DepthToSpace(v[0], 3, false) }},
		{"maxpool-pad", []*tensor.Tensor{distinct(rng, 2, 5, 6, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.MaxPoolPad(v[0], 3, 2, 1) }},
		{"maxpool-pad-2x2", []*tensor.Tensor{distinct(rng, 1, 5, 5, 2)},
			func(tp *Tape, v []*Var) *Var { return tp.MaxPoolPad(v[0], 2, 2, 1) }},
		{"maxpoolbias", []*tensor.Tensor{distinct(rng, 2, 5, 6, 3), randTensor(rng, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.MaxPoolBias(v[0], v[1], false, 3, 2) }},
		{"avgpool-pad-include", []*tensor.Tensor{randTensor(rng, 2, 5, 4, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.AvgPoolPad(v[0], 3, 2, 1, true) }},
		{"avgpool-pad-exclude", []*tensor.Tensor{randTensor(rng, 2, 5, 4, 3)},
			func(tp *Tape, v []*Var) *Var { return tp.AvgPoolPad(v[0], 3, 2, 1, false) }},
		{"avgpool-pad-overlap", []*tensor.Tensor{randTensor(rng, 1, 4, 4, 2)},
			func(tp *Tape, v []*Var) *Var { return tp.AvgPoolPad(v[0], 3, 1, 2, false) }},
		{"convtranspose", []*tensor.Tensor{randTensor(rng, 2, 3, 4, 3), randTensor(rng, 3, 3, 3, 2), randTensor(rng, 2)},
			ct(ConvTransposeOptions{}, true)},
		{"convtranspose-stride-pad", []*tensor.Tensor{randTensor(rng, 2, 3, 3, 2), randTensor(rng, 2, 3, 3, 3), randTensor(rng, 3)},
			ct(ConvTransposeOptions{Stride: 2, Pad: 1}, true)},
		{"convtranspose-outpad", []*tensor.Tensor{randTensor(rng, 1, 3, 2, 2), randTensor(rng, 2, 4, 3, 2)},
			ct(ConvTransposeOptions{Stride: 3, Pad: 1, OutputPad: 2}, false)},
		{"convtranspose-groups", []*tensor.Tensor{randTensor(rng, 2, 3, 3, 4), randTensor(rng, 4, 3, 3, 3), randTensor(rng, 6)},
			ct(ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1, Groups: 2}, true)},
		{"convtranspose-depthwise", []*tensor.Tensor{randTensor(rng, 1, 3, 3, 3), randTensor(rng, 3, 2, 2, 1)},
			ct(ConvTransposeOptions{Stride: 2, Groups: 3}, false)},
		{"convtranspose-1x1", []*tensor.Tensor{randTensor(rng, 2, 2, 3, 4), randTensor(rng, 4, 1, 1, 3), randTensor(rng, 3)},
			ct(ConvTransposeOptions{}, true)},
		{"convtranspose-bigpad", []*tensor.Tensor{randTensor(rng, 1, 4, 4, 2), randTensor(rng, 2, 2, 2, 2)},
			ct(ConvTransposeOptions{Stride: 1, Pad: 1}, false)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := func(tp *Tape, v []*Var) *Var { return weighted(tp, c.f(tp, v), uint64(100+i)) }
			if err := GradCheck(f, c.inputs, 1e-2, 2e-2, 0, rng); err != nil {
				t.Error(err)
			}
		})
	}
}

// closeTo reports the first element of got differing from want by more
// than 1e-4 relative to max(1, |want|).
func closeTo(got *tensor.Tensor, shape []int, want []float64) error {
	if fmt.Sprint(got.Shape) != fmt.Sprint(shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, shape)
	}
	for i, w := range want {
		if d := math.Abs(float64(got.Data[i]) - w); d > 1e-4*math.Max(1, math.Abs(w)) || math.IsNaN(float64(got.Data[i])) {
			return fmt.Errorf("element %d = %v, want %v", i, got.Data[i], w)
		}
	}
	return nil
}

func TestElementwiseForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := randTensor(rng, 5, 7)
	x.Data[0], x.Data[1], x.Data[2], x.Data[3] = 100, -100, 1000, -1000
	tp := NewTape(2)
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		name string
		got  *Var
		ref  func(v float64) float64
	}{
		{"clip", tp.Clip(tp.Constant(x), -0.5, 0.8), func(v float64) float64 { return math.Min(math.Max(v, -0.5), 0.8) }},
		{"relu6", tp.Clip(tp.Constant(x), 0, 6), func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }},
		{"clip-low", tp.Clip(tp.Constant(x), -inf, 0.3), func(v float64) float64 { return math.Min(v, 0.3) }},
		{"clip-high", tp.Clip(tp.Constant(x), -0.2, inf), func(v float64) float64 { return math.Max(v, -0.2) }},
		{"leakyrelu", tp.LeakyReLU(tp.Constant(x), 0.01), func(v float64) float64 {
			if v > 0 {
				return v
			}
			return 0.01 * v
		}},
		{"sigmoid", tp.Sigmoid(tp.Constant(x)), func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
	} {
		want := make([]float64, x.Len())
		for i, v := range x.Data {
			want[i] = c.ref(float64(v))
		}
		if err := closeTo(c.got.Value, x.Shape, want); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPadResizeDepthToSpaceForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const n, h, w, c = 2, 3, 4, 8
	x := randTensor(rng, n, h, w, c)
	at := func(b, i, j, k int) float64 { return float64(x.Data[((b*h+i)*w+j)*c+k]) }
	tp := NewTape(3)

	// Pad: top 2, left 1, bottom 0, right 3.
	y := tp.Pad(tp.Constant(x), 2, 1, 0, 3, -7).Value
	var want []float64
	for b := 0; b < n; b++ {
		for i := 0; i < h+2; i++ {
			for j := 0; j < w+4; j++ {
				for k := 0; k < c; k++ {
					if ii, jj := i-2, j-1; ii >= 0 && ii < h && jj >= 0 && jj < w {
						want = append(want, at(b, ii, jj, k))
					} else {
						want = append(want, -7)
					}
				}
			}
		}
	}
	if err := closeTo(y, []int{n, h + 2, w + 4, c}, want); err != nil {
		t.Errorf("pad: %v", err)
	}

	// ResizeNearest by 3×2, against ONNX's asymmetric/floor coordinate
	// mapping and its half_pixel/round_prefer_floor one.
	y = tp.ResizeNearest(tp.Constant(x), 3, 2).Value
	for _, halfPixel := range []bool{false, true} {
		want = want[:0]
		src := func(o, s, size int) int {
			if !halfPixel {
				return int(math.Floor(float64(o) / float64(s)))
			}
			f := (float64(o)+0.5)/float64(s) - 0.5
			i := int(math.Ceil(f - 0.5)) // round half down
			return min(max(i, 0), size-1)
		}
		for b := 0; b < n; b++ {
			for i := 0; i < 3*h; i++ {
				for j := 0; j < 2*w; j++ {
					for k := 0; k < c; k++ {
						want = append(want, at(b, src(i, 3, h), src(j, 2, w), k))
					}
				}
			}
		}
		if err := closeTo(y, []int{n, 3 * h, 2 * w, c}, want); err != nil {
			t.Errorf("resize (half pixel %v): %v", halfPixel, err)
		}
	}

	// DepthToSpace with r = 2, C = 2 in both modes.
	for _, dcr := range []bool{false, true} {
		y = tp.DepthToSpace(tp.Constant(x), 2, dcr).Value
		want = want[:0]
		for b := 0; b < n; b++ {
			for i := 0; i < 2*h; i++ {
				for j := 0; j < 2*w; j++ {
					for k := 0; k < c/4; k++ {
						ch := k*4 + i%2*2 + j%2 // CRD
						if dcr {
							ch = (i%2*2+j%2)*(c/4) + k
						}
						want = append(want, at(b, i/2, j/2, ch))
					}
				}
			}
		}
		if err := closeTo(y, []int{n, 2 * h, 2 * w, c / 4}, want); err != nil {
			t.Errorf("depth to space (DCR %v): %v", dcr, err)
		}
	}
}

func TestPaddedPoolForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct{ n, h, w, ch, k, s, p int }{
		{2, 5, 6, 3, 3, 2, 1}, {1, 4, 4, 2, 2, 2, 1}, {1, 5, 5, 2, 3, 1, 2}, {2, 7, 5, 3, 3, 3, 1}, {1, 6, 6, 4, 2, 1, 0},
	} {
		x := randTensor(rng, c.n, c.h, c.w, c.ch)
		for i := range x.Data {
			if i%5 == 0 {
				x.Data[i] -= 10 // windows whose real pixels are all negative
			}
		}
		oh, ow := (c.h+2*c.p-c.k)/c.s+1, (c.w+2*c.p-c.k)/c.s+1
		shape := []int{c.n, oh, ow, c.ch}
		tp := NewTape(2)
		mx := tp.MaxPoolPad(tp.Constant(x), c.k, c.s, c.p).Value
		inc := tp.AvgPoolPad(tp.Constant(x), c.k, c.s, c.p, true).Value
		exc := tp.AvgPoolPad(tp.Constant(x), c.k, c.s, c.p, false).Value
		var wmax, winc, wexc []float64
		for n := 0; n < c.n; n++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					for ch := 0; ch < c.ch; ch++ {
						best, sum, cnt := math.Inf(-1), 0.0, 0
						for a := 0; a < c.k; a++ {
							for b := 0; b < c.k; b++ {
								hh, ww := i*c.s-c.p+a, j*c.s-c.p+b
								if hh < 0 || ww < 0 || hh >= c.h || ww >= c.w {
									continue
								}
								v := float64(x.Data[((n*c.h+hh)*c.w+ww)*c.ch+ch])
								best, sum, cnt = math.Max(best, v), sum+v, cnt+1
							}
						}
						wmax = append(wmax, best)
						winc = append(winc, sum/float64(c.k*c.k))
						wexc = append(wexc, sum/float64(cnt))
					}
				}
			}
		}
		if err := closeTo(mx, shape, wmax); err != nil {
			t.Errorf("%+v max: %v", c, err)
		}
		if err := closeTo(inc, shape, winc); err != nil {
			t.Errorf("%+v average, padding counted: %v", c, err)
		}
		if err := closeTo(exc, shape, wexc); err != nil {
			t.Errorf("%+v average, padding not counted: %v", c, err)
		}
	}
}

// convTransposeRef is the scatter definition of the transposed
// convolution, in float64.
func convTransposeRef(x, w, b *tensor.Tensor, o ConvTransposeOptions) ([]int, []float64) {
	s, g := max(o.Stride, 1), max(o.Groups, 1)
	n, h, wd, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	kh, kw, cog := w.Shape[1], w.Shape[2], w.Shape[3]
	cout, cig := cog*g, cin/g
	oh, ow := (h-1)*s-2*o.Pad+kh+o.OutputPad, (wd-1)*s-2*o.Pad+kw+o.OutputPad
	y := make([]float64, n*oh*ow*cout)
	for i := 0; i < n*oh*ow; i++ {
		for co := 0; co < cout && b != nil; co++ {
			y[i*cout+co] = float64(b.Data[co])
		}
	}
	for bn := 0; bn < n; bn++ {
		for ih := 0; ih < h; ih++ {
			for iw := 0; iw < wd; iw++ {
				for ci := 0; ci < cin; ci++ {
					xv := float64(x.Data[((bn*h+ih)*wd+iw)*cin+ci])
					grp := ci / cig
					for a := 0; a < kh; a++ {
						for bb := 0; bb < kw; bb++ {
							yh, yw := ih*s-o.Pad+a, iw*s-o.Pad+bb
							if yh < 0 || yw < 0 || yh >= oh || yw >= ow {
								continue
							}
							for co := 0; co < cog; co++ {
								y[((bn*oh+yh)*ow+yw)*cout+grp*cog+co] += xv * float64(w.Data[((ci*kh+a)*kw+bb)*cog+co])
							}
						}
					}
				}
			}
		}
	}
	return []int{n, oh, ow, cout}, y
}

func TestConvTransposeMatchesScatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, c := range []struct {
		n, h, w, cin, cout, kh, kw int
		o                          ConvTransposeOptions
		bias                       bool
	}{
		{1, 3, 3, 1, 1, 3, 3, ConvTransposeOptions{}, false},
		{2, 4, 3, 3, 5, 3, 3, ConvTransposeOptions{Stride: 2, Pad: 1}, true},
		{2, 3, 4, 4, 6, 4, 3, ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1, Groups: 2}, true},
		{1, 5, 5, 3, 3, 3, 3, ConvTransposeOptions{Stride: 3, Pad: 2, OutputPad: 2, Groups: 3}, false},
		{2, 3, 3, 4, 2, 1, 1, ConvTransposeOptions{}, true},
		{1, 4, 4, 2, 4, 1, 1, ConvTransposeOptions{Stride: 2, OutputPad: 1}, true},
		{1, 4, 4, 2, 2, 2, 2, ConvTransposeOptions{Pad: 1}, false},
		{4, 12, 10, 8, 16, 4, 4, ConvTransposeOptions{Stride: 2, Pad: 1}, true}, // large enough for threads
	} {
		g := max(c.o.Groups, 1)
		x := randTensor(rng, c.n, c.h, c.w, c.cin)
		w := randTensor(rng, c.cin, c.kh, c.kw, c.cout/g)
		var b *tensor.Tensor
		var bv *Var
		tp := NewTape(4)
		if c.bias {
			b = randTensor(rng, c.cout)
			bv = tp.Constant(b)
		}
		y := tp.ConvTranspose2d(tp.Constant(x), tp.Constant(w), bv, c.o).Value
		shape, want := convTransposeRef(x, w, b, c.o)
		if err := closeTo(y, shape, want); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestConvTransposeByHand checks a case small enough to compute on paper:
// a 2×2 image through a 2×2 kernel of ones, stride 1 and stride 2.
func TestConvTransposeByHand(t *testing.T) {
	x := tensor.FromData([]float32{1, 2, 3, 4}, 1, 2, 2, 1)
	w := tensor.FromData([]float32{1, 1, 1, 1}, 1, 2, 2, 1)
	tp := NewTape(1)
	y := tp.ConvTranspose2d(tp.Constant(x), tp.Constant(w), nil, ConvTransposeOptions{}).Value
	if err := closeTo(y, []int{1, 3, 3, 1}, []float64{1, 3, 2, 4, 10, 6, 3, 7, 4}); err != nil {
		t.Errorf("stride 1: %v", err)
	}
	y = tp.ConvTranspose2d(tp.Constant(x), tp.Constant(w), nil, ConvTransposeOptions{Stride: 2}).Value
	if err := closeTo(y, []int{1, 4, 4, 1}, []float64{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}); err != nil {
		t.Errorf("stride 2: %v", err)
	}
	// Padding 1 with output padding 1 crops the first row and column.
	b := tensor.FromData([]float32{0.5}, 1)
	y = tp.ConvTranspose2d(tp.Constant(x), tp.Constant(w), tp.Constant(b), ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1}).Value
	if err := closeTo(y, []int{1, 3, 3, 1}, []float64{1.5, 2.5, 2.5, 3.5, 4.5, 4.5, 3.5, 4.5, 4.5}); err != nil {
		t.Errorf("stride 2, padding 1, output padding 1: %v", err)
	}
}

// TestConvTransposeIsAdjoint checks ⟨Conv2d(a; w), c⟩ = ⟨a, ConvTranspose2d(c; w)⟩
// for a weight shared between the two, which is what makes it the
// transposed convolution; output padding recovers the sizes the
// convolution's stride rounds down.
func TestConvTransposeIsAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	w := randTensor(rng, 6, 3, 3, 2) // Conv2d: 4 → 6 channels in 2 groups
	for _, size := range []int{7, 8} {
		a := randTensor(rng, 2, size, size, 4)
		tp := NewTape(2)
		conv := tp.Conv2d(tp.Constant(a), tp.Constant(w), nil, ConvOptions{Stride: 2, Pad: 1, Groups: 2}).Value
		c := randTensor(rng, conv.Shape...)
		o := ConvTransposeOptions{Stride: 2, Pad: 1, Groups: 2, OutputPad: size - 7}
		back := tp.ConvTranspose2d(tp.Constant(c), tp.Constant(w), nil, o).Value
		if fmt.Sprint(back.Shape) != fmt.Sprint(a.Shape) {
			t.Fatalf("size %d: transposed convolution gives %v, want %v", size, back.Shape, a.Shape)
		}
		var lhs, rhs float64
		for i, v := range conv.Data {
			lhs += float64(v) * float64(c.Data[i])
		}
		for i, v := range a.Data {
			rhs += float64(v) * float64(back.Data[i])
		}
		if math.Abs(lhs-rhs) > 1e-3*math.Max(1, math.Abs(lhs)) {
			t.Errorf("size %d: ⟨conv(a), c⟩ = %v, ⟨a, convT(c)⟩ = %v", size, lhs, rhs)
		}
	}
}

// TestImporterOpThreads checks that forward and backward passes big enough
// to be split over goroutines give the single-threaded results.
func TestImporterOpThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := randTensor(rng, 3, 24, 24, 24) // above minParallel
	w := randTensor(rng, 24, 3, 3, 8)
	ops := map[string]func(tp *Tape, x, w *Var) *Var{
		"clip":      func(tp *Tape, x, w *Var) *Var { return tp.Clip(x, -0.5, 0.5) },
		"leakyrelu": func(tp *Tape, x, w *Var) *Var { return tp.LeakyReLU(x, 0.2) },
		"sigmoid":   func(tp *Tape, x, w *Var) *Var { return tp.Sigmoid(x) },
		"pad":       func(tp *Tape, x, w *Var) *Var { return tp.Pad(x, 1, 2, 3, 4, 0) },
		"resize":    func(tp *Tape, x, w *Var) *Var { return tp.ResizeNearest(x, 2, 2) },
		"dcr":       func(tp *Tape, x, w *Var) *Var { return tp.DepthToSpace(x, 2, true) },
		"maxpool":   func(tp *Tape, x, w *Var) *Var { return tp.MaxPoolPad(x, 3, 2, 1) },
		"avgpool":   func(tp *Tape, x, w *Var) *Var { return tp.AvgPoolPad(x, 3, 2, 1, false) },
		"convtranspose": func(tp *Tape, x, w *Var) *Var {
			return tp.ConvTranspose2d(x, w, nil, ConvTransposeOptions{Stride: 2, Pad: 1, OutputPad: 1, Groups: 2})
		},
	}
	for name, op := range ops {
		var vals, gxs, gws [2][]float32
		for i, th := range []int{1, 4} {
			tp := NewTape(th)
			gx, gw := tensor.New(x.Shape...), tensor.New(w.Shape...)
			y := op(tp, tp.Leaf(x, gx), tp.Leaf(w, gw))
			tp.Backward(weighted(tp, y, 5))
			vals[i], gxs[i], gws[i] = append([]float32(nil), y.Value.Data...), gx.Data, gw.Data
		}
		for k, pair := range map[string][2][]float32{"value": {vals[0], vals[1]}, "input gradient": {gxs[0], gxs[1]}, "weight gradient": {gws[0], gws[1]}} {
			for i := range pair[0] {
				if d := pair[0][i] - pair[1][i]; d > 1e-3 || d < -1e-3 {
					t.Errorf("%s: %s %d: %v with one thread, %v with four", name, k, i, pair[0][i], pair[1][i])
					break
				}
			}
		}
	}
}

// TestMaxPoolBiasMatchesUnfused checks the fused pool, bias and ReLU
// against the three ops it replaces: the same values bit for bit
// (including NaN, infinities and ties) and the same gradients up to the
// bias gradient's order of summation.
func TestMaxPoolBiasMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		n, h, w, ch, k, s int
		relu, bias        bool
	}{
		{3, 26, 26, 32, 2, 2, true, true}, {2, 11, 11, 64, 2, 2, true, true}, {2, 7, 5, 3, 3, 2, false, true},
		{1, 6, 6, 5, 2, 2, true, false}, {2, 9, 9, 4, 3, 3, true, true},
	} {
		x := randTensor(rng, c.n, c.h, c.w, c.ch)
		for i := range x.Data {
			switch rng.IntN(40) {
			case 0:
				x.Data[i] = float32(math.NaN())
			case 1:
				x.Data[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
			case 2:
				x.Data[i] = x.Data[max(i-c.ch, 0)] // a tie with the pixel before
			}
		}
		b := randTensor(rng, c.ch)
		run := func(fused bool) (out, gx, gb *tensor.Tensor) {
			tp := NewTape(2)
			gx, gb = tensor.New(x.Shape...), tensor.New(c.ch)
			xv := tp.Leaf(x, gx)
			var bv *Var
			if c.bias {
				bv = tp.Leaf(b, gb)
			}
			var y *Var
			if fused {
				y = tp.MaxPoolBias(xv, bv, c.relu, c.k, c.s)
			} else {
				y = xv
				if c.bias {
					y = addBias(tp, y, bv)
				}
				if c.relu {
					y = tp.ReLU(y)
				}
				y = tp.MaxPool(y, c.k, c.s)
			}
			out = tensor.FromData(append([]float32(nil), y.Value.Data...), y.Value.Shape...)
			// Backward from a weighted sum of the finite outputs.
			loss := tp.NewValue(1)
			w := make([]float32, y.Value.Len())
			for i, v := range y.Value.Data {
				if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
					w[i] = float32(rng.NormFloat64())
					loss.Data[0] += v * w[i]
				}
			}
			tp.Backward(tp.Custom(loss, func(d *tensor.Tensor, g []*tensor.Tensor) {
				for i := range g[0].Data {
					g[0].Data[i] += d.Data[0] * w[i]
				}
			}, y))
			return out, gx, gb
		}
		seed := rng.Uint64()
		rng = rand.New(rand.NewPCG(seed, 1))
		want, wgx, wgb := run(false)
		rng = rand.New(rand.NewPCG(seed, 1))
		got, ggx, ggb := run(true)
		for i := range got.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%+v: output %d is %v, unfused %v", c, i, got.Data[i], want.Data[i])
			}
		}
		for i := range ggx.Data {
			if ggx.Data[i] != wgx.Data[i] && !(math.IsNaN(float64(ggx.Data[i])) && math.IsNaN(float64(wgx.Data[i]))) {
				t.Fatalf("%+v: x gradient %d is %v, unfused %v", c, i, ggx.Data[i], wgx.Data[i])
			}
		}
		for i := range ggb.Data {
			if d := math.Abs(float64(ggb.Data[i] - wgb.Data[i])); d > 1e-4*math.Max(1, math.Abs(float64(wgb.Data[i]))) {
				t.Fatalf("%+v: bias gradient %d is %v, unfused %v", c, i, ggb.Data[i], wgb.Data[i])
			}
		}
	}
}

// addBias adds the per-channel b to every pixel of x, as a Custom op.
func addBias(tp *Tape, x, b *Var) *Var {
	c := b.Value.Len()
	out := tp.NewValue(x.Value.Shape...)
	for i, v := range x.Value.Data {
		out.Data[i] = v + b.Value.Data[i%c]
	}
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		for i, dv := range d.Data {
			g[0].Data[i] += dv
			g[1].Data[i%c] += dv
		}
	}, x, b)
}
