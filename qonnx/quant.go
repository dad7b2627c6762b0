package qonnx

import (
	"fmt"
	"math"
	"strings"
)

// QuantDomains are the node domains whose op type "Quant" this package reads
// as a QONNX quantizer: the QONNX custom-op domain and the one Brevitas uses
// in its exports.
var QuantDomains = []string{"qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general"}

// IsQuant reports whether n is a QONNX Quant node (op type Quant or IntQuant
// in one of QuantDomains).
func IsQuant(n *Node) bool {
	if n.OpType != "Quant" && n.OpType != "IntQuant" {
		return false
	}
	for _, d := range QuantDomains {
		if n.Domain == d {
			return true
		}
	}
	return false
}

// Rounding is a QONNX rounding mode.
type Rounding int

// Rounding modes of the QONNX Quant node (attribute rounding_mode).
const (
	RoundHalfEven Rounding = iota // "ROUND", "HALF_EVEN": to nearest, ties to even
	RoundFloor                    // "FLOOR"
	RoundCeil                     // "CEIL"
	RoundToZero                   // "ROUND_TO_ZERO", "DOWN"
	RoundAwayZero                 // "UP"
	RoundHalfUp                   // "HALF_UP": ties away from zero
	RoundHalfDown                 // "HALF_DOWN": ties toward zero
)

var roundingNames = map[string]Rounding{
	"ROUND": RoundHalfEven, "HALF_EVEN": RoundHalfEven, "FLOOR": RoundFloor, "CEIL": RoundCeil,
	"ROUND_TO_ZERO": RoundToZero, "DOWN": RoundToZero, "UP": RoundAwayZero,
	"HALF_UP": RoundHalfUp, "HALF_DOWN": RoundHalfDown,
}

// ParseRounding parses a QONNX rounding_mode string (case-insensitive).
func ParseRounding(s string) (Rounding, error) {
	r, ok := roundingNames[strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("unknown rounding mode %q", s)
	}
	return r, nil
}

// Apply rounds x to an integer-valued float64.
func (r Rounding) Apply(x float64) float64 {
	switch r {
	case RoundFloor:
		return math.Floor(x)
	case RoundCeil:
		return math.Ceil(x)
	case RoundToZero:
		return math.Trunc(x)
	case RoundAwayZero:
		if x < 0 {
			return math.Floor(x)
		}
		return math.Ceil(x)
	case RoundHalfUp:
		return math.Round(x)
	case RoundHalfDown:
		return math.Copysign(math.Ceil(math.Abs(x)-0.5), x)
	}
	return math.RoundToEven(x)
}

// QuantParams are the integer-domain parameters of a Quant node.
type QuantParams struct {
	Bits     int
	Signed   bool
	Narrow   bool
	Rounding Rounding
}

// Range returns the integer range [lo, hi] of the quantizer:
// signed [-2^(b-1) + narrow, 2^(b-1) - 1], unsigned [0, 2^b - 1 - narrow].
func (p QuantParams) Range() (lo, hi float64) {
	b := float64(p.Bits)
	n := 0.0
	if p.Narrow {
		n = 1
	}
	if p.Signed {
		return -math.Exp2(b-1) + n, math.Exp2(b-1) - 1
	}
	return 0, math.Exp2(b) - 1 - n
}

// maxQuantBits is the widest Quant bit width this package accepts.
const maxQuantBits = 32

// quantParams reads the attributes and bit-width input of a Quant node.
// bitwidth is the value of its fourth input.
func quantParams(n *Node, bitwidth *Tensor) (QuantParams, error) {
	p, err := quantAttrs(n)
	if err != nil {
		return p, err
	}
	if bitwidth == nil {
		return p, fmt.Errorf("node %s (Quant): bit width input %q is not a constant", n.Name, n.Input(3))
	}
	b, err := bitwidth.Scalar()
	if err != nil {
		return p, fmt.Errorf("node %s (Quant): bit width %q: %w", n.Name, n.Input(3), err)
	}
	minBits := 1.0
	if p.Signed && p.Narrow {
		minBits = 2
	}
	if b != math.Trunc(b) || b < minBits || b > maxQuantBits {
		return p, fmt.Errorf("node %s (Quant): bit width %q is %v, want an integer in [%v, %d]", n.Name, n.Input(3), b, minBits, maxQuantBits)
	}
	p.Bits = int(b)
	return p, nil
}

// quantAttrs reads the attributes of a Quant node: signed, narrow and
// rounding_mode.
func quantAttrs(n *Node) (QuantParams, error) {
	var p QuantParams
	signed, err := n.AttrInt("signed", 1)
	if err != nil {
		return p, err
	}
	narrow, err := n.AttrInt("narrow", 0)
	if err != nil {
		return p, err
	}
	mode, err := n.AttrString("rounding_mode", "ROUND")
	if err != nil {
		return p, err
	}
	if p.Rounding, err = ParseRounding(mode); err != nil {
		return p, n.errAttr("rounding_mode", "%v", err)
	}
	if signed != 0 && signed != 1 {
		return p, n.errAttr("signed", "is %d, want 0 or 1", signed)
	}
	if narrow != 0 && narrow != 1 {
		return p, n.errAttr("narrow", "is %d, want 0 or 1", narrow)
	}
	p.Signed, p.Narrow = signed == 1, narrow == 1
	return p, nil
}

// quantize applies the QONNX Quant function elementwise:
// y = scale·(clamp(round(x/scale + zp), lo, hi) − zp), with scale and
// zero point broadcast against x. It returns y with x's shape. As in the
// QONNX reference, a 1-bit signed Quant is bipolar (x/scale + zp ≥ 0 → 1,
// else −1).
func quantize(x, scale, zp *Tensor, p QuantParams) (*Tensor, error) {
	sc, err := broadcastTo(scale, x.Shape)
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	zf, err := broadcastTo(zp, x.Shape)
	if err != nil {
		return nil, fmt.Errorf("zero point: %w", err)
	}
	lo, hi := p.Range()
	bipolar := p.Bits == 1 && p.Signed
	xs := x.Floats()
	y := make([]float32, len(xs))
	for i, v := range xs {
		s := sc[i]
		if !(s > 0) {
			return nil, fmt.Errorf("scale %v is not positive", s)
		}
		if bipolar { // QONNX reads a 1-bit signed Quant as bipolar: ±1
			q := float32(1)
			if v/s+zf[i] < 0 {
				q = -1
			}
			y[i] = (q - zf[i]) * s
			continue
		}
		q := p.Rounding.Apply(float64(v/s + zf[i]))
		q = math.Min(math.Max(q, lo), hi)
		y[i] = float32(q-float64(zf[i])) * s
	}
	return NewFloat(y, x.Shape...), nil
}
