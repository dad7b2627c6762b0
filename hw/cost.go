package hw

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/accum"
)

// Limits on the bit widths accepted by EstimateLUT and the RTL generator
// (the accumulator width P is checked by accum.CheckAccBits).
const (
	// MaxOperandBits is the widest weight or input accepted.
	MaxOperandBits = 32
	// MaxOutputBits is the widest thresholded output accepted by the cost model: the
	// model stores 2^B − 1 thresholds per channel, which is only sensible for small B.
	MaxOutputBits = 16
)

// MVU describes one matrix-vector unit (one layer) in FINN's terms, the input of EstimateLUT.
//
// MW is the dot-product length K (Cin·kh·kw for a convolution) and MH the number of output
// channels. PE output channels are computed in parallel, each with SIMD multiply lanes, so
// the unit takes MW·MH/(PE·SIMD) cycles per input vector.
type MVU struct {
	Name string
	// MW is the matrix width (dot-product length K); MH is the matrix height (output channels).
	MW, MH int
	// PE is the number of processing elements (must divide MH); SIMD the lanes per PE (must divide MW).
	PE, SIMD int
	// WeightBits M, InputBits N, OutputBits B (thresholds; 0 means no thresholding stage)
	// and AccBits P.
	WeightBits, InputBits, OutputBits, AccBits int
	// Tile, when positive and below MW, makes the unit accumulate in two stages: each PE sums
	// tiles of Tile consecutive terms (Tile/SIMD cycles) in an inner accumulator of AccBits =
	// P_I bits and adds each tile sum into an outer accumulator of P_O =
	// accum.OuterBits(P_I, MW, Tile) bits, which the thresholds compare. SIMD must divide it.
	// 0, or a tile of MW or more terms: one stage.
	Tile int
	// MultOnDSP puts the multipliers in DSP blocks (the mult term is then 0).
	MultOnDSP bool
	// WeightsInLUTRAM stores the weights in LUTRAM (adds the wmem term); otherwise in BRAM.
	WeightsInLUTRAM bool
	// Kind is free-form information ("conv", "linear", ...) carried into reports.
	Kind string
}

// Estimate is the LUT estimate of one MVU with the terms of the model broken out.
//
// LUT = 300 + 1.1·PE·(Mult + AdderTree + Acc + Thr + Comp) + WMem. The terms are per PE,
// except WMem, which is for the whole unit. Acc counts every accumulator of a PE: both
// stages of a tiled unit.
type Estimate struct {
	LUT                                   float64
	Mult, AdderTree, Acc, Thr, Comp, WMem float64
}

// Add returns the term-by-term sum of e and f, used to total a network.
func (e Estimate) Add(f Estimate) Estimate {
	return Estimate{
		LUT:       e.LUT + f.LUT,
		Mult:      e.Mult + f.Mult,
		AdderTree: e.AdderTree + f.AdderTree,
		Acc:       e.Acc + f.Acc,
		Thr:       e.Thr + f.Thr,
		Comp:      e.Comp + f.Comp,
		WMem:      e.WMem + f.WMem,
	}
}

// EstimateLUT evaluates FINN's analytical LUT model (docs/MATH.md, “Hardware cost”) for u:
//
//	mult      = SIMD·(2·ceil((M+N)/6) − 1)·(M+N)   (0 when MultOnDSP)
//	addertree = (M+N)·(2·SIMD − 1)
//	acc       = P
//	thr       = (2^B − 1)·P·ceil(TMEM/64),  TMEM = MH/PE
//	comp      = (2^B − 1)·P
//	wmem      = PE·SIMD·M·ceil(WMEM/64),    WMEM = MW·MH/(PE·SIMD)   (0 unless WeightsInLUTRAM)
//	LUT       = 300 + 1.1·PE·(mult + addertree + acc + thr + comp) + wmem
//
// A tiled unit (0 < Tile < MW) prices its two stages in the same style, an accumulator costing
// one LUT per bit: acc = P_I + P_O, the inner accumulator and the outer one that adds a tile
// sum every Tile/SIMD cycles; thr and comp hold and compare P_O-bit thresholds, since they
// act on the outer sum. The multipliers and the adder tree, sized by M + N and SIMD, are
// those of one stage. The second stage therefore never makes a unit cheaper in this model:
// P_O is at least the dot product's exact width, so a tiled unit costs more than the same
// weights in one stage at their exact width; what tiling buys is a fixed narrow inner
// accumulator, which A2Q and A2Q+ can budget per tile instead of per channel.
//
// It returns an error naming the unit when a size or folding is impossible (PE not dividing
// MH, SIMD not dividing MW or a tile), a tile is negative, or a bit width is out of range.
func EstimateLUT(u MVU) (Estimate, error) {
	if err := u.validate(); err != nil {
		return Estimate{}, err
	}
	m, n, p, b := float64(u.WeightBits), float64(u.InputBits), float64(u.AccBits), u.OutputBits
	simd, pe := float64(u.SIMD), float64(u.PE)
	tmem := u.MH / u.PE
	wmem := u.MW * u.MH / (u.PE * u.SIMD)

	var e Estimate
	if !u.MultOnDSP {
		e.Mult = simd * (2*math.Ceil((m+n)/6) - 1) * (m + n)
	}
	e.AdderTree = (m + n) * (2*simd - 1)
	e.Acc = p
	if o := u.OuterAccBits(); o > 0 {
		e.Acc, p = p+float64(o), float64(o) // the thresholds compare the outer sum
	}
	levels := float64(uint64(1)<<uint(b) - 1)
	e.Thr = levels * p * float64(ceilDiv(tmem, 64))
	e.Comp = levels * p
	if u.WeightsInLUTRAM {
		e.WMem = pe * simd * m * float64(ceilDiv(wmem, 64))
	}
	e.LUT = 300 + 1.1*pe*(e.Mult+e.AdderTree+e.Acc+e.Thr+e.Comp) + e.WMem
	return e, nil
}

// EstimateAll estimates every unit and returns the per-unit estimates and their total.
// The first invalid unit stops it with an error naming that unit.
func EstimateAll(units []MVU) ([]Estimate, Estimate, error) {
	per := make([]Estimate, len(units))
	var total Estimate
	for i, u := range units {
		e, err := EstimateLUT(u)
		if err != nil {
			return nil, Estimate{}, err
		}
		per[i] = e
		total = total.Add(e)
	}
	return per, total, nil
}

// Tiled reports whether u accumulates in two stages: 0 < Tile < MW.
func (u MVU) Tiled() bool { return accum.EffectiveTile(u.Tile, u.MW) > 0 }

// OuterAccBits returns the width P_O of a tiled unit's outer accumulator,
// accum.OuterBits(AccBits, MW, Tile); 0 for one stage.
func (u MVU) OuterAccBits() int {
	if !u.Tiled() {
		return 0
	}
	return accum.OuterBits(u.AccBits, u.MW, u.Tile)
}

func (u MVU) validate() error {
	name := u.Name
	if name == "" {
		name = "(unnamed)"
	}
	switch {
	case u.MW <= 0 || u.MH <= 0:
		return fmt.Errorf("hw: layer %s: matrix size MW=%d MH=%d must be positive", name, u.MW, u.MH)
	case u.PE <= 0 || u.MH%u.PE != 0:
		return fmt.Errorf("hw: layer %s: PE=%d must be a positive divisor of MH=%d", name, u.PE, u.MH)
	case u.SIMD <= 0 || u.MW%u.SIMD != 0:
		return fmt.Errorf("hw: layer %s: SIMD=%d must be a positive divisor of MW=%d", name, u.SIMD, u.MW)
	case u.Tile < 0:
		return fmt.Errorf("hw: layer %s: tile of %d terms must be positive (0: one stage)", name, u.Tile)
	case u.Tiled() && u.Tile%u.SIMD != 0:
		return fmt.Errorf("hw: layer %s: SIMD=%d must divide the tile of %d terms (each cycle's products belong to one tile)", name, u.SIMD, u.Tile)
	case u.WeightBits < 1 || u.WeightBits > MaxOperandBits:
		return fmt.Errorf("hw: layer %s: weight bits %d out of range [1, %d]", name, u.WeightBits, MaxOperandBits)
	case u.InputBits < 1 || u.InputBits > MaxOperandBits:
		return fmt.Errorf("hw: layer %s: input bits %d out of range [1, %d]", name, u.InputBits, MaxOperandBits)
	case u.OutputBits < 0 || u.OutputBits > MaxOutputBits:
		return fmt.Errorf("hw: layer %s: output bits %d out of range [0, %d]", name, u.OutputBits, MaxOutputBits)
	case accum.CheckAccBits(u.AccBits) != nil:
		return fmt.Errorf("hw: layer %s: %w", name, accum.CheckAccBits(u.AccBits))
	}
	return nil
}

// DefaultFolding picks a small folding for an MW×MH matrix: PE is the largest divisor of mh
// that is at most peCap and SIMD the largest divisor of mw that is at most simdCap. Caps
// below 1, and non-positive sizes, give 1.
func DefaultFolding(mw, mh, peCap, simdCap int) (pe, simd int) {
	return largestDivisorAtMost(mh, peCap), largestDivisorAtMost(mw, simdCap)
}

func largestDivisorAtMost(n, limit int) int {
	if n <= 0 || limit <= 1 {
		return 1
	}
	for d := min(n, limit); d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
