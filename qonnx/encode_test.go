package qonnx

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// builtModel is a small QONNX network made with the builder:
// x → Quant(u4) → Conv 3×3 (2→3, pads 1) + bias → Relu → Quant(u3) →
// Flatten → MatMul with Transpose(Quant(weights [4, 75])) → y.
type builtModel struct {
	m        *Model
	convQ    []int32 // [3][18]
	convS    []float32
	fcQ      []int32 // [4][75]
	fcS      []float32
	inScale  float32
	midScale float32
}

func buildModel(t *testing.T) builtModel {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	bm := builtModel{inScale: 0.0625, midScale: 0.25}
	bm.convQ = make([]int32, 3*18)
	for i := range bm.convQ {
		bm.convQ[i] = int32(r.IntN(15)) - 7
	}
	bm.convS = []float32{0.01, 0.02, 0.015}
	bm.fcQ = make([]int32, 4*75)
	for i := range bm.fcQ {
		if r.IntN(3) > 0 { // some sparsity
			bm.fcQ[i] = int32(r.IntN(255)) - 127
		}
	}
	bm.fcS = []float32{0.001, 0.002, 0.003, 0.004}
	b := NewGraph("built")
	b.AddInput("x", 1, 2, 5, 5)
	xq := b.AddQuant("in_quant", "x", NewFloat([]float32{bm.inScale}), 4, false, false)
	w := b.AddQuantWeights("conv_w", bm.convQ, []int{3, 2, 3, 3}, bm.convS, 4)
	b.AddInitializer("conv_b", NewFloat([]float32{0.1, -0.2, 0.05}, 3))
	c := b.AddConv("conv", xq, w, "conv_b", 3, 3, ConvParams{Pads: [4]int64{1, 1, 1, 1}})
	a := b.AddNode("Relu", "", "relu", []string{c}, 1)
	aq := b.AddQuant("mid_quant", a, NewFloat([]float32{bm.midScale}), 3, false, false)
	f := b.AddNode("Flatten", "", "flatten", []string{aq}, 1, IntAttr("axis", 1))
	fw := b.AddQuantWeights("fc_w", bm.fcQ, []int{4, 75}, bm.fcS, 8)
	fwt := b.AddNode("Transpose", "", "fc_wt", []string{fw}, 1, IntsAttr("perm", 1, 0))
	y := b.AddMatMul("fc", f, fwt)
	b.AddOutput(y, 1, 4)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	bm.m = m
	return bm
}

func l1Range(q []int32, out, k int, lo, hi int64) (l1 int64, accMin, accMax int64) {
	accMin, accMax = math.MaxInt64, math.MinInt64
	for c := 0; c < out; c++ {
		var pos, neg, s int64
		for _, v := range q[c*k : (c+1)*k] {
			if v > 0 {
				pos += int64(v)
			} else {
				neg -= int64(v)
			}
			s += abs64(int64(v))
		}
		l1 = max(l1, s)
		accMax = max(accMax, hi*pos-lo*neg)
		accMin = min(accMin, lo*pos-hi*neg)
	}
	return
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestBuilderRoundTrip(t *testing.T) {
	bm := buildModel(t)
	data, err := bm.m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := m.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2", len(layers))
	}
	conv, fc := layers[0], layers[1]
	if !conv.Certifiable() || !fc.Certifiable() {
		t.Fatalf("reasons: %q, %q", conv.Reason, fc.Reason)
	}
	if !reflect.DeepEqual(conv.Weights, bm.convQ) || !reflect.DeepEqual(fc.Weights, bm.fcQ) {
		t.Fatal("integer weights changed in the round trip")
	}
	if conv.K != 18 || conv.OutChannels != 3 || conv.InputBits != 4 || conv.InputSigned || conv.WeightBits != 4 || !conv.WeightNarrow {
		t.Fatalf("conv layer %+v", conv)
	}
	if fc.K != 75 || fc.OutChannels != 4 || fc.InputBits != 3 || fc.WeightBits != 8 || fc.Kind != "linear" {
		t.Fatalf("fc layer K=%d out=%d N=%d M=%d kind=%s", fc.K, fc.OutChannels, fc.InputBits, fc.WeightBits, fc.Kind)
	}
	for c, s := range bm.fcS {
		if float32(fc.WeightScale[c]) != s {
			t.Fatalf("fc scale %v, want %v", fc.WeightScale, bm.fcS)
		}
	}
	// The certificate's exact range, recomputed from the integers.
	r, err := Inspect(m, 20)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		q       []int32
		out, k  int
		hiInput int64
	}{{bm.convQ, 3, 18, 15}, {bm.fcQ, 4, 75, 7}} {
		l1, lo, hi := l1Range(tc.q, tc.out, tc.k, 0, tc.hiInput)
		c := r.Layers[i]
		if c.L1Max != l1 || c.AccMin != lo || c.AccMax != hi {
			t.Errorf("%s: l1 %d range [%d, %d], want l1 %d range [%d, %d]", c.Name, c.L1Max, c.AccMin, c.AccMax, l1, lo, hi)
		}
	}
	// A second round trip is byte-identical.
	again, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("Encode(Decode(Encode(m))) differs from Encode(m)")
	}
	// Float and integer execution agree.
	rr := rand.New(rand.NewPCG(2, 2))
	x := randTensor(rr, 1, 2, 5, 5)
	in := map[string]*Tensor{"x": x}
	fres, err := m.Run(context.Background(), in, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ires, err := m.Run(context.Background(), in, RunOptions{Integer: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ires.Layers) != 2 {
		t.Fatalf("%d integer layers", len(ires.Layers))
	}
	out := m.Graph.Outputs[0].Name
	if d := maxAbsDiff(t, fres.Outputs[out], ires.Outputs[out]); d > 1e-4 {
		t.Fatalf("float and integer outputs differ by %g", d)
	}
	if writeCheck(t, data) {
		t.Log("onnx.checker.check_model accepted the built model")
	}
}

func TestFixtureRoundTrip(t *testing.T) {
	for _, f := range allFixtures {
		m := loadFixture(t, f)
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		// The checker knows no Brevitas domain, and Debian's onnx 1.12
		// stops at IR version 8.
		if !m.HasQuant() && m.IRVersion <= 8 {
			writeCheck(t, data)
		}
		back, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(back.Graph.Nodes) != len(m.Graph.Nodes) || len(back.Graph.Initializers) != len(m.Graph.Initializers) {
			t.Fatalf("%s: graph changed in the round trip", f)
		}
		for name, tv := range m.Graph.Initializers {
			if !reflect.DeepEqual(back.Graph.Initializers[name], tv) {
				t.Fatalf("%s: initialiser %q changed", f, name)
			}
		}
		for i, n := range m.Graph.Nodes {
			if !reflect.DeepEqual(back.Graph.Nodes[i], n) {
				t.Fatalf("%s: node %s changed:\n%+v\n%+v", f, n.Name, n, back.Graph.Nodes[i])
			}
		}
	}
}

// writeCheck runs onnx.checker.check_model on the encoded model when a
// python3 with the onnx module is available; it reports whether it ran.
func writeCheck(t *testing.T, data []byte) bool {
	t.Helper()
	py := ""
	for _, cand := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import onnx").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Log("qonnx: python3 with onnx not found (Debian package python3-onnx); onnx.checker not run")
		return false
	}
	path := filepath.Join(t.TempDir(), "built.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker rejected the model: %v\n%s", err, out)
	}
	return true
}

// TestOverflowCounting builds a 1×1 conv whose partial sums are known:
// every weight is +7 and every input 15 (4-bit unsigned), so output o's
// running sum after i terms is 105·i, i = 1..16, peaking at 1680.
func TestOverflowCounting(t *testing.T) {
	const cin, cout, h, w = 16, 2, 3, 4
	q := make([]int32, cout*cin)
	for i := range q {
		q[i] = 7
	}
	b := NewGraph("ones")
	b.AddInput("x", 1, cin, h, w)
	xq := b.AddQuant("xq", "x", NewFloat([]float32{1}), 4, false, false)
	wq := b.AddQuantWeights("w", q, []int{cout, cin, 1, 1}, []float32{1, 1}, 4)
	y := b.AddConv("conv", xq, wq, "", 1, 1, ConvParams{})
	b.AddOutput(y)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(m, 12)
	if err != nil {
		t.Fatal(err)
	}
	// acc_max = 15·7·16 = 1680 needs ceil(log2(1681)) + 1 = 12 bits.
	if c := r.Layers[0]; c.AccMax != 1680 || c.AccMin != 0 || c.AccBitsExact != 12 || !c.Certified {
		t.Fatalf("certificate %+v", c)
	}
	x := make([]float32, cin*h*w)
	for i := range x {
		x[i] = 100 // clamps to 15
	}
	cases := []struct {
		p               int
		overflows, outs int64
	}{
		{12, 0, 0},
		{11, 7 * cout * h * w, cout * h * w}, // 105·i > 1023 for i = 10..16
		{8, 15 * cout * h * w, cout * h * w}, // 105·i > 127 for i = 2..16
	}
	for _, tc := range cases {
		res, err := m.Run(context.Background(), map[string]*Tensor{"x": NewFloat(x, 1, cin, h, w)}, RunOptions{Integer: true, AccBits: tc.p})
		if err != nil {
			t.Fatal(err)
		}
		st := res.Layers[0]
		if st.Overflows != tc.overflows || st.OverflowedOutputs != tc.outs || st.AccMax != 1680 {
			t.Errorf("P=%d: %d overflows in %d outputs (max %d), want %d in %d (max 1680)", tc.p, st.Overflows, st.OverflowedOutputs, st.AccMax, tc.overflows, tc.outs)
		}
		for _, v := range res.Outputs[y].Float {
			if v != 1680 {
				t.Fatalf("P=%d: output %v, want 1680 (exact accumulation)", tc.p, v)
			}
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewGraph("bad")
	b.AddInput("x", 1, 1)
	b.AddQuant("q", "x", NewFloat([]float32{1}), 0, true, true)
	if _, err := b.Model(); err == nil {
		t.Error("0-bit Quant accepted")
	}
	b = NewGraph("bad")
	b.AddQuantWeights("w", []int32{9}, []int{1, 1}, []float32{1}, 4)
	if _, err := b.Model(); err == nil {
		t.Error("weight 9 accepted at 4 bits")
	}
	b = NewGraph("cycle")
	b.AddNode("Relu", "", "a", []string{"b_out"}, 1)
	b.AddNode("Relu", "", "b", []string{"a_out"}, 1)
	if _, err := b.Model(); err == nil {
		t.Error("cycle accepted")
	}
}
