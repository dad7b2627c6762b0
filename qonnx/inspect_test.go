package qonnx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestInspectFloatModels(t *testing.T) {
	for _, f := range []string{mnistFloat, residualFloat, subpixelFloat} {
		m := loadFixture(t, f)
		_, err := Inspect(m, 16)
		if !errors.Is(err, ErrNoQuant) {
			t.Fatalf("%s: err = %v, want ErrNoQuant", f, err)
		}
		for _, want := range []string{"no Quant nodes", f, "float model", "quantized QONNX"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", f, err, want)
			}
		}
	}
}

// Reference figures computed outside this package (numpy over the fixtures'
// initialisers: q = round(w / scale), l1 = max_c Σ|q_c|) and from the graphs
// (K = Cin·kh·kw; N, signedness from the Quant feeding each conv).
var fixtureLayers = map[string][]struct {
	name          string
	k, out, n, m  int
	l1            int64
	uncertifiable string // substring of the reason, "" if certifiable
}{
	subpixelQuant: {
		{"Conv_5", 75, 64, 0, 8, 0, `graph input "x.7"`},
		{"Conv_17", 576, 64, 4, 4, 191, ""},
		{"Conv_29", 576, 32, 4, 4, 176, ""},
		{"Conv_41", 288, 12, 4, 8, 3890, ""},
	},
	resizeQuant: {
		{"Conv_10", 75, 64, 8, 8, 5356, ""},
		{"Conv_22", 576, 64, 4, 4, 2801, ""},
		{"Conv_34", 576, 32, 4, 4, 2038, ""},
		{"Conv_48", 288, 3, 8, 8, 17928, ""},
	},
}

func ceilLog2(x float64) float64 { return math.Ceil(math.Log2(x)) }

func TestInspectFixtures(t *testing.T) {
	for file, want := range fixtureLayers {
		t.Run(file, func(t *testing.T) {
			m := loadFixture(t, file)
			r, err := Inspect(m, 16)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]int{}
			for i, c := range r.Layers {
				byName[c.Name] = i
			}
			unc := map[string]string{}
			for _, u := range r.Uncertifiable {
				unc[u.Name] = u.Reason
			}
			for _, w := range want {
				if w.uncertifiable != "" {
					if !strings.Contains(unc[w.name], w.uncertifiable) {
						t.Errorf("%s: reason %q, want one containing %q", w.name, unc[w.name], w.uncertifiable)
					}
					continue
				}
				i, ok := byName[w.name]
				if !ok {
					t.Fatalf("%s missing from report (uncertifiable: %v)", w.name, unc)
				}
				c := r.Layers[i]
				if c.K != w.k || c.OutChannels != w.out || c.InputBits != w.n || c.WeightBits != w.m || c.InputSigned || c.L1Max != w.l1 {
					t.Errorf("%s: K=%d out=%d N=%d M=%d signed=%v l1=%d, want K=%d out=%d N=%d M=%d unsigned l1=%d",
						w.name, c.K, c.OutChannels, c.InputBits, c.WeightBits, c.InputSigned, c.L1Max, w.k, w.out, w.n, w.m, w.l1)
				}
				// The formulas of docs/MATH.md (“Bounds”), evaluated here in float64.
				alpha := math.Log2(float64(w.k)) + float64(w.n+w.m) - 1
				if p := int(math.Ceil(alpha + math.Log2(1+math.Exp2(-alpha)) + 1)); c.AccBitsDatatype != p {
					t.Errorf("%s: acc_bits_datatype %d, want %d", w.name, c.AccBitsDatatype, p)
				}
				beta := math.Log2(float64(w.l1)) + float64(w.n)
				if p := int(math.Ceil(beta + math.Log2(1+math.Exp2(-beta)) + 1)); c.AccBitsL1 != p {
					t.Errorf("%s: acc_bits_l1 %d, want %d", w.name, c.AccBitsL1, p)
				}
				if !(c.AccBitsExact <= c.AccBitsL1 && c.AccBitsL1 <= c.AccBitsDatatype) {
					t.Errorf("%s: bounds out of order: %d %d %d", w.name, c.AccBitsExact, c.AccBitsL1, c.AccBitsDatatype)
				}
				if c.Certified != (c.AccBitsExact <= 16) {
					t.Errorf("%s: certified %v with P_exact %d at P=16", w.name, c.Certified, c.AccBitsExact)
				}
			}
			var buf bytes.Buffer
			if err := r.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if !strings.Contains(buf.String(), w.name) {
					t.Errorf("table does not list %s:\n%s", w.name, buf.String())
				}
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestIntegerLayersMatchFloat runs the ESPCN fixtures on a random image in
// float (fake-quant) and checks every certifiable layer's integer execution
// against the float conv on the same input: the dequantised integer result
// must agree with it within float32 rounding, in accumulator steps s_w·s_x.
func TestIntegerLayersMatchFloat(t *testing.T) {
	size := 48
	if testing.Short() {
		size = 16
	}
	for _, file := range []string{subpixelQuant, resizeQuant} {
		t.Run(file, func(t *testing.T) {
			m := loadFixture(t, file)
			r := rand.New(rand.NewPCG(7, 7))
			x := make([]float32, 3*size*size)
			for i := range x {
				x[i] = r.Float32()
			}
			in := map[string]*Tensor{m.Graph.Inputs[0].Name: NewFloat(x, 1, 3, size, size)}
			fres, err := m.Run(context.Background(), in, RunOptions{Keep: true})
			if err != nil {
				t.Fatal(err)
			}
			layers, err := m.Layers()
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for i := range layers {
				l := &layers[i]
				if !l.Certifiable() {
					continue
				}
				n := l.Node
				args := make([]*Tensor, len(n.Inputs))
				for j, name := range n.Inputs {
					args[j] = fres.Values[name]
				}
				out, st, err := runIntegerLayer(l, args, 64, 0, 0)
				if err != nil {
					t.Fatalf("%s: %v", l.Name, err)
				}
				if st.Overflows != 0 {
					t.Errorf("%s: %d overflows of a 64-bit accumulator", l.Name, st.Overflows)
				}
				want := fres.Values[n.Outputs[0]]
				plane := want.Len() / (want.Shape[0] * l.OutChannels)
				worst := 0.0
				for j, v := range out[0].Float {
					step := l.WeightScale[(j/plane)%l.OutChannels] * l.InputScale
					worst = max(worst, math.Abs(float64(v-want.Float[j]))/step)
				}
				// Float32 accumulation of K terms errs by at most about
				// K·2^-24·max|partial sum| (in steps).
				peak := float64(max(st.AccMax, -st.AccMin))
				if tol := 0.05 + float64(l.K)*math.Exp2(-24)*peak; worst > tol {
					t.Errorf("%s: integer and float results differ by %.3g accumulator steps (tolerance %.3g)", l.Name, worst, tol)
				}
				t.Logf("%s: max |integer − float| = %.3g accumulator steps (partial sums in [%d, %d])", l.Name, worst, st.AccMin, st.AccMax)
				checked++
			}
			if checked < 3 {
				t.Fatalf("only %d layers checked", checked)
			}
		})
	}
}

// TestIntegerRunAgrees runs the whole ESPCN graphs with the integer layers
// and compares every Quant node's integer output with the float run.
// Rounding of float32 conv sums can flip a value that lies on a rounding
// tie, so a tiny share of activations may differ by one step.
func TestIntegerRunAgrees(t *testing.T) {
	size := 40
	if testing.Short() {
		size = 16
	}
	for _, file := range []string{subpixelQuant, resizeQuant} {
		t.Run(file, func(t *testing.T) {
			m := loadFixture(t, file)
			r := rand.New(rand.NewPCG(3, 9))
			x := make([]float32, 3*size*size)
			for i := range x {
				x[i] = r.Float32()
			}
			in := map[string]*Tensor{m.Graph.Inputs[0].Name: NewFloat(x, 1, 3, size, size)}
			fres, err := m.Run(context.Background(), in, RunOptions{Keep: true})
			if err != nil {
				t.Fatal(err)
			}
			ires, err := m.Run(context.Background(), in, RunOptions{Keep: true, Integer: true, AccBits: 32})
			if err != nil {
				t.Fatal(err)
			}
			if len(ires.Layers) < 3 {
				t.Fatalf("%d layers ran as integers", len(ires.Layers))
			}
			var total, differ int
			for _, n := range m.Graph.Nodes {
				if !IsQuant(n) || m.Graph.Initializers[n.Inputs[0]] != nil {
					continue
				}
				a, b := fres.Values[n.Outputs[0]], ires.Values[n.Outputs[0]]
				scale, _ := m.Graph.Initializers[n.Inputs[1]].Scalar()
				for i := range a.Float {
					d := math.Abs(float64(a.Float[i]-b.Float[i])) / scale
					if d > 1.001 {
						t.Fatalf("Quant %s element %d differs by %.3g steps", n.Name, i, d)
					}
					if d > 0.5 {
						differ++
					}
					total++
				}
			}
			if frac := float64(differ) / float64(total); frac > 1e-3 {
				t.Fatalf("%d of %d activations differ (%.2g)", differ, total, frac)
			}
			t.Logf("%d of %d quantized activations differ by one step", differ, total)
		})
	}
}
