package qonnx

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func randTensor(r *rand.Rand, shape ...int) *Tensor {
	n, _ := numElements(shape)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return NewFloat(x, shape...)
}

// naiveConv is an independent 7-loop convolution: out[n,o,y,x] = b[o] +
// Σ_{c,i,j} w[o,c,i,j]·in[n, g·cg+c, y·sh−pt+i·dh, x·sw−pl+j·dw].
func naiveConv(x, w *Tensor, b []float32, group, sh, sw, dh, dw, pt, pl, pb, pr int) *Tensor {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	M, cg, KH, KW := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	_ = C
	OH := (H+pt+pb-dh*(KH-1)-1)/sh + 1
	OW := (W+pl+pr-dw*(KW-1)-1)/sw + 1
	out := make([]float32, N*M*OH*OW)
	for n := 0; n < N; n++ {
		for o := 0; o < M; o++ {
			g := o / (M / group)
			for y := 0; y < OH; y++ {
				for xx := 0; xx < OW; xx++ {
					var s float64
					if b != nil {
						s = float64(b[o])
					}
					for c := 0; c < cg; c++ {
						for i := 0; i < KH; i++ {
							for j := 0; j < KW; j++ {
								iy, ix := y*sh-pt+i*dh, xx*sw-pl+j*dw
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								s += float64(w.Float[((o*cg+c)*KH+i)*KW+j]) * float64(x.Float[((n*x.Shape[1]+g*cg+c)*H+iy)*W+ix])
							}
						}
					}
					out[((n*M+o)*OH+y)*OW+xx] = float32(s)
				}
			}
		}
	}
	return NewFloat(out, N, M, OH, OW)
}

func maxAbsDiff(t *testing.T, a, b *Tensor) float64 {
	t.Helper()
	if !slices.Equal(a.Shape, b.Shape) {
		t.Fatalf("shapes differ: %v vs %v", a.Shape, b.Shape)
	}
	var d float64
	for i := range a.Float {
		d = max(d, math.Abs(float64(a.Float[i]-b.Float[i])))
	}
	return d
}

func TestConvMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name                           string
		n, c, h, w, m, kh, kw, group   int
		sh, sw, dh, dw, pt, pl, pb, pr int
		bias                           bool
	}{
		{"plain", 1, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, false},
		{"pads", 2, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
		{"asym-pads-stride", 1, 4, 9, 7, 6, 3, 2, 1, 2, 3, 1, 1, 2, 0, 1, 3, true},
		{"groups", 1, 6, 6, 6, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
		{"depthwise", 1, 4, 5, 5, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, false},
		{"dilation", 1, 2, 9, 9, 3, 3, 3, 1, 1, 1, 2, 3, 2, 2, 2, 2, true},
		{"5x5", 1, 3, 8, 8, 2, 5, 5, 1, 1, 1, 1, 1, 2, 2, 2, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(r, tc.m, tc.c/tc.group, tc.kh, tc.kw)
			var b []float32
			in := []*Tensor{x, w}
			if tc.bias {
				bt := randTensor(r, tc.m)
				b = bt.Float
				in = append(in, bt)
			}
			n := &Node{Name: "c", OpType: "Conv", Attrs: map[string]*Attr{}}
			for _, a := range []*Attr{IntAttr("group", int64(tc.group)), IntsAttr("strides", int64(tc.sh), int64(tc.sw)),
				IntsAttr("dilations", int64(tc.dh), int64(tc.dw)), IntsAttr("pads", int64(tc.pt), int64(tc.pl), int64(tc.pb), int64(tc.pr))} {
				n.Attrs[a.Name] = a
			}
			got, err := opConv(n, in, env{opset: 11})
			if err != nil {
				t.Fatal(err)
			}
			want := naiveConv(x, w, b, tc.group, tc.sh, tc.sw, tc.dh, tc.dw, tc.pt, tc.pl, tc.pb, tc.pr)
			if d := maxAbsDiff(t, got[0], want); d > 1e-4 {
				t.Fatalf("max |diff| = %g", d)
			}
		})
	}
}

func node(op string, attrs ...*Attr) *Node {
	n := &Node{Name: op + "_test", OpType: op, Attrs: map[string]*Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	return n
}

func seq(shape ...int) *Tensor {
	n, _ := numElements(shape)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return NewFloat(x, shape...)
}

func TestDepthToSpace(t *testing.T) {
	const N, C, H, W, b = 2, 8, 3, 2, 2
	x := seq(N, C, H, W)
	for _, mode := range []string{"DCR", "CRD"} {
		out, err := opDepthToSpace(node("DepthToSpace", IntAttr("blocksize", b), StringAttr("mode", mode)), []*Tensor{x}, env{opset: 11})
		if err != nil {
			t.Fatal(err)
		}
		y := out[0]
		co := C / (b * b)
		if !slices.Equal(y.Shape, []int{N, co, H * b, W * b}) {
			t.Fatalf("%s: shape %v", mode, y.Shape)
		}
		for n := 0; n < N; n++ {
			for c := 0; c < co; c++ {
				for h := 0; h < H*b; h++ {
					for w := 0; w < W*b; w++ {
						i, j := h%b, w%b
						var src int
						if mode == "DCR" { // ONNX spec: depth is (block row, block col, channel)
							src = (i*b+j)*co + c
						} else { // CRD: (channel, block row, block col)
							src = c*b*b + i*b + j
						}
						want := x.Float[((n*C+src)*H+h/b)*W+w/b]
						if got := y.Float[((n*co+c)*H*b+h)*W*b+w]; got != want {
							t.Fatalf("%s: y[%d,%d,%d,%d] = %v, want %v", mode, n, c, h, w, got, want)
						}
					}
				}
			}
		}
	}
}

func TestResizeNearest(t *testing.T) {
	x := seq(1, 1, 2, 3)
	n := node("Resize", StringAttr("mode", "nearest"), StringAttr("coordinate_transformation_mode", "asymmetric"), StringAttr("nearest_mode", "floor"))
	out, err := opResize(n, []*Tensor{x, NewFloat(nil, 0), NewFloat([]float32{1, 1, 2, 2}, 4)}, env{opset: 11})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 3, 3, 4, 4, 5, 5}
	if !slices.Equal(out[0].Shape, []int{1, 1, 4, 6}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	for i, v := range want {
		if out[0].Float[i] != v {
			t.Fatalf("y = %v, want %v", out[0].Float, want)
		}
	}
}

func TestPoolsAndShapes(t *testing.T) {
	x := seq(1, 1, 4, 4)
	cases := []struct {
		name  string
		f     opFunc
		n     *Node
		in    []*Tensor
		shape []int
		want  []float32
	}{
		{"maxpool", opPool(true), node("MaxPool", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2)), []*Tensor{x}, []int{1, 1, 2, 2}, []float32{5, 7, 13, 15}},
		{"maxpool-ceil", opPool(true), node("MaxPool", IntsAttr("kernel_shape", 3, 3), IntsAttr("strides", 2, 2), IntAttr("ceil_mode", 1)), []*Tensor{x}, []int{1, 1, 2, 2}, []float32{10, 11, 14, 15}},
		{"avgpool-pad", opPool(false), node("AveragePool", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2), IntsAttr("pads", 1, 1, 1, 1)), []*Tensor{x}, []int{1, 1, 3, 3},
			[]float32{0, 1.5, 3, 6, 7.5, 9, 12, 13.5, 15}},
		{"gap", opGlobalAveragePool, node("GlobalAveragePool"), []*Tensor{x}, []int{1, 1, 1, 1}, []float32{7.5}},
		{"transpose", opTranspose, node("Transpose", IntsAttr("perm", 0, 1, 3, 2)), []*Tensor{seq(1, 1, 2, 3)}, []int{1, 1, 3, 2}, []float32{0, 3, 1, 4, 2, 5}},
		{"reshape", opReshape, node("Reshape"), []*Tensor{seq(2, 3, 2), NewInt([]int64{0, -1}, 2)}, []int{2, 6}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"flatten", opFlatten, node("Flatten"), []*Tensor{seq(2, 1, 2)}, []int{2, 2}, []float32{0, 1, 2, 3}},
		{"pad", opPad, node("Pad"), []*Tensor{seq(1, 2), NewInt([]int64{0, 1, 0, 2}, 4), NewFloat([]float32{-1})}, []int{1, 5}, []float32{-1, 0, 1, -1, -1}},
		{"pad-edge", opPad, node("Pad", StringAttr("mode", "edge")), []*Tensor{seq(1, 2), NewInt([]int64{0, 2, 0, 1}, 4)}, []int{1, 5}, []float32{0, 0, 0, 1, 1}},
		{"pad-reflect", opPad, node("Pad", StringAttr("mode", "reflect")), []*Tensor{seq(1, 3), NewInt([]int64{0, 2, 0, 2}, 4)}, []int{1, 7}, []float32{2, 1, 0, 1, 2, 1, 0}},
		{"concat", opConcat, node("Concat", IntAttr("axis", 1)), []*Tensor{seq(2, 1), seq(2, 2)}, []int{2, 3}, []float32{0, 0, 1, 1, 2, 3}},
		{"add-broadcast", ops["Add"], node("Add"), []*Tensor{seq(2, 3), NewFloat([]float32{10, 20}, 2, 1)}, []int{2, 3}, []float32{10, 11, 12, 23, 24, 25}},
		{"div", ops["Div"], node("Div"), []*Tensor{seq(1, 3), NewFloat([]float32{2})}, []int{1, 3}, []float32{0, 0.5, 1}},
		{"matmul", opMatMul, node("MatMul"), []*Tensor{seq(2, 3), seq(3, 2)}, []int{2, 2}, []float32{10, 13, 28, 40}},
		{"gemm-transB", opGemm, node("Gemm", IntAttr("transB", 1), FloatAttr("alpha", 2)), []*Tensor{seq(1, 3), seq(2, 3), NewFloat([]float32{1, -1}, 2)}, []int{1, 2}, []float32{11, 27}},
		{"clip", opClip, node("Clip"), []*Tensor{seq(1, 4), NewFloat([]float32{1}), NewFloat([]float32{2})}, []int{1, 4}, []float32{1, 1, 2, 2}},
		{"batchnorm", opBatchNorm, node("BatchNormalization", FloatAttr("epsilon", 0)), []*Tensor{seq(1, 2, 1, 1), NewFloat([]float32{2, 1}, 2), NewFloat([]float32{1, 0}, 2), NewFloat([]float32{0, 1}, 2), NewFloat([]float32{4, 1}, 2)}, []int{1, 2, 1, 1}, []float32{1, 0}},
		{"relu", ops["Relu"], node("Relu"), []*Tensor{NewFloat([]float32{-1, 0, 2}, 3)}, []int{3}, []float32{0, 0, 2}},
		{"unsqueeze", opSqueeze(true), node("Unsqueeze", IntsAttr("axes", 0)), []*Tensor{seq(2)}, []int{1, 2}, []float32{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.f(tc.n, tc.in, env{opset: 11})
			if err != nil {
				t.Fatal(err)
			}
			y := out[0]
			if !slices.Equal(y.Shape, tc.shape) {
				t.Fatalf("shape %v, want %v", y.Shape, tc.shape)
			}
			for i, v := range tc.want {
				if math.Abs(float64(y.Floats()[i]-v)) > 1e-6 {
					t.Fatalf("got %v, want %v", y.Floats(), tc.want)
				}
			}
		})
	}
}

func TestSigmoid(t *testing.T) {
	out, err := ops["Sigmoid"](node("Sigmoid"), []*Tensor{NewFloat([]float32{0, 2}, 2)}, env{opset: 11})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Float[0] != 0.5 || math.Abs(float64(out[0].Float[1])-1/(1+math.Exp(-2))) > 1e-7 {
		t.Fatalf("sigmoid = %v", out[0].Float)
	}
}

func TestRounding(t *testing.T) {
	cases := []struct {
		mode string
		in   []float64
		want []float64
	}{
		{"ROUND", []float64{0.5, 1.5, 2.5, -0.5, -1.5, 1.4, -1.6}, []float64{0, 2, 2, 0, -2, 1, -2}},
		{"FLOOR", []float64{0.5, -0.5, 1.9}, []float64{0, -1, 1}},
		{"CEIL", []float64{0.5, -0.5, 1.1}, []float64{1, 0, 2}},
		{"ROUND_TO_ZERO", []float64{1.9, -1.9}, []float64{1, -1}},
		{"HALF_UP", []float64{0.5, -0.5, 2.5}, []float64{1, -1, 3}},
		{"HALF_DOWN", []float64{0.5, -0.5, 2.5, 2.6}, []float64{0, 0, 2, 3}},
		{"UP", []float64{0.1, -0.1}, []float64{1, -1}},
		{"round", []float64{3.5}, []float64{4}},
	}
	for _, tc := range cases {
		r, err := ParseRounding(tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range tc.in {
			if got := r.Apply(x); got != tc.want[i] {
				t.Errorf("%s(%v) = %v, want %v", tc.mode, x, got, tc.want[i])
			}
		}
	}
	if _, err := ParseRounding("STOCHASTIC"); err == nil {
		t.Error("unknown rounding mode accepted")
	}
}

func TestQuantize(t *testing.T) {
	x := NewFloat([]float32{-10, -1.25, -0.3, 0.25, 0.75, 1.1, 10}, 7)
	s := NewFloat([]float32{0.5})
	z := NewFloat([]float32{0})
	cases := []struct {
		p    QuantParams
		want []float32 // in units of the scale
	}{
		{QuantParams{Bits: 3, Signed: true}, []float32{-4, -2, -1, 0, 2, 2, 3}},
		{QuantParams{Bits: 3, Signed: true, Narrow: true}, []float32{-3, -2, -1, 0, 2, 2, 3}},
		{QuantParams{Bits: 2, Signed: false}, []float32{0, 0, 0, 0, 2, 2, 3}},
		{QuantParams{Bits: 2, Signed: false, Narrow: true}, []float32{0, 0, 0, 0, 2, 2, 2}},
		{QuantParams{Bits: 3, Signed: true, Rounding: RoundFloor}, []float32{-4, -3, -1, 0, 1, 2, 3}},
	}
	for _, tc := range cases {
		y, err := quantize(x, s, z, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range tc.want {
			if y.Float[i] != v*0.5 {
				t.Fatalf("%+v: got %v, want %v·0.5", tc.p, y.Float, tc.want)
			}
		}
	}
	// Per-channel scale and a zero point: y = s·(clamp(round(x/s + z)) − z).
	y, err := quantize(NewFloat([]float32{1, 1, 1, 1}, 2, 2), NewFloat([]float32{0.5, 0.25}, 2, 1), NewFloat([]float32{1}), QuantParams{Bits: 2, Signed: false})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: round(2+1)=3 → (3−1)·0.5 = 1. Row 1: round(4+1)=5 → clamp 3 → (3−1)·0.25 = 0.5.
	if want := []float32{1, 1, 0.5, 0.5}; y.Float[0] != want[0] || y.Float[2] != want[2] {
		t.Fatalf("per-channel quantize = %v, want %v", y.Float, want)
	}
	if _, err := quantize(x, NewFloat([]float32{0}), z, QuantParams{Bits: 4, Signed: true}); err == nil {
		t.Fatal("zero scale accepted")
	}
}

func TestQuantParamsErrors(t *testing.T) {
	cases := []struct {
		name  string
		n     *Node
		bits  *Tensor
		inErr string
	}{
		{"bits-zero", node("Quant"), NewFloat([]float32{0}), "bit width"},
		{"bits-fraction", node("Quant"), NewFloat([]float32{3.5}), "bit width"},
		{"bits-huge", node("Quant"), NewFloat([]float32{64}), "bit width"},
		{"bits-narrow-1", node("Quant", IntAttr("narrow", 1)), NewFloat([]float32{1}), "bit width"},
		{"bits-vector", node("Quant"), NewFloat([]float32{4, 4}, 2), "bit width"},
		{"signed-string", node("Quant", StringAttr("signed", "yes")), NewFloat([]float32{4}), `attribute "signed"`},
		{"signed-2", node("Quant", IntAttr("signed", 2)), NewFloat([]float32{4}), `attribute "signed"`},
		{"rounding", node("Quant", StringAttr("rounding_mode", "DITHER")), NewFloat([]float32{4}), "rounding"},
		{"bits-missing", node("Quant"), nil, "not a constant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := quantParams(tc.n, tc.bits)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.inErr)
			}
			if !strings.Contains(err.Error(), tc.n.Name) {
				t.Fatalf("err = %v does not name node %s", err, tc.n.Name)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	m := loadFixture(t, subpixelQuant)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := m.Graph.Inputs[0]
	_, err := m.Run(ctx, map[string]*Tensor{in.Name: randTensor(rand.New(rand.NewPCG(1, 1)), 1, 3, 8, 8)}, RunOptions{})
	if err == nil {
		t.Fatal("cancelled run succeeded")
	}
}
