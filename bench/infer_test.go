package bench

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/intgemm"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// kernels are the kinds of kernel intinfer.LayerInfo names.
var kernels = []string{"sparse16", "dense16", "dense32", "dense32-vnni", "depthwise32", "scalar"}

func TestInfer(t *testing.T) {
	res, err := Infer(context.Background(), InferOptions{Batch: 8, Threads: []int{1, 2}, MinTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Threads) != 2 || res.Threads[1].Threads != 2 || res.AccBits != 16 || res.Batch != 8 || res.Quant != "a2q+" {
		t.Fatalf("result %+v", res)
	}
	// conv1, conv2 and fc; the A2Q+ hidden layer at P = 16 is certified
	// for 16 bits and runs on a vector kernel, sparse or dense.
	if l := res.Layers; len(l) != 3 || l[1].Name != "conv2" || l[1].AccBitsExact > 16 || l[1].Kernel == "scalar" || l[1].Reason == "" {
		t.Fatalf("layers %+v", l)
	}
	for _, l := range res.Layers {
		if !slices.Contains(kernels, l.Kernel) || !(l.Sparsity >= 0 && l.Sparsity <= 1) {
			t.Errorf("layer %+v", l)
		}
	}
	// The projection leaves most of the hidden layer's weights zero.
	if res.Layers[1].Sparsity < 0.5 {
		t.Errorf("conv2 sparsity %g", res.Layers[1].Sparsity)
	}
	for _, r := range res.Threads {
		if !(r.ChosenImagesPerSec > 0) || !(r.DenseAcc32AVX2ImagesPerSec > 0) || !(r.Dense16ImagesPerSec > 0) || !(r.FloatImagesPerSec > 0) ||
			(r.DenseVNNIImagesPerSec != nil) != intgemm.HasVNNI() || (r.DenseVNNIImagesPerSec != nil && !(*r.DenseVNNIImagesPerSec > 0)) {
			t.Errorf("throughput %+v", r)
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"layers":[{"name":"conv1","sparsity":`, `"acc_bits_exact"`, `"kernel"`, `"reason"`, `"chosen_images_per_sec"`,
		`"dense_vnni_images_per_sec":`, `"dense_acc32_avx2_images_per_sec"`, `"dense16_images_per_sec"`, `"float_images_per_sec"`} {
		if !strings.Contains(string(js), f) {
			t.Errorf("JSON %s lacks %s", js, f)
		}
	}
	if _, err := Infer(context.Background(), InferOptions{Threads: []int{0}}); err == nil {
		t.Error("zero threads accepted")
	}
}

// TestInferSpeed checks that InferSpeed times every plan and refuses plans
// whose outputs differ, and that InferModel refuses images of another
// shape.
func TestInferSpeed(t *testing.T) {
	_, test, err := data.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "cnn", InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
		Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	x, n, err := Images(test, 5, m.Config)
	if err != nil || n != 5 || len(x) != 5*28*28 {
		t.Fatalf("Images: %d images, %d values, %v", n, len(x), err)
	}
	tp := autodiff.NewTape(1)
	m.Forward(tp, tp.Constant(tensor.FromData(x, n, 28, 28, 1)), false) // calibrates the activation quantizers
	im, err := intinfer.FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plans := []intinfer.Options{{Path: intinfer.PathPreferred}, {Path: intinfer.PathDense}, {Path: intinfer.PathScalar}}
	sp, err := InferSpeed(ctx, im, x, n, SpeedOptions{Plans: plans, Threads: 1, MinTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.ImagesPerSec) != 3 || slices.Min(sp.ImagesPerSec) <= 0 || sp.FloatImagesPerSec != 0 || len(sp.Layers) != 3 {
		t.Errorf("speed %+v", sp)
	}
	// conv2 at P = 10 in wrap mode overflows: its outputs differ from the
	// chosen plan's at P = 16.
	narrow := intinfer.Options{Path: intinfer.PathScalar, Mode: intgemm.Wrap, AccBits: map[string]int{"conv2": 10}}
	_, err = InferSpeed(ctx, im, x, n, SpeedOptions{Plans: []intinfer.Options{plans[0], narrow}, MinTime: time.Millisecond})
	if !errors.Is(err, ErrPlansDisagree) {
		t.Errorf("differing plans: %v", err)
	}
	if _, err := InferSpeed(ctx, im, x[:10], n, SpeedOptions{Plans: plans}); err == nil {
		t.Error("wrong image count accepted")
	}
	small, err := data.Downscaled(test.Spread(4), 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = InferModel(ctx, m, small, InferOptions{Threads: []int{1}, MinTime: time.Millisecond})
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "28×28×1") || !strings.Contains(err.Error(), "14×14×1") {
		t.Errorf("images of another shape: %v", err)
	}
}
