package ptq

import (
	"errors"
	"fmt"
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
//
// With J the reversal of the K indices and JAJ = RᵀR the Cholesky
// factorisation of A = H + λI reversed, A⁻¹ = (J R⁻ᵀ J)ᵀ(J R⁻ᵀ J) and
// J R⁻ᵀ J is upper triangular: U is one factorisation and one triangular
// inverse away, not three steps.
func invChol(h []float64, k int, damp float64) (u []float64, dead []bool, err error) {
	a := make([]float64, k*k) // J(H + λI)J
	dead = make([]bool, k)
	var mean float64
	for i := 0; i < k; i++ {
		if h[i*k+i] == 0 {
			dead[i] = true
			mean++
		}
		mean += h[i*k+i]
	}
	mean /= float64(k)
	for i := 0; i < k; i++ {
		ri := k - 1 - i
		for j := 0; j < k; j++ {
			a[ri*k+k-1-j] = h[i*k+j]
		}
		if dead[i] {
			a[ri*k+ri] = 1
		}
		a[ri*k+ri] += damp * mean
	}
	var ch mat.Cholesky
	if !ch.Factorize(mat.NewSymDense(k, a)) {
		return nil, nil, errors.New("gptq: the dampened Hessian is not positive definite")
	}
	var r, rinv mat.TriDense
	ch.UTo(&r)
	if err := rinv.InverseTri(&r); err != nil {
		var c mat.Condition
		if !errors.As(err, &c) || math.IsInf(float64(c), 1) {
			return nil, nil, fmt.Errorf("gptq: inverting the Hessian's factor: %w", err)
		}
		// Ill-conditioned but inverted: dampening bounds the harm.
	}
	raw := rinv.RawTriangular()
	u = make([]float64, k*k)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			u[i*k+j] = raw.Data[(k-1-j)*raw.Stride+k-1-i]
		}
	}
	return u, dead, nil
}

// invChol is invChol of st.H, computed once per dampening and kept until
// Add changes H.
func (st *Stats) invChol(damp float64) (u []float64, dead []bool, err error) {
	if st.u == nil || st.damp != damp {
		if st.u, st.dead, err = invChol(st.H, st.K, damp); err != nil {
			return nil, nil, err
		}
		st.damp = damp
	}
	return st.u, st.dead, nil
}

// gptq rounds the layer with accumulator-aware GPTQ (AXE's A2GPTQ) into q.
func gptq(l *Layer, st *Stats, o Options, q []int32) error {
	k, outC := l.K, l.OutC
	damp := o.Damp
	if damp == 0 {
		damp = 0.01
	}
	u, dead, err := st.invChol(damp)
	if err != nil {
		return err
	}
	w := scaled(l)
	th := thresholds(l)
	nt := l.Budget.tiles(k)
	tr := newTracker(l.Budget, l.Bits, outC)
	m := qmax(l.Bits)
	z := newLazy(u, k, outC)
	for i1 := 0; i1 < k; i1 += lazyBlock {
		i2 := min(k, i1+lazyBlock)
		for i := i1; i < i2; i++ {
			tr.start(i)
			t := l.Budget.tileOf(i)
			d := u[i*k+i]
			urow := u[i*k+i+1 : i*k+i2]
			for c := 0; c < outC; c++ {
				row := w[c*k : (c+1)*k]
				x := 0.0
				if dead[i] {
					row[i] = 0
				} else {
					// Soft threshold, then clamp to the bit width and to
					// what the channel's tile has left, as Brevitas does.
					lo, hi := tr.bounds(c)
					x = math.Max(lo, math.Min(hi, math.Max(-m, math.Min(m, soft(row[i], th[c*nt+t])))))
				}
				v := tr.take(c, x)
				q[c*k+i] = v
				// Propagate the whole error w_i − q_i, shrinkage and clamp
				// included (Brevitas propagates only the rounding error of
				// the thresholded, clamped weight), into the columns not
				// yet rounded: now in the block, after it for the rest.
				e := (row[i] - float64(v)) / d
				if e == 0 {
					continue
				}
				z.set(c, i, i1, e)
				rest := row[i+1 : i2]
				for j, h := range urow {
					rest[j] -= e * h
				}
			}
		}
		z.flush(w, i1, i2, -1)
	}
	return nil
}
