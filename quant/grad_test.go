package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestScaleChannelsReLU checks the requantisation with its ReLU folded in
// against the requantisation followed by a separate ReLU: the same values
// and the same gradients for the accumulators, both log scales and the
// bias, bit for bit, on one and two threads (2^15 values and more split),
// with the inputs given as leaves or through an operation (whose
// gradients then reach the requantisation unwritten).
func TestScaleChannelsReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, shape := range [][]int{{3, 5, 5, 7}, {40, 13, 13, 32}} {
		c := shape[len(shape)-1]
		acc := tensor.New(shape...)
		for i := range acc.Data {
			acc.Data[i] = float32(rng.IntN(401) - 200)
		}
		lw, b := tensor.New(c), tensor.New(c)
		for i := range lw.Data {
			lw.Data[i] = float32(-8 + rng.Float64())
			b.Data[i] = float32(rng.NormFloat64())
		}
		lx := tensor.FromData([]float32{-6.5}, 1)
		for _, threads := range []int{1, 2} {
			run := func(fused, viaOp bool) []*tensor.Tensor {
				tp := autodiff.NewTape(threads)
				if viaOp {
					// Dirty the tape's pool, so that an unwritten gradient
					// holds garbage, not a fresh allocation's zeros.
					for _, n := range []int{acc.Len(), 1, c, c} {
						d := tp.Scratch(n)
						for j := range d {
							d[j] = float32(math.NaN())
						}
					}
					tp.Reset()
				}
				grads := []*tensor.Tensor{tensor.New(acc.Shape...), tensor.New(1), tensor.New(c), tensor.New(c)}
				vars := []*autodiff.Var{tp.Leaf(acc, grads[0]), tp.Leaf(lx, grads[1]), tp.Leaf(lw, grads[2]), tp.Leaf(b, grads[3])}
				// Through an op, so that the gradients reaching the
				// requantisation start unwritten (fresh), as in a model.
				if viaOp {
					for i, v := range vars {
						vars[i] = tp.Reshape(v, v.Value.Shape...)
					}
				}
				var y *autodiff.Var
				if fused {
					y = requantise(tp, vars[0], vars[1], vars[2], vars[3], true, nil)
				} else {
					y = tp.ReLU(requantise(tp, vars[0], vars[1], vars[2], vars[3], false, nil))
				}
				w := rand.New(rand.NewPCG(1, 2))
				loss := tp.NewValue(1)
				wt := make([]float32, y.Value.Len())
				for i, v := range y.Value.Data {
					wt[i] = float32(w.NormFloat64())
					loss.Data[0] += v * wt[i]
				}
				tp.Backward(tp.Custom(loss, func(d *tensor.Tensor, g []*tensor.Tensor) {
					for i := range g[0].Data {
						g[0].Data[i] += d.Data[0] * wt[i]
					}
				}, y))
				return append([]*tensor.Tensor{tensor.FromData(append([]float32(nil), y.Value.Data...), y.Value.Shape...)}, grads...)
			}
			want := run(false, false)
			for _, got := range [][]*tensor.Tensor{run(true, false), run(false, true), run(true, true)} {
				for k, name := range []string{"output", "accumulator gradient", "input log-scale gradient", "weight log-scale gradient", "bias gradient"} {
					for i := range got[k].Data {
						if math.Float32bits(got[k].Data[i]) != math.Float32bits(want[k].Data[i]) {
							t.Fatalf("%v, %d threads: %s %d is %v, with a separate ReLU %v", shape, threads, name, i, got[k].Data[i], want[k].Data[i])
						}
					}
				}
			}
		}
	}
}

// TestActQuantFreshGradient runs the activation quantizer's backward pass
// with its input as a leaf (a gradient to add to) and through an operation
// on a dirtied tape (a fresh gradient holding garbage, written block by
// block): the input and log-scale gradients must agree bit for bit, on one
// and two threads, over more than 2^15 values.
func TestActQuantFreshGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := tensor.New(9, 13, 13, 32)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64() * 2)
	}
	a := NewActQuant("q", 8, false)
	a.calibrate(x.Data)
	for _, threads := range []int{1, 2} {
		run := func(viaOp bool) (gx, gl *tensor.Tensor) {
			tp := autodiff.NewTape(threads)
			if viaOp {
				for range 6 { // every buffer of this size the pass takes
					d := tp.Scratch(x.Len())
					for j := range d {
						d[j] = float32(math.NaN())
					}
				}
				tp.Reset()
			}
			gx, gl = tensor.New(x.Shape...), tensor.New(1)
			v := tp.Leaf(x, gx)
			if viaOp {
				v = tp.Reshape(v, x.Shape...)
			}
			ls := a.Log2Scale
			saved := ls.Grad
			ls.Grad = gl
			defer func() { ls.Grad = saved }()
			y := a.Apply(tp, v, true)
			loss := tp.NewValue(1)
			w := make([]float32, y.Value.Len())
			for i, yv := range y.Value.Data {
				w[i] = float32(math.Sin(float64(i)))
				loss.Data[0] += yv * w[i]
			}
			tp.Backward(tp.Custom(loss, func(d *tensor.Tensor, g []*tensor.Tensor) {
				for i := range g[0].Data {
					g[0].Data[i] += d.Data[0] * w[i]
				}
			}, y))
			return gx, gl
		}
		wx, wl := run(false)
		gx, gl := run(true)
		for i := range gx.Data {
			if math.Float32bits(gx.Data[i]) != math.Float32bits(wx.Data[i]) {
				t.Fatalf("%d threads: input gradient %d is %v, %v as a leaf", threads, i, gx.Data[i], wx.Data[i])
			}
		}
		if math.Float32bits(gl.Data[0]) != math.Float32bits(wl.Data[0]) || wl.Data[0] == 0 {
			t.Fatalf("%d threads: log-scale gradient %v, %v as a leaf", threads, gl.Data[0], wl.Data[0])
		}
	}
}
