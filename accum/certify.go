package accum

import (
	"fmt"
	"io"
	"math"
	"math/big"
)

// Layer describes one quantized dot-product layer as integers.
type Layer struct {
	Name string // layer name, used in errors and reports
	Kind string // "conv", "linear", "depthwise", ...

	// Weights holds OutChannels rows of K integer weights, row-major; K is
	// the dot-product length (per group for a grouped convolution).
	Weights     []int32
	OutChannels int
	K           int

	InputBits   int  // N, in [1, MaxInputBits]
	InputSigned bool // s
	WeightBits  int  // M, in [1, MaxWeightBits]

	TargetBits int     // P the layer is meant to run at, in [MinAccBits, MaxAccBits]; 0 if unknown
	L1Bound    float64 // budget T of the layer's own quantizer; 0 if none

	// Bias holds one integer bias per output channel in accumulator units,
	// or is nil.
	Bias []int64

	// Tile, when positive, splits each dot product into tiles of Tile
	// consecutive terms of its weight row (multi-stage accumulation): each
	// tile is summed in a TargetBits-wide inner accumulator and the tile
	// sums in an outer one of OuterBits(TargetBits, K, Tile) bits. It must
	// be 0 (one stage) or in [1, K−1]; quant.LayerConfig.TileFor gives it.
	Tile int
}

// Certificate is the per-layer accumulator report shared by the inspect,
// train and verify commands; the JSON field names are fixed by the
// project's report format.
type Certificate struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	K           int    `json:"k"`
	OutChannels int    `json:"out_channels"`
	InputBits   int    `json:"input_bits"`
	InputSigned bool   `json:"input_signed"`
	WeightBits  int    `json:"weight_bits"`

	// AccBitsTarget is the accumulator width P the layer is meant to run at
	// (0 if unknown).
	AccBitsTarget int `json:"acc_bits_target"`
	// L1Max is the largest per-channel L1 norm ||q_c||_1.
	L1Max int64 `json:"l1_max"`
	// L1Bound is the budget T of the layer's own quantizer (0 if none).
	L1Bound float64 `json:"l1_bound"`

	// AccBitsDatatype is DataTypeBits(K, N, s, M).
	AccBitsDatatype int `json:"acc_bits_datatype"`
	// AccBitsL1 is the A2Q bound from L1Max, whatever the quantizer.
	AccBitsL1 int `json:"acc_bits_l1"`
	// AccBitsExact is the exact width of [AccMin, AccMax] (ExactBits).
	AccBitsExact int `json:"acc_bits_exact"`
	// AccMin and AccMax are the exact accumulator range without the bias
	// (clamped to int64).
	AccMin int64 `json:"acc_min"`
	AccMax int64 `json:"acc_max"`

	// AccBitsExactWithBias, AccMinWithBias and AccMaxWithBias are the exact
	// range and width when the bias is one more term of the sum, added first
	// (seeding the accumulator), last, or anywhere in between: per channel
	// [min(lo_c, b_c + lo_c), max(hi_c, b_c + hi_c)]. Without a bias they
	// equal the fields above.
	AccBitsExactWithBias int   `json:"acc_bits_exact_with_bias"`
	AccMinWithBias       int64 `json:"acc_min_with_bias"`
	AccMaxWithBias       int64 `json:"acc_max_with_bias"`

	// Sparsity is the fraction of zero integer weights.
	Sparsity float64 `json:"sparsity"`
	// ZeroChannels counts output channels whose weights are all zero.
	ZeroChannels int `json:"zero_channels"`
	// Certified reports NeededBits() ≤ AccBitsTarget (false when the
	// target is 0): AccBitsExact ≤ AccBitsTarget for one stage,
	// AccBitsInner ≤ AccBitsTarget for a tiled layer, whose outer
	// accumulator of OuterBits(AccBitsTarget, K, Tile) bits then holds
	// every sum of tile sums. It concerns Σ q·x; see AccBitsExactWithBias
	// for a datapath that accumulates the bias too.
	Certified bool `json:"certified"`

	// Tile is the number of terms per tile of a multi-stage accumulation
	// (0: one stage). AccBitsInner is then the exact width of every tile
	// sum of every channel (TiledBits), the inner accumulator the target
	// applies to, and AccBitsOuter = OuterBits(AccBitsInner, K, Tile), the
	// outer accumulator that holds any sum of such tile sums. All three are
	// 0 for one stage.
	Tile         int `json:"tile,omitempty"`
	AccBitsInner int `json:"acc_bits_inner,omitempty"`
	AccBitsOuter int `json:"acc_bits_outer,omitempty"`
}

// EffectiveTile returns the tile a dot product of k terms runs with under
// a tile setting of tile terms: tile when it splits the dot product
// (0 < tile < k), else 0 (one stage). It is the rule for files that carry
// a tile without a quantizer configuration (quant.LayerConfig.TileFor adds
// that a float layer is never tiled).
func EffectiveTile(tile, k int) int {
	if tile <= 0 || tile >= k {
		return 0
	}
	return tile
}

// Weights returns the number of weights of the certified layer.
func (c Certificate) Weights() int { return c.OutChannels * c.K }

// NeededBits returns the exact width of the accumulator the target P
// applies to: AccBitsInner for a tiled layer, AccBitsExact for one stage.
// The layer is certified at every P ≥ NeededBits(); it is the one rule
// of Certified.
func (c Certificate) NeededBits() int {
	if c.Tile > 0 {
		return c.AccBitsInner
	}
	return c.AccBitsExact
}

// Bounds returns the data-type, L1 and exact widths of the accumulator the
// target P applies to, from the weakest assumption to the strongest. For
// one stage they are AccBitsDatatype, AccBitsL1 and AccBitsExact; for a
// tiled layer they bound its inner accumulators: the data-type bound of
// Tile terms, the channel's A2Q bound AccBitsL1 (a tile's L1 norm is at
// most its channel's) and AccBitsInner.
func (c Certificate) Bounds() (datatype, l1, exact int) {
	if c.Tile > 0 {
		return DataTypeBits(c.Tile, c.InputBits, c.InputSigned, c.WeightBits), c.AccBitsL1, c.AccBitsInner
	}
	return c.AccBitsDatatype, c.AccBitsL1, c.AccBitsExact
}

// OuterTargetBits returns the width of the outer accumulator of a tiled
// layer at its target, OuterBits(AccBitsTarget, K, Tile); 0 for one stage
// or without a target.
func (c Certificate) OuterTargetBits() int {
	if c.Tile == 0 || c.AccBitsTarget == 0 {
		return 0
	}
	return OuterBits(c.AccBitsTarget, c.K, c.Tile)
}

// Stages describes a tiled layer's accumulators, "P_I 16, P_O 21, tile 64"
// (the exact inner width, its outer width, and the tile), followed by the
// outer width at the target when there is one; "" for one stage.
func (c Certificate) Stages() string {
	if c.Tile == 0 {
		return ""
	}
	s := fmt.Sprintf("P_I %d, P_O %d, tile %d (%d tiles)", c.AccBitsInner, c.AccBitsOuter, c.Tile, (c.K+c.Tile-1)/c.Tile)
	if o := c.OuterTargetBits(); o > 0 {
		s += fmt.Sprintf("; at P = %d the outer accumulator has %d bits", c.AccBitsTarget, o)
	}
	return s
}

// WithTarget returns c certified against the accumulator width p instead
// of its own target: AccBitsTarget = p and Certified = NeededBits() ≤ p
// (false for p = 0). The bounds do not depend on P, so this is what
// Certify would return for the layer at target p.
func (c Certificate) WithTarget(p int) Certificate {
	c.AccBitsTarget = p
	c.Certified = p > 0 && c.NeededBits() <= p
	return c
}

// CertifiedWithBias reports that the layer also fits its target when the
// bias is one more term of the sum (false when the target is 0): for one
// stage AccBitsExactWithBias ≤ AccBitsTarget; for a tiled layer, whose
// bias goes into the outer accumulator, Certified and
// AccBitsExactWithBias ≤ OuterTargetBits().
func (c Certificate) CertifiedWithBias() bool {
	if c.Tile > 0 {
		return c.Certified && c.AccBitsExactWithBias <= c.OuterTargetBits()
	}
	return c.AccBitsTarget > 0 && c.AccBitsExactWithBias <= c.AccBitsTarget
}

// validate checks l and returns an error naming the layer and the field.
func (l *Layer) validate() error {
	name := l.Name
	if name == "" {
		name = "(unnamed)"
	}
	fail := func(field string, base error, format string, args ...any) error {
		return fmt.Errorf("layer %q: %s: %s: %w", name, field, fmt.Sprintf(format, args...), base)
	}
	switch {
	case l.InputBits < 1 || l.InputBits > MaxInputBits:
		return fail("input_bits", ErrBitWidth, "N = %d, must be in [1, %d]", l.InputBits, MaxInputBits)
	case l.WeightBits < 1 || l.WeightBits > MaxWeightBits:
		return fail("weight_bits", ErrBitWidth, "M = %d, must be in [1, %d]", l.WeightBits, MaxWeightBits)
	case l.TargetBits != 0 && CheckAccBits(l.TargetBits) != nil:
		return fmt.Errorf("layer %q: acc_bits_target: %w (or 0: unknown)", name, CheckAccBits(l.TargetBits))
	case l.OutChannels < 1:
		return fail("out_channels", ErrShape, "%d output channels, need at least 1", l.OutChannels)
	case l.K < 1:
		return fail("k", ErrShape, "dot-product length %d, need at least 1", l.K)
	case l.K > math.MaxInt/l.OutChannels || len(l.Weights) != l.OutChannels*l.K:
		return fail("weights", ErrShape, "%d weights, want out_channels·k = %d·%d", len(l.Weights), l.OutChannels, l.K)
	case l.Bias != nil && len(l.Bias) != l.OutChannels:
		return fail("bias", ErrShape, "%d biases for %d output channels", len(l.Bias), l.OutChannels)
	case math.IsNaN(l.L1Bound) || math.IsInf(l.L1Bound, 0) || l.L1Bound < 0:
		return fail("l1_bound", ErrValue, "%v, must be finite and non-negative", l.L1Bound)
	case l.Tile < 0 || l.Tile >= l.K && l.Tile != 0:
		return fail("tile", ErrShape, "tile of %d terms for K = %d, must be 0 (one stage) or in [1, %d]", l.Tile, l.K, l.K-1)
	}
	wm := WeightMax(l.WeightBits)
	for i, q := range l.Weights {
		if int64(q) > wm || int64(q) < -wm {
			return fail("weights", ErrWeightRange, "weight %d at channel %d, index %d is outside ±%d (%d-bit narrow range)",
				q, i/l.K, i%l.K, wm, l.WeightBits)
		}
	}
	return nil
}

// Certify computes the accumulator certificate of a layer: the three bounds
// of the package, the exact range with and without the bias, sparsity,
// for a tiled layer the widths of its inner and outer accumulators
// (TiledBits), and whether the accumulator the target applies to fits it
// (NeededBits). It returns an error naming the layer and the field when a
// bit width is impossible (N or M outside [1, 32], a non-zero P that
// CheckAccBits refuses), when len(Weights) != OutChannels·K or the bias
// length differs from OutChannels, when a weight lies outside
// ±WeightMax(M), when L1Bound is negative or not finite, or when Tile is
// neither 0 nor in [1, K−1].
func Certify(l Layer) (Certificate, error) {
	if err := l.validate(); err != nil {
		return Certificate{}, err
	}
	n, s, k := l.InputBits, l.InputSigned, l.K
	negMag, posMax := inputMags(n, s)

	var (
		lowMag, high   u128
		l1Max          int64
		zeros, zeroChs int
		// Ranges with the bias, as big integers: the bias is arbitrary int64.
		bMin, bMax = new(big.Int), new(big.Int)
		tmp        = new(big.Int)
		lo, hi     = new(big.Int), new(big.Int)
	)
	for c := range l.OutChannels {
		row := l.Weights[c*k : (c+1)*k]
		p, q := oneSided(row)
		lm, h := extremes(p, q, negMag, posMax)
		lowMag, high = max128(lowMag, lm), max128(high, h)
		l1Max = max(l1Max, int64(p+q))
		if p == 0 && q == 0 {
			zeroChs++
		}
		for _, w := range row {
			if w == 0 {
				zeros++
			}
		}
		// Channel range [lo, hi] = [−lm, h] always contains 0; with the bias
		// b as one more term the partial sums lie in
		// [min(lo, lo + b), max(hi, hi + b)].
		setNeg128(lo, lm)
		set128(hi, h)
		var b int64
		if l.Bias != nil {
			b = l.Bias[c]
		}
		if b < 0 {
			lo.Add(lo, tmp.SetInt64(b))
		} else {
			hi.Add(hi, tmp.SetInt64(b))
		}
		if c == 0 || lo.Cmp(bMin) < 0 {
			bMin.Set(lo)
		}
		if c == 0 || hi.Cmp(bMax) > 0 {
			bMax.Set(hi)
		}
	}

	cert := Certificate{
		Name:            l.Name,
		Kind:            l.Kind,
		K:               k,
		OutChannels:     l.OutChannels,
		InputBits:       n,
		InputSigned:     s,
		WeightBits:      l.WeightBits,
		AccBitsTarget:   l.TargetBits,
		L1Max:           l1Max,
		L1Bound:         l.L1Bound,
		AccBitsDatatype: DataTypeBits(k, n, s, l.WeightBits),
		AccBitsL1:       L1BitsInt(l1Max, n, s),
		AccBitsExact:    signedBitsFor(lowMag, high),
		AccMin:          clampNeg(lowMag),
		AccMax:          clampPos(high),
		ZeroChannels:    zeroChs,
		Sparsity:        float64(zeros) / float64(len(l.Weights)),
	}
	cert.AccMinWithBias = clampBig(bMin)
	cert.AccMaxWithBias = clampBig(bMax)
	cert.AccBitsExactWithBias = bigRangeBits(bMin, bMax)
	if l.Tile > 0 {
		cert.Tile = l.Tile
		cert.AccBitsInner, cert.AccBitsOuter = TiledBits(l.Weights, l.OutChannels, k, l.Tile, n, s)
	}
	return cert.WithTarget(cert.AccBitsTarget), nil
}

// set128 sets z = x and returns z.
func set128(z *big.Int, x u128) *big.Int {
	z.SetUint64(x.hi)
	z.Lsh(z, 64)
	return z.Or(z, new(big.Int).SetUint64(x.lo))
}

// setNeg128 sets z = −x and returns z.
func setNeg128(z *big.Int, x u128) *big.Int {
	return z.Neg(set128(z, x))
}

// clampBig returns x clamped to int64.
func clampBig(x *big.Int) int64 {
	switch {
	case x.IsInt64():
		return x.Int64()
	case x.Sign() < 0:
		return math.MinInt64
	default:
		return math.MaxInt64
	}
}

// bigRangeBits is RangeBits for arbitrary-precision bounds with min ≤ 0 ≤ max.
func bigRangeBits(lo, hi *big.Int) int {
	neg := new(big.Int).Neg(lo)
	pos := new(big.Int).Add(hi, big.NewInt(1))
	v := neg
	if pos.Cmp(neg) > 0 {
		v = pos
	}
	// ceil(log2 v) + 1 = bitlen(v − 1) + 1 for v ≥ 1.
	return v.Sub(v, big.NewInt(1)).BitLen() + 1
}

// Summary is the model-level accumulator report over a set of layers.
type Summary struct {
	// Layers holds the per-layer certificates, in model order.
	Layers []Certificate `json:"layers"`
	// Sparsity is the fraction of zero weights over all the layers
	// (per-layer sparsities weighted by weight counts).
	Sparsity float64 `json:"sparsity"`
	// Weights is the total number of weights.
	Weights int `json:"weights"`
	// ZeroChannels is the total number of all-zero output channels.
	ZeroChannels int `json:"zero_channels"`
	// MaxAccBitsExact is the largest exact accumulator width of any layer.
	MaxAccBitsExact int `json:"max_acc_bits_exact"`
	// Certified reports that every layer with a target is certified and at
	// least one layer has a target.
	Certified bool `json:"certified"`
	// Uncertified names the layers with a target that are not certified.
	Uncertified []string `json:"uncertified,omitempty"`
}

// Summarize aggregates per-layer certificates into a model-level summary.
func Summarize(certs []Certificate) Summary {
	s := Summary{Layers: certs}
	zeros, targets := 0, 0
	for _, c := range certs {
		w := c.Weights()
		s.Weights += w
		zeros += int(math.Round(c.Sparsity * float64(w)))
		s.ZeroChannels += c.ZeroChannels
		s.MaxAccBitsExact = max(s.MaxAccBitsExact, c.AccBitsExact)
		if c.AccBitsTarget > 0 {
			targets++
			if !c.Certified {
				s.Uncertified = append(s.Uncertified, c.Name)
			}
		}
	}
	if s.Weights > 0 {
		s.Sparsity = float64(zeros) / float64(s.Weights)
	}
	s.Certified = targets > 0 && len(s.Uncertified) == 0
	return s
}

// WriteStages writes one line per tiled certificate of certs with its
// inner and outer accumulator widths (Stages), under a heading; nothing
// when none is tiled. It follows WriteTable, whose P column is then the
// inner accumulators'.
func WriteStages(w io.Writer, certs []Certificate) error {
	head := false
	for _, c := range certs {
		s := c.Stages()
		if s == "" {
			continue
		}
		if !head {
			if _, err := fmt.Fprintln(w, "multi-stage accumulation (P is the inner accumulators'; P_I their exact width, P_O = P_I + ceil(log2 tiles) the outer one's):"); err != nil {
				return fmt.Errorf("accum: writing stages: %w", err)
			}
			head = true
		}
		if _, err := fmt.Fprintf(w, "  %s: %s\n", c.Name, s); err != nil {
			return fmt.Errorf("accum: writing stages: %w", err)
		}
	}
	return nil
}
