package autodiff

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/tensor"
)

// BatchNormState holds a batch-norm layer's running statistics, updated in
// training mode and used in evaluation mode.
type BatchNormState struct {
	Mean, Var *tensor.Tensor
	Momentum  float32 // weight of the new batch in the running average (PyTorch's 0.1)
	Eps       float32
}

// BatchNorm normalises x over every dimension but the last (the channels of
// NHWC, or the features of N×F): y = γ·(x − μ)/√(σ² + ε) + β. In training
// mode μ and σ² are the batch statistics (biased variance) and the running
// statistics are updated with the unbiased variance, as PyTorch does; in
// evaluation mode the running statistics are used.
func (t *Tape) BatchNorm(x, gamma, beta *Var, st *BatchNormState, train bool) *Var {
	s := x.Value.Shape
	c := s[len(s)-1]
	if gamma.Value.Len() != c || beta.Value.Len() != c || st.Mean.Len() != c || st.Var.Len() != c {
		panic(fmt.Sprintf("autodiff: BatchNorm: input %v, γ %v, β %v", x.Value, gamma.Value, beta.Value))
	}
	rows := x.Value.Len() / c
	mean := make([]float64, c)
	invStd := make([]float32, c)
	xd := x.Value.Data
	if train {
		sq := make([]float64, c)
		t.forColumns(rows, c, func(c0, c1 int) {
			f32.ColSums64(mean[c0:c1], sq[c0:c1], xd[c0:], rows, c)
		})
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
	// x̂ = (x − μ)·invStd is not stored: the backward pass computes it again
	// from x, with the same bits.
	out := t.allocNoZero(s...)
	mu := make([]float32, c)
	for i := range mu {
		mu[i] = float32(mean[i])
	}
	gd, bd := gamma.Value.Data, beta.Value.Data
	t.forEach(rows, func(lo, hi int) {
		f32.BatchNormRows(out.Data[lo*c:hi*c], xd[lo*c:hi*c], mu, invStd, gd, bd)
	})
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		dg := make([]float64, c)
		db := make([]float64, c)
		t.forColumns(rows, c, func(c0, c1 int) {
			f32.BatchNormSums(db[c0:c1], dg[c0:c1], dy[c0:], xd[c0:], mu[c0:c1], invStd[c0:c1], rows, c)
		})
		if g := gamma.grad(); g != nil {
			for i := range dg {
				g.Data[i] += float32(dg[i])
			}
		}
		if g := beta.grad(); g != nil {
			for i := range db {
				g.Data[i] += float32(db[i])
			}
		}
		gx, fresh := x.gradFresh()
		if gx == nil {
			return
		}
		// Training: dx = γ·invStd/n·(n·dy − Σdy − x̂·Σ(dy·x̂)).
		// Evaluation: the statistics are constants, dx = γ·invStd·dy.
		a := make([]float32, c)
		b1 := make([]float32, c)
		b2 := make([]float32, c)
		for i := range a {
			a[i] = gd[i] * invStd[i]
			if train {
				b1[i] = float32(db[i] / float64(rows))
				b2[i] = float32(dg[i] / float64(rows))
			}
		}
		t.forEach(rows, func(lo, hi int) {
			f32.BatchNormGradRows(gx.Data[lo*c:hi*c], dy[lo*c:hi*c], xd[lo*c:hi*c], mu, invStd, a, b1, b2, !fresh)
		})
	}, x, gamma, beta)
	return v
}

// colSumBlock is the fewest columns forColumns gives a thread.
const colSumBlock = 16

// forColumns runs fn over blocks of the columns [c0, c1) of rows rows of
// c values, split among the threads: for column sums, which then add each
// column's rows in order, the bits of one loop over the rows whatever the
// number of threads.
func (t *Tape) forColumns(rows, c int, fn func(c0, c1 int)) {
	if rows == 0 || c == 0 {
		return
	}
	th := t.Threads
	if rows*c < minParallel {
		th = 1
	}
	nb := (c + colSumBlock - 1) / colSumBlock
	tensor.For(th, nb, func(lo, hi int) {
		fn(lo*colSumBlock, min(hi*colSumBlock, c))
	})
}
