package ptq

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
)

// scaled returns the layer's weights in units of the integer weights, w/s,
// as float64 (OutC rows of K).
func scaled(l *Layer) []float64 {
	w := make([]float64, len(l.W))
	for c := 0; c < l.OutC; c++ {
		s := float64(l.Scale[c])
		for i, x := range l.W[c*l.K : (c+1)*l.K] {
			w[c*l.K+i] = float64(x) / s
		}
	}
	return w
}

// invChol returns the upper Cholesky factor U of (H + λI)⁻¹, with UᵀU =
// (H + λI)⁻¹ and λ = damp·mean(diag H), row-major K×K. Columns with a zero
// diagonal (inputs that are always zero) get a unit diagonal first; dead
// reports them.
func invChol(h []float64, k int, damp float64) (u []float64, dead []bool, err error) {
	a := make([]float64, k*k)
	copy(a, h)
	dead = make([]bool, k)
	var mean float64
	for i := 0; i < k; i++ {
		if a[i*k+i] == 0 {
			a[i*k+i] = 1
			dead[i] = true
		}
		mean += a[i*k+i]
	}
	mean /= float64(k)
	for i := 0; i < k; i++ {
		a[i*k+i] += damp * mean
	}
	var ch mat.Cholesky
	if !ch.Factorize(mat.NewSymDense(k, a)) {
		return nil, nil, errors.New("gptq: the dampened Hessian is not positive definite")
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		return nil, nil, errors.New("gptq: the dampened Hessian is singular")
	}
	if !ch.Factorize(&inv) {
		return nil, nil, errors.New("gptq: the inverse Hessian is not positive definite")
	}
	var t mat.TriDense
	ch.UTo(&t)
	raw := t.RawTriangular()
	u = make([]float64, k*k)
	for i := 0; i < k; i++ {
		copy(u[i*k+i:(i+1)*k], raw.Data[i*raw.Stride+i:i*raw.Stride+k])
	}
	return u, dead, nil
}

// gptq rounds the layer with accumulator-aware GPTQ (AXE's A2GPTQ) into q.
func gptq(l *Layer, st *Stats, o Options, q []int32) error {
	k, outC := l.K, l.OutC
	damp := o.Damp
	if damp == 0 {
		damp = 0.01
	}
	u, dead, err := invChol(st.H, k, damp)
	if err != nil {
		return err
	}
	w := scaled(l)
	th := thresholds(l)
	nt := l.Budget.tiles(k)
	tr := newTracker(l.Budget, l.Bits, outC)
	m := qmax(l.Bits)
	for i := 0; i < k; i++ {
		tr.start(i)
		t := l.Budget.tileOf(i)
		d := u[i*k+i]
		urow := u[i*k+i+1 : (i+1)*k]
		for c := 0; c < outC; c++ {
			row := w[c*k : (c+1)*k]
			x := 0.0
			if !dead[i] {
				// Soft threshold, then clamp to the bit width and to
				// what the channel's tile has left, as Brevitas does.
				lo, hi := tr.bounds(c)
				x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(row[i], th[c*nt+t])))))
			}
			v := tr.take(c, x)
			q[c*k+i] = v
			// Propagate the rounding error of the thresholded, clamped
			// weight into the columns not yet rounded.
			e := (x - float64(v)) / d
			if e == 0 {
				continue
			}
			rest := row[i+1:]
			for j, h := range urow {
				rest[j] -= e * h
			}
		}
	}
	return nil
}
