package autodiff

import (
	"fmt"
	"math"
)

// Clip returns min(max(x, lo), hi) elementwise; ReLU6 is Clip(x, 0, 6).
// lo may be −∞ and hi +∞ for a one-sided clip. The gradient passes where
// lo < x < hi and is zero at and beyond the bounds (the convention ReLU
// follows at zero).
func (t *Tape) Clip(x *Var, lo, hi float32) *Var {
	if !(lo <= hi) {
		panic(fmt.Sprintf("autodiff: Clip: bounds [%v, %v] of input %v are empty", lo, hi, x.Value))
	}
	out := t.allocNoZero(x.Value.Shape...)
	t.forEach(out.Len(), func(a, b int) {
		o, in := out.Data[a:b], x.Value.Data[a:b]
		for i, v := range in {
			o[i] = min(max(v, lo), hi)
		}
	})
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		t.forEach(len(g), func(a, b int) {
			d, in, gg := v.Grad.Data[a:b], x.Value.Data[a:b], g[a:b]
			for i, xv := range in {
				if lo < xv && xv < hi {
					gg[i] += d[i]
				}
			}
		})
	}, x)
	return v
}

// LeakyReLU returns x where x > 0 and alpha·x elsewhere.
func (t *Tape) LeakyReLU(x *Var, alpha float32) *Var {
	out := t.allocNoZero(x.Value.Shape...)
	t.forEach(out.Len(), func(a, b int) {
		o, in := out.Data[a:b], x.Value.Data[a:b]
		for i, v := range in {
			if v > 0 {
				o[i] = v
			} else {
				o[i] = alpha * v
			}
		}
	})
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		t.forEach(len(g), func(a, b int) {
			d, in, gg := v.Grad.Data[a:b], x.Value.Data[a:b], g[a:b]
			for i, xv := range in {
				if xv > 0 {
					gg[i] += d[i]
				} else {
					gg[i] += alpha * d[i]
				}
			}
		})
	}, x)
	return v
}

// Sigmoid returns 1/(1 + e^−x) elementwise, computed without overflow for
// large |x|.
func (t *Tape) Sigmoid(x *Var) *Var {
	out := t.allocNoZero(x.Value.Shape...)
	t.forEach(out.Len(), func(a, b int) {
		o, in := out.Data[a:b], x.Value.Data[a:b]
		for i, v := range in {
			o[i] = sigmoid(v)
		}
	})
	var v *Var
	v = t.node(out, func() {
		g := x.grad().Data
		t.forEach(len(g), func(a, b int) {
			d, y, gg := v.Grad.Data[a:b], out.Data[a:b], g[a:b]
			for i, yv := range y {
				gg[i] += d[i] * yv * (1 - yv)
			}
		})
	}, x)
	return v
}

// sigmoid evaluates the logistic function with the exponential of a
// non-positive number only, so it never overflows.
func sigmoid(v float32) float32 {
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return float32(e / (1 + e))
}
