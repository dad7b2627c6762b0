package qonnx

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/accum"
)

// CertificatesKey is the metadata_props key under which Export stores the
// accumulator certificate of every quantized layer: a portable claim, since
// no model format has a field for the accumulator width. Its value is a
// JSON list of Claim objects, one per layer, in graph order.
const CertificatesKey = "a2q.certificates"

// Bounds a claim may name, from the weakest assumption to the strongest:
// the data-type bound holds for any weights of M bits, the L1 bound for
// any weights of the same per-channel L1 norm, the exact bound only for
// these weights.
const (
	BoundDatatype = "datatype"
	BoundL1       = "l1"
	BoundExact    = "exact"
)

// Claim is the portable certificate of one layer as a file carries it: the
// layer's dot products Σ q·x, for every input of InputBits bits and every
// order of summation, lie in [AccMin, AccMax] and fit a signed AccBits-bit
// accumulator, as the bound Bound proves. A claim with a Tile is one of
// multi-stage accumulation: every sum of a tile of Tile consecutive terms
// (in Layer.TileOrder) fits AccBits bits, as Bound proves for the tiles,
// and the whole dot product, in [AccMin, AccMax], the outer accumulator of
// accum.OuterBits(AccBits, K, Tile) bits.
type Claim struct {
	// Name is the Conv, Gemm or MatMul node's name.
	Name string `json:"name"`
	// AccBits is the accumulator width P the layer is certified for (its
	// inner accumulators' with a Tile).
	AccBits int `json:"acc_bits_target"`
	// Tile is the number of terms per tile (0: one stage); a tile of K or
	// more terms is one stage.
	Tile int `json:"tile,omitempty"`
	// AccMin and AccMax are the exact range of the whole dot product
	// (bias excluded).
	AccMin int64 `json:"acc_min"`
	AccMax int64 `json:"acc_max"`
	// InputBits, InputSigned and WeightBits are N, the input signedness
	// and M, the operand widths the bounds assume.
	InputBits   int  `json:"input_bits"`
	InputSigned bool `json:"input_signed"`
	WeightBits  int  `json:"weight_bits"`
	// Bound names the bound that proves AccBits: the first of "datatype",
	// "l1" and "exact" whose width is at most AccBits.
	Bound string `json:"bound"`
	// Edge marks a first or last layer of the network, which keeps its
	// own P when the hidden layers are certified at another width
	// (Inspect's accBits); absent in files written before it existed,
	// whose layers then all count as hidden.
	Edge bool `json:"edge,omitempty"`
}

// NewClaim returns the claim that a layer with certificate c fits a p-bit
// accumulator (its inner accumulators when c is tiled, with c's tile),
// naming the first of the data-type, L1 and exact bounds
// (accum.Certificate.Bounds) that proves it. ok is false when not even the
// exact width fits p bits.
func NewClaim(c accum.Certificate, p int) (cl Claim, ok bool) {
	cl = Claim{Name: c.Name, AccBits: p, Tile: c.Tile, AccMin: c.AccMin, AccMax: c.AccMax,
		InputBits: c.InputBits, InputSigned: c.InputSigned, WeightBits: c.WeightBits}
	datatype, l1, exact := c.Bounds()
	switch {
	case datatype <= p:
		cl.Bound = BoundDatatype
	case l1 <= p:
		cl.Bound = BoundL1
	case exact <= p:
		cl.Bound = BoundExact
	default:
		return cl, false
	}
	return cl, true
}

// Claims returns the claims stored under CertificatesKey in m's metadata
// (nil, nil when there are none). A value that is not a JSON list of
// claims is an error naming the key.
func (m *Model) Claims() ([]Claim, error) {
	v, ok := m.Metadata[CertificatesKey]
	if !ok {
		return nil, nil
	}
	var cs []Claim
	if err := json.Unmarshal([]byte(v), &cs); err != nil {
		return nil, fmt.Errorf("qonnx: %s: metadata %q is not a JSON list of layer certificates: %w", m.name(), CertificatesKey, err)
	}
	if cs == nil {
		cs = []Claim{}
	}
	return cs, nil
}

// SetClaims stores claims in m's metadata under CertificatesKey (compact
// JSON, in the order given).
func (m *Model) SetClaims(claims []Claim) error {
	if claims == nil {
		claims = []Claim{}
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return fmt.Errorf("qonnx: encoding certificates: %w", err)
	}
	if m.Metadata == nil {
		m.Metadata = make(map[string]string)
	}
	m.Metadata[CertificatesKey] = string(b)
	return nil
}

// ClaimCheck is a file's claim for one layer set against the certificate
// recomputed from the file's own integer weights.
type ClaimCheck struct {
	Claim
	// Recomputed reports that the layer was found and certified; then
	// RecomputedAccBits is the recomputed exact width of the accumulator
	// the claimed P applies to (the inner one of a tiled claim),
	// RecomputedAccMin and RecomputedAccMax the exact range of the whole
	// dot product, and RecomputedBoundWidth the width of the bound the
	// claim names.
	Recomputed           bool  `json:"recomputed"`
	RecomputedAccBits    int   `json:"recomputed_acc_bits_exact"`
	RecomputedAccMin     int64 `json:"recomputed_acc_min"`
	RecomputedAccMax     int64 `json:"recomputed_acc_max"`
	RecomputedBoundWidth int   `json:"recomputed_bound_bits"`
	// Holds reports that the claim is true of the file's weights; Reason
	// says why not.
	Holds  bool   `json:"holds"`
	Reason string `json:"reason,omitempty"`
}

// CheckClaims sets every claim against the certificates recomputed from
// the weights (certs, from Inspect, by layer name, each tiled as its claim
// says; uncert the layers that cannot be certified). A claim holds when its
// layer exists and is certifiable, its tile is the certificate's (a tile
// of K or more terms counting as one stage), its operand widths N,
// signedness and M are the file's, the recomputed exact range lies inside
// the claimed [AccMin, AccMax], which fits P bits (with a tile, the outer
// accumulator's accum.OuterBits(P, K, Tile)), and the bound it names gives
// at most P bits. It returns the checks in claim order and the certified
// layers no claim names.
func CheckClaims(claims []Claim, certs []accum.Certificate, uncert []Uncertifiable) (checks []ClaimCheck, unclaimed []string) {
	byName := make(map[string]accum.Certificate, len(certs))
	for _, c := range certs {
		byName[c.Name] = c
	}
	why := make(map[string]string, len(uncert))
	for _, u := range uncert {
		why[u.Name] = u.Reason
	}
	seen := make(map[string]bool, len(claims))
	for _, cl := range claims {
		ck := ClaimCheck{Claim: cl}
		var reasons []string
		c, ok := byName[cl.Name]
		switch {
		case seen[cl.Name]:
			reasons = append(reasons, "the layer is claimed twice")
		case ok:
		case why[cl.Name] != "":
			reasons = append(reasons, "the layer cannot be certified: "+why[cl.Name])
		default:
			reasons = append(reasons, "the file has no quantized Conv, Gemm or MatMul node of that name")
		}
		seen[cl.Name] = true
		if err := accum.CheckAccBits(cl.AccBits); err != nil {
			reasons = append(reasons, "claimed "+err.Error())
		}
		if len(reasons) == 0 {
			ck.Recomputed = true
			ck.RecomputedAccBits, ck.RecomputedAccMin, ck.RecomputedAccMax = c.NeededBits(), c.AccMin, c.AccMax
			reasons = checkClaim(cl, c, &ck)
		}
		ck.Holds = len(reasons) == 0
		ck.Reason = strings.Join(reasons, "; ")
		checks = append(checks, ck)
	}
	for _, c := range certs {
		if !seen[c.Name] {
			unclaimed = append(unclaimed, c.Name)
		}
	}
	return checks, unclaimed
}

// checkClaim compares one claim with its layer's recomputed certificate.
func checkClaim(cl Claim, c accum.Certificate, ck *ClaimCheck) []string {
	var reasons []string
	sign := func(s bool) string {
		if s {
			return "signed"
		}
		return "unsigned"
	}
	if cl.InputBits != c.InputBits || cl.InputSigned != c.InputSigned {
		reasons = append(reasons, fmt.Sprintf("claims %d-bit %s inputs, the file's are %d-bit %s",
			cl.InputBits, sign(cl.InputSigned), c.InputBits, sign(c.InputSigned)))
	}
	if cl.WeightBits != c.WeightBits {
		reasons = append(reasons, fmt.Sprintf("claims %d-bit weights, the file's are %d-bit", cl.WeightBits, c.WeightBits))
	}
	switch tile := accum.EffectiveTile(cl.Tile, c.K); {
	case cl.Tile < 0:
		reasons = append(reasons, fmt.Sprintf("claims tiles of %d terms (want a positive tile, or none for one stage)", cl.Tile))
	case tile != c.Tile:
		reasons = append(reasons, fmt.Sprintf("claims tiles of %d terms, the layer (K = %d) was certified with %d (0: one stage)", cl.Tile, c.K, c.Tile))
	}
	datatype, l1, exact := c.Bounds()
	switch {
	case exact <= cl.AccBits:
	case c.Tile > 0:
		reasons = append(reasons, fmt.Sprintf("the weights need P_I = %d bits for their tiles of %d terms, the file claims P = %d",
			exact, c.Tile, cl.AccBits))
	default:
		reasons = append(reasons, fmt.Sprintf("the weights need P_exact = %d bits (range [%d, %d]), the file claims P = %d",
			exact, c.AccMin, c.AccMax, cl.AccBits))
	}
	switch cl.Bound {
	case BoundDatatype:
		ck.RecomputedBoundWidth = datatype
	case BoundL1:
		ck.RecomputedBoundWidth = l1
	case BoundExact:
		ck.RecomputedBoundWidth = exact
	default:
		reasons = append(reasons, fmt.Sprintf("unknown bound %q (want %s, %s or %s)", cl.Bound, BoundDatatype, BoundL1, BoundExact))
	}
	if ck.RecomputedBoundWidth > cl.AccBits {
		reasons = append(reasons, fmt.Sprintf("the %s bound gives %d bits, more than the claimed P = %d", cl.Bound, ck.RecomputedBoundWidth, cl.AccBits))
	}
	if c.AccMin < cl.AccMin || c.AccMax > cl.AccMax {
		reasons = append(reasons, fmt.Sprintf("the exact range [%d, %d] is not inside the claimed [%d, %d]", c.AccMin, c.AccMax, cl.AccMin, cl.AccMax))
	}
	width, what := cl.AccBits, fmt.Sprintf("P = %d bits", cl.AccBits)
	if c.Tile > 0 && c.Tile == accum.EffectiveTile(cl.Tile, c.K) {
		width = accum.OuterBits(cl.AccBits, c.K, c.Tile)
		what = fmt.Sprintf("the outer accumulator's %d bits", width)
	}
	if cl.AccMin > cl.AccMax || accum.RangeBits(accum.Range{Min: cl.AccMin, Max: cl.AccMax}) > width {
		reasons = append(reasons, fmt.Sprintf("the claimed range [%d, %d] does not fit %s", cl.AccMin, cl.AccMax, what))
	}
	return reasons
}
