package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

// batchNormLoops is batch norm written as loops over the rows (the
// engine's former implementation, products rounded before they are
// added): it returns the output, updates the running statistics in
// training, and adds the gradients for the output gradient dy into gx, gg
// and gb.
func batchNormLoops(xd, gd, bd []float32, c int, st *BatchNormState, train bool, dy, gx, gg, gb []float32) []float32 {
	rows := len(xd) / c
	mean := make([]float64, c)
	invStd := make([]float32, c)
	if train {
		sq := make([]float64, c)
		for r := 0; r < rows; r++ {
			for i, v := range xd[r*c : r*c+c] {
				mean[i] += float64(v)
				sq[i] += float64(v) * float64(v)
			}
		}
		m := float64(st.Momentum)
		for i := range mean {
			mean[i] /= float64(rows)
			variance := max(sq[i]/float64(rows)-mean[i]*mean[i], 0)
			invStd[i] = float32(1 / math.Sqrt(variance+float64(st.Eps)))
			unbiased := variance
			if rows > 1 {
				unbiased = variance * float64(rows) / float64(rows-1)
			}
			st.Mean.Data[i] = float32((1-m)*float64(st.Mean.Data[i]) + m*mean[i])
			st.Var.Data[i] = float32((1-m)*float64(st.Var.Data[i]) + m*unbiased)
		}
	} else {
		for i := range mean {
			mean[i] = float64(st.Mean.Data[i])
			invStd[i] = float32(1 / math.Sqrt(float64(st.Var.Data[i])+float64(st.Eps)))
		}
	}
	out, xhat := make([]float32, len(xd)), make([]float32, len(xd))
	for r := 0; r < rows; r++ {
		for i := 0; i < c; i++ {
			h := float32((xd[r*c+i] - float32(mean[i])) * invStd[i])
			xhat[r*c+i] = h
			out[r*c+i] = float32(gd[i]*h) + bd[i]
		}
	}
	dg, db := make([]float64, c), make([]float64, c)
	for r := 0; r < rows; r++ {
		for i, d := range dy[r*c : r*c+c] {
			db[i] += float64(d)
			dg[i] += float64(d) * float64(xhat[r*c+i])
		}
	}
	for i := 0; i < c; i++ {
		gg[i] += float32(dg[i])
		gb[i] += float32(db[i])
	}
	for r := 0; r < rows; r++ {
		for i := 0; i < c; i++ {
			a := gd[i] * invStd[i]
			var b1, b2 float32
			if train {
				b1, b2 = float32(db[i]/float64(rows)), float32(dg[i]/float64(rows))
			}
			gx[r*c+i] += float32(a * ((dy[r*c+i] - b1) - float32(xhat[r*c+i]*b2)))
		}
	}
	return out
}

// TestBatchNormMatchesLoops checks batch norm's output, running
// statistics and gradients bit for bit against loops over the rows, in
// training and evaluation, with channel counts that leave vector tails,
// thread counts that split the columns differently, and the input's
// gradient fresh (an intermediate value) and accumulated (a leaf holding
// a gradient already).
func TestBatchNormMatchesLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, shape := range [][]int{{4, 3, 3, 5}, {2, 9, 7, 37}, {64, 4, 4, 64}, {300, 19}, {1, 8}} {
		c := shape[len(shape)-1]
		x, gamma, beta := randTensor(rng, shape...), randTensor(rng, c), randTensor(rng, c)
		for i := range x.Data {
			x.Data[i] = 3*x.Data[i] + 1 // a mean and variance away from 0 and 1
		}
		mean0, var0 := randTensor(rng, c), randTensor(rng, c)
		for i := range var0.Data {
			var0.Data[i] = float32(math.Abs(float64(var0.Data[i])))
		}
		for _, train := range []bool{true, false} {
			for _, threads := range []int{1, 2, 3} {
				for _, fresh := range []bool{true, false} {
					name := fmt.Sprintf("%v train %v threads %d fresh %v", shape, train, threads, fresh)
					st := &BatchNormState{Mean: mean0.Clone(), Var: var0.Clone(), Momentum: 0.1, Eps: 1e-5}
					wantSt := &BatchNormState{Mean: mean0.Clone(), Var: var0.Clone(), Momentum: 0.1, Eps: 1e-5}
					gx0, gg0, gb0 := randTensor(rng, shape...), randTensor(rng, c), randTensor(rng, c)
					gx, gg, gb := gx0.Clone(), gg0.Clone(), gb0.Clone()
					tp := NewTape(threads)
					var xv *Var
					if fresh {
						xv = tp.Scale(tp.Leaf(x, tensor.New(shape...)), 1) // its gradient starts unwritten
					} else {
						xv = tp.Leaf(x, gx)
					}
					y := tp.BatchNorm(xv, tp.Leaf(gamma, gg), tp.Leaf(beta, gb), st, train)
					tp.Backward(weighted(tp, y, 5))
					wantGx := gx0.Clone()
					if fresh {
						wantGx = tensor.New(shape...)
					}
					wantGg, wantGb := gg0.Clone(), gb0.Clone()
					want := batchNormLoops(x.Data, gamma.Data, beta.Data, c, wantSt, train, y.Grad.Data, wantGx.Data, wantGg.Data, wantGb.Data)
					sameBits(t, name+" output", y.Value.Data, want)
					sameBits(t, name+" running mean", st.Mean.Data, wantSt.Mean.Data)
					sameBits(t, name+" running variance", st.Var.Data, wantSt.Var.Data)
					sameBits(t, name+" γ gradient", gg.Data, wantGg.Data)
					sameBits(t, name+" β gradient", gb.Data, wantGb.Data)
					gotGx := gx.Data
					if fresh {
						gotGx = xv.Grad.Data
					}
					sameBits(t, name+" input gradient", gotGx, wantGx.Data)
				}
			}
		}
	}
}
