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
// accumulator, as the bound Bound proves.
type Claim struct {
	// Name is the Conv, Gemm or MatMul node's name.
	Name string `json:"name"`
	// AccBits is the accumulator width P the layer is certified for.
	AccBits int `json:"acc_bits_target"`
	// AccMin and AccMax are the exact accumulator range (bias excluded).
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
// accumulator, naming the first of the data-type, L1 and exact bounds that
// proves it. ok is false when not even the exact range fits p bits.
func NewClaim(c accum.Certificate, p int) (cl Claim, ok bool) {
	cl = Claim{Name: c.Name, AccBits: p, AccMin: c.AccMin, AccMax: c.AccMax,
		InputBits: c.InputBits, InputSigned: c.InputSigned, WeightBits: c.WeightBits}
	switch {
	case c.AccBitsDatatype <= p:
		cl.Bound = BoundDatatype
	case c.AccBitsL1 <= p:
		cl.Bound = BoundL1
	case c.AccBitsExact <= p:
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
	// AccBitsExact, AccMin and AccMax are the recomputed exact width and
	// range, and AccBitsBound the width of the bound the claim names.
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
// the weights (certs, from Inspect, by layer name; uncert the layers that
// cannot be certified). A claim holds when its layer exists and is
// certifiable, its operand widths N, signedness and M are the file's, the
// recomputed exact range lies inside the claimed [AccMin, AccMax], which
// fits P bits, and the bound it names gives at most P bits. It returns the
// checks in claim order and the certified layers no claim names.
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
			ck.RecomputedAccBits, ck.RecomputedAccMin, ck.RecomputedAccMax = c.AccBitsExact, c.AccMin, c.AccMax
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
	if c.AccBitsExact > cl.AccBits {
		reasons = append(reasons, fmt.Sprintf("the weights need P_exact = %d bits (range [%d, %d]), the file claims P = %d",
			c.AccBitsExact, c.AccMin, c.AccMax, cl.AccBits))
	}
	switch cl.Bound {
	case BoundDatatype:
		ck.RecomputedBoundWidth = c.AccBitsDatatype
	case BoundL1:
		ck.RecomputedBoundWidth = c.AccBitsL1
	case BoundExact:
		ck.RecomputedBoundWidth = c.AccBitsExact
	default:
		reasons = append(reasons, fmt.Sprintf("unknown bound %q (want %s, %s or %s)", cl.Bound, BoundDatatype, BoundL1, BoundExact))
	}
	if ck.RecomputedBoundWidth > cl.AccBits {
		reasons = append(reasons, fmt.Sprintf("the %s bound gives %d bits, more than the claimed P = %d", cl.Bound, ck.RecomputedBoundWidth, cl.AccBits))
	}
	if c.AccMin < cl.AccMin || c.AccMax > cl.AccMax {
		reasons = append(reasons, fmt.Sprintf("the exact range [%d, %d] is not inside the claimed [%d, %d]", c.AccMin, c.AccMax, cl.AccMin, cl.AccMax))
	}
	if cl.AccMin > cl.AccMax || accum.RangeBits(accum.Range{Min: cl.AccMin, Max: cl.AccMax}) > cl.AccBits {
		reasons = append(reasons, fmt.Sprintf("the claimed range [%d, %d] does not fit P = %d bits", cl.AccMin, cl.AccMax, cl.AccBits))
	}
	return reasons
}
