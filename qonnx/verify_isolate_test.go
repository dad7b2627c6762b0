package qonnx

import (
	"context"
	"testing"
)

// TestRunQuantOutputs checks RunOptions.QuantOutputs: the nodes after a
// Quant node read the given value in its place (here a residual sum of the
// Quant's output with itself), while Result.Values keeps the Quant node's
// own output.
func TestRunQuantOutputs(t *testing.T) {
	b := NewGraph("shortcut")
	b.AddInput("x", 1, 1, 2, 2)
	xq := b.AddQuant("xq", "x", NewFloat([]float32{1}), 8, false, false)
	sum := b.AddNode("Add", "", "add", []string{xq, xq}, 1)
	out := b.AddQuant("sq", sum, NewFloat([]float32{1}), 8, false, false)
	b.AddOutput(out)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*Tensor{"x": NewFloat([]float32{1, 2, 3, 4}, 1, 1, 2, 2)}
	ref := NewFloat([]float32{10, 20, 30, 40}, 1, 1, 2, 2)
	r, err := m.Run(context.Background(), in, RunOptions{Keep: true, QuantOutputs: map[string]*Tensor{xq: ref}})
	if err != nil {
		t.Fatal(err)
	}
	got, own := r.Outputs[out].Floats(), r.Values[xq].Floats()
	for i, want := range []float32{20, 40, 60, 80} {
		if got[i] != want || own[i] != float32(i+1) {
			t.Fatalf("output %v (want the sum of the given values), Quant's own %v", got, own)
		}
	}
}
