package intinfer

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/thresh"
)

// TestThresholdsMatchDirect checks the threshold requantisation against
// the float formula it replaces, for every accumulator in a range that
// spans all output levels, and at the ends of the search range.
func TestThresholdsMatchDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 40; trial++ {
		bits := []int{1, 2, 4, 8}[trial%4]
		signed := trial%3 == 0
		lo, hi := levels(bits, signed)
		scale := float32(math.Exp2(-20 + 16*rng.Float64()))
		s := float32(math.Exp2(-8 + 6*rng.Float64()))
		bias := float32(rng.NormFloat64()) * s * float32(hi-lo)
		th := make([]int64, hi-lo)
		Thresholds(scale, bias, s, lo, hi, th)
		f := func(acc int64) int32 {
			return int32(thresh.Quantize(thresh.Requant(float32(acc), scale, bias), s, float32(lo), float32(hi)))
		}
		count := func(acc int64) int32 {
			n := int32(0)
			for _, v := range th {
				if acc >= v {
					n++
				}
			}
			return lo + n
		}
		// The accumulator range in which f moves through its levels.
		span := int64(math.Ceil(float64(s) * float64(hi-lo+2) / float64(scale)))
		center := int64(-float64(bias) / float64(scale))
		step := max(1, 2*span/200000)
		for acc := center - span; acc <= center+span; acc += step {
			if got, want := count(acc), f(acc); got != want {
				t.Fatalf("trial %d (%d bits, signed %v, scale %g, bias %g, s %g): acc %d: thresholds give %d, formula %d",
					trial, bits, signed, scale, bias, s, acc, got, want)
			}
		}
		for _, acc := range []int64{threshLo, threshLo + 1, -1 << 40, 1 << 40, threshHi - 1, threshHi} {
			if got, want := count(acc), f(acc); got != want {
				t.Fatalf("trial %d: acc %d: thresholds give %d, formula %d", trial, acc, got, want)
			}
		}
	}
}

// TestDotPMatchesReference checks the engine's scalar accumulator against
// intgemm.DotP in every mode.
func TestDotPMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		k := rng.IntN(300)
		x, w := make([]int32, k), make([]int32, k)
		for i := range x {
			x[i] = int32(rng.IntN(256)) - int32(rng.IntN(2))*128
			w[i] = int32(rng.IntN(255)) - 127
		}
		p := 2 + rng.IntN(30)
		for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate} {
			a, ov := dotP(x, w, p, mode)
			ra, rov := intgemm.DotP(x, w, p, mode)
			if a != ra || ov != int64(rov) {
				t.Fatalf("k %d, P %d, %v: got (%d, %d), DotP (%d, %d)", k, p, mode, a, ov, ra, rov)
			}
		}
	}
}

// TestPathsAgree runs certified layers on the 16-bit and 32-bit kernels and
// on the scalar reference: outputs must be identical, with no overflow.
func TestPathsAgree(t *testing.T) {
	for _, sp := range []tinySpec{
		{h: 12, w: 12, cin: 8, cout: 24, k: 3, pad: 1, classes: 5, l1: 128},
		{h: 9, w: 11, cin: 3, cout: 70, k: 3, pad: 0, classes: 7, l1: 120, inSigned: true, hiddenSigned: true},
		{h: 7, w: 7, cin: 40, cout: 16, k: 1, pad: 0, classes: 3, l1: 128},
	} {
		rng := rand.New(rand.NewPCG(uint64(sp.cin), uint64(sp.cout)))
		m := tinyModel(rng, sp)
		lo := 0.0
		if sp.inSigned {
			lo = -0.5
		}
		x := randImages(rng, 13, m, lo, 0.6)
		var ref *Result
		for _, path := range []Path{PathScalar, PathAcc16, PathAcc32, PathPreferred} {
			e, err := NewEngine(m, Options{Mode: intgemm.Wrap, Path: path, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			info := e.Layers()
			if info[0].AccBitsExact > 16 {
				t.Fatalf("%+v: conv exact bound %d bits, the test wants a 16-bit layer", sp, info[0].AccBitsExact)
			}
			switch path {
			case PathScalar:
				if !strings.HasPrefix(info[0].Impl, "scalar") {
					t.Errorf("forced scalar path runs %q", info[0].Impl)
				}
			case PathAcc16:
				if !strings.HasSuffix(info[0].Impl, "int16") {
					t.Errorf("%+v: acc16 path runs %q (%s)", sp, info[0].Impl, info[0].Note)
				}
			case PathAcc32:
				if !strings.HasSuffix(info[0].Impl, "int32") {
					t.Errorf("acc32 path runs %q", info[0].Impl)
				}
			}
			r := e.Run(x, 13, true)
			if r.Overflows[0] != 0 || r.Overflows[1] != 0 {
				t.Errorf("%v: overflows %v in a certified model", path, r.Overflows)
			}
			if ref == nil {
				ref = r
				continue
			}
			if !slices.Equal(r.Out, ref.Out) || !slices.Equal(r.Inputs[1], ref.Inputs[1]) {
				t.Errorf("%+v: path %v differs from the scalar reference", sp, path)
			}
		}
	}
}

// TestScalarOverflowSemantics runs an uncertified layer: exact mode keeps
// the true sums (same integers as a wide accumulator) but counts, wrap and
// saturate change the result.
func TestScalarOverflowSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	m := tinyModel(rng, tinySpec{h: 8, w: 8, cin: 16, cout: 8, k: 3, classes: 4, l1: 2000})
	x := randImages(rng, 6, m, 0.5, 1)
	run := func(mode intgemm.Mode, p int) *Result {
		e, err := NewEngine(m, Options{Mode: mode, AccBits: map[string]int{"conv": p}})
		if err != nil {
			t.Fatal(err)
		}
		if p < e.Layers()[0].AccBitsExact && !strings.HasPrefix(e.Layers()[0].Impl, "scalar") {
			t.Fatalf("uncertified layer runs on %q", e.Layers()[0].Impl)
		}
		return e.Run(x, 6, true)
	}
	wide := run(intgemm.Exact, 40)
	exact := run(intgemm.Exact, 12)
	wrap := run(intgemm.Wrap, 12)
	sat := run(intgemm.Saturate, 12)
	if wide.Overflows[0] != 0 || exact.Overflows[0] == 0 || wrap.Overflows[0] == 0 || sat.Overflows[0] == 0 {
		t.Fatalf("overflows: P=40 %d, exact %d, wrap %d, saturate %d", wide.Overflows[0], exact.Overflows[0], wrap.Overflows[0], sat.Overflows[0])
	}
	if !slices.Equal(wide.Inputs[1], exact.Inputs[1]) {
		t.Error("exact mode changed the activations")
	}
	if slices.Equal(wide.Inputs[1], wrap.Inputs[1]) || slices.Equal(wide.Inputs[1], sat.Inputs[1]) {
		t.Error("wrap or saturate at P = 12 left every activation unchanged")
	}
	// Above MaxSimAccBits a layer whose exact width fits still runs, at its
	// P, with the exact sums in every mode.
	for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap, intgemm.Saturate} {
		for _, p := range []int{MaxSimAccBits + 1, accum.MaxAccBits} {
			r := run(mode, p)
			e, _ := NewEngine(m, Options{Mode: mode, AccBits: map[string]int{"conv": p}})
			if got := e.Layers()[0].AccBits; got != p || r.Overflows[0] != 0 || !slices.Equal(wide.Inputs[1], r.Inputs[1]) {
				t.Errorf("%v at P = %d: runs at P = %d, %d overflows, activations equal to the exact ones: %v",
					mode, p, got, r.Overflows[0], slices.Equal(wide.Inputs[1], r.Inputs[1]))
			}
		}
	}
}

// TestSimAccBits: any valid P runs as itself up to MaxSimAccBits; above it,
// as MaxSimAccBits when the exact width fits, else an error naming the
// layer and the limit; an invalid P gets accum.CheckAccBits's message.
func TestSimAccBits(t *testing.T) {
	tests := []struct {
		p, exact, want int
		err            string
	}{
		{16, 12, 16, ""}, {16, 20, 16, ""}, {MaxSimAccBits, 30, MaxSimAccBits, ""},
		{64, 25, MaxSimAccBits, ""}, {63, MaxSimAccBits, MaxSimAccBits, ""},
		{64, MaxSimAccBits + 1, 0, "intinfer.MaxSimAccBits"},
		{1, 5, 0, "accumulator width P = 1 outside [2, 64]"},
		{65, 5, 0, "accumulator width P = 65 outside [2, 64]"},
	}
	for _, tt := range tests {
		got, err := simAccBits("conv2", tt.p, tt.exact)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("simAccBits(P = %d, exact %d) = %d, %v, want %d", tt.p, tt.exact, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "conv2")):
			t.Errorf("simAccBits(P = %d, exact %d) = %d, %v, want an error naming conv2 and %q", tt.p, tt.exact, got, err, tt.err)
		}
	}
}

// TestTrainedCNN is the end-to-end check on the embedded Fashion-MNIST:
// the A2Q+ P = 16 model runs as integers bit-exactly, with the same
// predictions and no overflow in wrap mode; the baseline at P = 16
// overflows on adversarial inputs and on real data.
func TestTrainedCNN(t *testing.T) {
	fx := trained(t)
	ctx := context.Background()
	im, err := FromModel(fx.a2qPlus)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(im, Options{Mode: intgemm.Wrap, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(ctx, fx.a2qPlus, e, fx.test, VerifyOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A2Q+ P=16, wrap: %d images, integer accuracy %.4f, fake-quant %.4f, overflows %d, layers %+v",
		v.Images, v.IntegerScore, v.FakeQuantScore, v.Overflows, v.Layers)
	if v.Images != 500 || !v.IntegerMatchesFakeQuant || !v.OutputsEqual || v.SamePredictions != 500 || v.Overflows != 0 {
		t.Errorf("A2Q+ at P = 16: %+v", v)
	}
	if v.IntegerScore != v.FakeQuantScore || v.IntegerScore < 0.5 {
		t.Errorf("accuracy: integer %.4f, fake-quant %.4f", v.IntegerScore, v.FakeQuantScore)
	}
	if v.Layers[1].AccBits != 16 || v.Layers[1].AccBitsExact > 16 {
		t.Errorf("conv2: %+v", v.Layers[1])
	}
	adv, err := Adversarial(im, nil)
	if err != nil {
		t.Fatal(err)
	}
	if adv[1].WrapOverflows != 0 || adv[1].SaturateOverflows != 0 || adv[1].WrapMaxError != 0 {
		t.Errorf("A2Q+ conv2 adversarial: %+v", adv[1])
	}

	bm, err := FromModel(fx.baseline)
	if err != nil {
		t.Fatal(err)
	}
	adv, err = Adversarial(bm, map[string]int{"conv2": 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("baseline adversarial: %+v", adv)
	if adv[1].Name != "conv2" || adv[1].WrapOverflows == 0 || adv[1].SaturateOverflows == 0 || adv[1].WrapMaxError == 0 || adv[1].SaturateMaxError == 0 {
		t.Errorf("baseline conv2 at P = 16 shows no adversarial overflow: %+v", adv[1])
	}
	for _, mode := range []intgemm.Mode{intgemm.Exact, intgemm.Wrap} {
		be, err := NewEngine(bm, Options{Mode: mode, AccBits: map[string]int{"conv2": 16}, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		bv, err := Verify(ctx, fx.baseline, be, fx.test, VerifyOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("baseline P=16, %v: integer accuracy %.4f, fake-quant %.4f, overflows %d, matches %v",
			mode, bv.IntegerScore, bv.FakeQuantScore, bv.Overflows, bv.IntegerMatchesFakeQuant)
		if bv.Layers[1].Overflows == 0 {
			t.Errorf("baseline conv2 at P = 16 (%v) never overflows on real data", mode)
		}
		// Exact mode only counts; wrap-around corrupts the activations.
		if mode == intgemm.Exact && (!bv.IntegerMatchesFakeQuant || !bv.OutputsEqual) {
			t.Errorf("exact mode: activations differ: %+v", bv.Layers)
		}
		if mode == intgemm.Wrap && (bv.IntegerMatchesFakeQuant || bv.OutputsEqual) {
			t.Errorf("wrap mode at P = 16 left the baseline's outputs unchanged")
		}
	}
}

// TestFromModelErrors checks the conversion's refusals.
func TestFromModelErrors(t *testing.T) {
	f, err := cnnModel(quant.Float, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromModel(f); err == nil || !strings.Contains(err.Error(), "layer conv1 is float") {
		t.Errorf("float model: %v", err)
	}
	u, err := cnnModel(quant.A2QPlus, 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromModel(u); err == nil || !strings.Contains(err.Error(), "calibrated") {
		t.Errorf("uncalibrated model: %v", err)
	}
	m := calibrated(t, quant.A2QPlus, 16)
	im, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEngine(im, Options{AccBits: map[string]int{"conv9": 16}}); err == nil || !strings.Contains(err.Error(), "conv9") {
		t.Errorf("unknown layer: %v", err)
	}
	if _, err := NewEngine(im, Options{AccBits: map[string]int{"conv2": 70}}); err == nil || !strings.Contains(err.Error(), "conv2") {
		t.Errorf("P = 70: %v", err)
	}
}

// TestFreshModelBitExact checks bit-exactness on an untrained model whose
// accumulators and activations are unlike the trained ones (and the same
// check on the mlp, whose first op is a float flatten).
func TestFreshModelBitExact(t *testing.T) {
	fx := trained(t)
	for _, mode := range []quant.Mode{quant.A2Q, quant.Baseline} {
		m := calibrated(t, mode, 16)
		im, err := FromModel(m)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(im, Options{Mode: intgemm.Exact, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		v, err := Verify(context.Background(), m, e, fx.test, VerifyOptions{Limit: 100, Batch: 64})
		if err != nil {
			t.Fatal(err)
		}
		if !v.IntegerMatchesFakeQuant || !v.OutputsEqual || v.SamePredictions != 100 {
			t.Errorf("%s: %+v", mode, v)
		}
	}
	m, err := models.Build(models.Config{Model: "mlp", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 4,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 6, ActBits: 6, AccBits: 14},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		t.Fatal(err)
	}
	fxSet, _ := fx.test.Split(64)
	calibrate(m, fxSet)
	im, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(im, Options{Mode: intgemm.Saturate})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(context.Background(), m, e, fxSet, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !v.IntegerMatchesFakeQuant || v.Overflows != 0 || v.Layers[1].AccBits != 14 {
		t.Errorf("mlp: %+v", v)
	}
}

// TestThreshold32 checks the guessed-and-corrected threshold search against
// a plain count, on thresholds with clamped ends, repeated values and
// irregular steps.
func TestThreshold32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 200; trial++ {
		tc := randThresholds(rng, false, func(int32) int32 { return math.MaxInt32 })
		out := make([]int32, len(tc.acc))
		threshold32(tc.acc, out, tc.cout, tc.thr, tc.guess, tc.ts, -3)
		for i, v := range tc.acc {
			c := i % tc.cout
			if want := tc.count(c, v, -3); out[i] != want {
				t.Fatalf("trial %d: acc %d, channel %d: got %d, want %d", trial, v, c, out[i], want)
			}
		}
	}
}
