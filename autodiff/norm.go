package autodiff

import (
	"fmt"
	"math"

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
		for r := 0; r < rows; r++ {
			row := xd[r*c : r*c+c]
			for i, v := range row {
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
	out := t.allocNoZero(s...)
	xhat := t.buf(len(xd))
	mu := make([]float32, c)
	for i := range mu {
		mu[i] = float32(mean[i])
	}
	gd, bd := gamma.Value.Data, beta.Value.Data
	t.forEach(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, hr, or := xd[r*c:r*c+c], xhat[r*c:r*c+c], out.Data[r*c:r*c+c]
			for i, v := range xr {
				h := (v - mu[i]) * invStd[i]
				hr[i] = h
				or[i] = gd[i]*h + bd[i]
			}
		}
	})
	var v *Var
	v = t.node(out, func() {
		dy := v.Grad.Data
		dg := make([]float64, c)
		db := make([]float64, c)
		for r := 0; r < rows; r++ {
			dr, hr := dy[r*c:r*c+c], xhat[r*c:r*c+c]
			for i, d := range dr {
				db[i] += float64(d)
				dg[i] += float64(d) * float64(hr[i])
			}
		}
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
		gx := x.grad()
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
			for r := lo; r < hi; r++ {
				dr, hr, gr := dy[r*c:r*c+c], xhat[r*c:r*c+c], gx.Data[r*c:r*c+c]
				for i, d := range dr {
					gr[i] += a[i] * (d - b1[i] - hr[i]*b2[i])
				}
			}
		})
	}, x, gamma, beta)
	return v
}
