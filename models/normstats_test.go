package models

import (
	"context"
	"math"
	"testing"

	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestRecomputeNormStats checks that the statistics recomputed over two
// batches are the mean of those over each alone (one batch sets them to
// its own), whatever the running statistics held before, that the
// momentum is restored, and that a network without batch norms reads no
// batch.
func TestRecomputeNormStats(t *testing.T) {
	m, err := Build(config("resnet", quant.A2QPlus))
	if err != nil {
		t.Fatal(err)
	}
	bns := m.batchNorms()
	if len(bns) == 0 {
		t.Fatal("the ResNet has no batch norms")
	}
	a, b := input(8, 28, 28, 1), input(16, 28, 28, 1)
	b.Data = b.Data[8*28*28:] // 8 other images
	b.Shape[0] = 8
	stats := func(batches ...*tensor.Tensor) [][]float32 {
		for _, bn := range bns {
			for i := range bn.RunMean.Value.Data {
				bn.RunMean.Value.Data[i], bn.RunVar.Value.Data[i] = 5, 7 // stale
			}
		}
		n, err := m.RecomputeNormStats(context.Background(), pairs(batches, nil), 1)
		if err != nil || n != len(batches) {
			t.Fatalf("%d batches: n = %d, err %v", len(batches), n, err)
		}
		var s [][]float32
		for _, bn := range bns {
			s = append(s, append([]float32(nil), bn.RunMean.Value.Data...), append([]float32(nil), bn.RunVar.Value.Data...))
		}
		return s
	}
	sa, sb, sab := stats(a), stats(b), stats(a, b)
	for i := range sab {
		for j, v := range sab[i] {
			want := (float64(sa[i][j]) + float64(sb[i][j])) / 2
			if math.Abs(float64(v)-want) > 1e-5*math.Max(1, math.Abs(want)) || sa[i][j] == 5 || sa[i][j] == 7 {
				t.Fatalf("statistic %d[%d] over both batches %v, over each %v and %v", i, j, v, sa[i][j], sb[i][j])
			}
		}
	}
	for _, bn := range bns {
		if bn.Momentum != 0.1 {
			t.Fatalf("%s: momentum %v after the recomputation", bn.Name, bn.Momentum)
		}
	}
	c, err := Build(config("cnn", quant.A2QPlus))
	if err != nil {
		t.Fatal(err)
	}
	never := func(yield func(x, y *tensor.Tensor) bool) { t.Fatal("a network without batch norms read a batch") }
	if n, err := c.RecomputeNormStats(context.Background(), never, 1); n != 0 || err != nil {
		t.Errorf("no batch norms: n = %d, err %v", n, err)
	}
}
