package intinfer

import (
	"github.com/a2qtoolkit/a2q/intgemm"
)

// The adversarial test: inputs that drive each channel's accumulator to its
// extremes, run at P bits in wrap and saturate modes.

// AdversarialLayer is the outcome of the adversarial test of one layer.
type AdversarialLayer struct {
	Name         string `json:"name"`
	AccBits      int    `json:"acc_bits"`
	AccBitsExact int    `json:"acc_bits_exact"`
	// Tile and AccBitsOuter describe a tiled layer (as in LayerInfo; its
	// inner width is AccBits), 0 for the others.
	Tile         int `json:"tile,omitempty"`
	AccBitsOuter int `json:"acc_bits_outer,omitempty"`
	// Overflows counts the additions that left the P-bit range over the
	// 2·OutC adversarial dot products (of a tiled layer, in both stages,
	// though the outer one cannot overflow in these modes); MaxError is the
	// largest |acc_P − acc_exact| among them, for each mode.
	WrapOverflows     int64 `json:"wrap_overflows"`
	WrapMaxError      int64 `json:"wrap_max_error"`
	SaturateOverflows int64 `json:"saturate_overflows"`
	SaturateMaxError  int64 `json:"saturate_max_error"`
}

// Adversarial runs, for every layer and output channel, the input vector
// that maximises the channel's accumulator (x_i = hi where q_i > 0, lo where
// q_i < 0, 0 elsewhere) and the one that minimises it (the reverse) through
// a P-bit accumulator in wrap and saturate modes (intgemm.DotP, natural
// order; a tiled layer's two stages as the engine's scalar path runs them,
// those vectors driving every tile to its extremes too). accBits sets P
// per layer name, as in Options; other layers run at their own target.
func Adversarial(m *Model, accBits map[string]int) ([]AdversarialLayer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var out []AdversarialLayer
	for _, l := range m.Layers() {
		p := l.AccBits
		if v, ok := accBits[l.Name]; ok {
			p = v
		}
		info, run, runOut, err := stageWidths(l, p)
		if err != nil {
			return nil, err
		}
		r := AdversarialLayer{Name: l.Name, AccBits: p, AccBitsExact: info.AccBitsExact, Tile: info.Tile, AccBitsOuter: info.AccBitsOuter}
		dot := func(x, w []int32, mode intgemm.Mode) (int64, int64) {
			if l.Tile > 0 {
				a, inner, outer := dotTiled(x, w, l.Tile, run, runOut, mode)
				return a, inner + outer
			}
			a, ov := intgemm.DotP(x, w, run, mode)
			return a, int64(ov)
		}
		lo, hi := levels(l.InputBits, l.InputSigned)
		x := make([]int32, l.K)
		for c := 0; c < l.OutC; c++ {
			w := l.Weights[c*l.K : (c+1)*l.K]
			for _, up := range []bool{true, false} {
				for i, q := range w {
					switch {
					case (q > 0) == up && q != 0:
						x[i] = hi
					case q != 0:
						x[i] = lo
					default:
						x[i] = 0
					}
				}
				exact, _ := intgemm.DotP(x, w, MaxSimAccBits, intgemm.Exact)
				a, ov := dot(x, w, intgemm.Wrap)
				r.WrapOverflows += ov
				r.WrapMaxError = max(r.WrapMaxError, abs(a-exact))
				a, ov = dot(x, w, intgemm.Saturate)
				r.SaturateOverflows += ov
				r.SaturateMaxError = max(r.SaturateMaxError, abs(a-exact))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
