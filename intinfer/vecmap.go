package intinfer

import (
	"math"

	"github.com/a2qtoolkit/a2q/thresh"
)

// The float map of a graph edge evaluated with vector instructions. An
// edge's map (the source's base map, its batch norms and clips, the
// reader's Quantize) is a short program of per-channel float32
// operations; evaluating it eight channels at a time costs a few
// instructions per value, where the threshold tables of a wide layer miss
// the cache on most lookups. Like the chain pipeline's vector
// requantisation (requant_vec.go) it is used only where it has been
// checked against the edge's thresholds on this CPU at both ends of the
// source's range and on both sides of every threshold inside it: the
// program and the threshold map are both non-decreasing, and the
// threshold map is constant between thresholds, so agreeing there is
// agreeing everywhere.

// Operations of a vecMap program, each with one float32 operand per
// channel: y·a, y + a, y − a, max(y, a), min(y, a), in IEEE float32 with
// one rounding each, as the Go expressions of the model's maps compute;
// and two pairs of them as one operation with two operands a, b (fused
// only in dispatch, each step rounded as before): y·a + b (a
// requantisation, a batch norm's scale and shift) and (y − a)·b (its
// normalisation), which halve the kernel's dispatches on the usual maps.
const (
	vecMul int64 = iota
	vecAdd
	vecSub
	vecMax
	vecMin
	vecMulAdd
	vecSubMul
)

// operands returns the number of operand rows of operation op.
func operands(op int64) int {
	if op == vecMulAdd || op == vecSubMul {
		return 2
	}
	return 1
}

// vecMap is an edge's map as a program over n channels; its output is the
// quantized level minus off (the fused form's offset levels).
type vecMap struct {
	ops         []int64
	par         []float32 // rows of n operands, operands(op) rows per op
	n           int
	div, lo, hi float32
	off         int32
}

// newVecMap returns the program of e's map for a source of n channels,
// levels offset by e's lowest, or nil when the map has no program (a
// leaky ReLU) or this CPU no vector kernel. ls are the engine's layers.
func newVecMap(p *dagPlan, e *edge, n int, ls []*layerRun) *vecMap {
	if !useAVX2 || n < 8 {
		return nil
	}
	m := &vecMap{n: n, div: e.q.s, lo: float32(e.q.lo), hi: float32(e.q.hi), off: e.q.lo}
	each := func(f func(c int) float32) []float32 {
		a := make([]float32, n)
		for c := range a {
			a[c] = f(c)
		}
		return a
	}
	add := func(op int64, rows ...[]float32) { // operands(op) rows
		m.ops = append(m.ops, op)
		for _, a := range rows {
			m.par = append(m.par, a...)
		}
	}
	all := func(v float32) []float32 { return each(func(int) float32 { return v }) }
	src := p.sources[e.sym.src]
	switch src.kind {
	case srcAcc:
		l := ls[src.layer].l
		add(vecMulAdd, l.Scale, l.Bias) // thresh.Requant
	case srcSum:
		add(vecMul, all(src.s))
	case srcMean:
		add(vecMul, all(1/float32(src.hw)))
		add(vecMul, all(src.s))
	default:
		return nil
	}
	for i, el := range e.sym.chain {
		switch {
		case el.norm != nil: // Norm.apply
			nm := el.norm
			add(vecSubMul, nm.Mean, nm.InvStd)
			add(vecMulAdd, nm.Gamma, nm.Beta)
		case el.leaky:
			return nil
		default:
			// A clip bound that changes nothing is left out: an infinite
			// one, and, for the last operation, one that Quantize maps to
			// the end of the grid it clamps to anyway (a ReLU before an
			// unsigned quantizer).
			last := i == len(e.sym.chain)-1
			if !math.IsInf(float64(el.lo), -1) && !(last && thresh.Quantize(el.lo, m.div, m.lo, m.hi) == m.lo) {
				add(vecMax, all(el.lo))
			}
			if !math.IsInf(float64(el.hi), 1) && !(last && thresh.Quantize(el.hi, m.div, m.lo, m.hi) == m.hi) {
				add(vecMin, all(el.hi))
			}
		}
	}
	if len(m.ops) == 0 {
		return nil
	}
	return m
}

// level is the program on channel c's accumulator v, in Go.
func (m *vecMap) level(c int, v int32) uint8 {
	y := float32(v)
	k := 0 // operand row
	for _, op := range m.ops {
		a := m.par[k*m.n+c]
		k += operands(op)
		switch op {
		case vecMulAdd:
			y = float32(y*a) + m.par[(k-1)*m.n+c] // rounded before the sum: never fused
		case vecSubMul:
			y = (y - a) * m.par[(k-1)*m.n+c]
		case vecMul:
			y *= a
		case vecAdd:
			y += a
		case vecSub:
			y -= a
		case vecMax:
			y = max(y, a)
		case vecMin:
			y = min(y, a)
		}
	}
	return uint8(int32(thresh.Quantize(y, m.div, m.lo, m.hi)) - m.off)
}

// rows maps rows of n accumulators x to levels o.
func (m *vecMap) rows(x []int32, o []uint8) {
	n := m.n
	rows := len(x) / n
	if rows == 0 {
		return
	}
	_ = o[rows*n-1]
	if useAVX2 {
		mapAVX2(&o[0], &x[0], &m.ops[0], len(m.ops), &m.par[0], n, rows, m.div, m.lo, m.hi, m.off)
	}
	done := n &^ 7
	if !useAVX2 {
		done = 0
	}
	if done == n {
		return
	}
	for r := 0; r < rows; r++ {
		for c := done; c < n; c++ {
			o[r*n+c] = m.level(c, x[r*n+c])
		}
	}
}

// verify reports whether m gives q's level for every accumulator in
// [amin, amax] (see the top of this file).
func (m *vecMap) verify(q *requant, amin, amax int32) bool {
	x := q.critical(amin, amax)
	got := make([]uint8, len(x))
	m.rows(x, got)
	return q.matches(x, got)
}
