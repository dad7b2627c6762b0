package qonnx

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/internal/onnxpb"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// TestMetadataRoundTrip encodes a model with metadata_props and decodes
// it: the map survives, keys are written sorted, and a file without
// metadata decodes to a nil map.
func TestMetadataRoundTrip(t *testing.T) {
	m := loadFixture(t, subpixelQuant)
	if m.Metadata != nil {
		t.Fatalf("Brevitas fixture has metadata %v", m.Metadata)
	}
	m.Metadata = map[string]string{"b": "2", "a": `{"x": [1, 2]}`, "": "empty key"}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range mp.GetMetadataProps() {
		keys = append(keys, kv.GetKey())
	}
	if !slices.Equal(keys, []string{"", "a", "b"}) {
		t.Errorf("metadata_props keys %q, want sorted", keys)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Metadata, m.Metadata) {
		t.Errorf("metadata %v, want %v", back.Metadata, m.Metadata)
	}

	// Keys must be distinct (the ONNX checker says so too).
	mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String("a"), Value: proto.String("again")})
	dup, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(dup); err == nil || !strings.Contains(err.Error(), `metadata key "a"`) {
		t.Errorf("duplicate metadata key: err = %v", err)
	}
}

// exportedCNN exports a small reference CNN with an A2Q hidden layer at
// P = 16 (projection-initialised, calibrated on random images), encoded and
// decoded again.
func exportedCNN(t *testing.T) (*Model, *models.Model) {
	t.Helper()
	cfg := models.Config{Model: "cnn", InC: 1, InH: 12, InW: 12, Classes: 3, Seed: 5,
		Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16},
		First:  models.DefaultEdge(quant.A2Q), Last: models.DefaultEdge(quant.A2Q)}
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		l.W.InitFromWeights(true)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, 8*12*12)
	for i := range x {
		x[i] = rng.Float32()
	}
	forward(m, x, 8, true)
	back, _ := roundTrip(t, m, ExportOptions{})
	return back, m
}

// TestClaimsTampered exports a CNN, checks its claims hold, then edits the
// claims in the file's metadata one way at a time and checks that Inspect
// names the layer whose claim no longer holds, and why.
func TestClaimsTampered(t *testing.T) {
	back, m := exportedCNN(t)
	r, err := Inspect(back, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	checkClaims(t, r, want)
	claims, err := back.Claims()
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 3 || claims[1].Name != "conv2" || claims[1].AccBits != 16 {
		t.Fatalf("claims %+v", claims)
	}
	exact := r.Layers[1].AccBitsExact
	cases := []struct {
		name   string
		edit   func(cs []Claim) []Claim
		layer  string // the layer whose claim fails ("" none)
		reason string
	}{
		{"untouched", func(cs []Claim) []Claim { return cs }, "", ""},
		{"P too small", func(cs []Claim) []Claim { cs[1].AccBits = exact - 1; return cs }, "conv2", "the file claims P"},
		{"P out of range", func(cs []Claim) []Claim { cs[1].AccBits = 99; return cs }, "conv2", "outside [2, 64]"},
		{"wider P still holds", func(cs []Claim) []Claim { cs[1].AccBits = 20; return cs }, "", ""},
		{"range too narrow", func(cs []Claim) []Claim { cs[0].AccMax--; return cs }, "conv1", "not inside the claimed"},
		{"wider range still holds", func(cs []Claim) []Claim { cs[0].AccMin--; return cs }, "", ""},
		{"range beyond P", func(cs []Claim) []Claim { cs[1].AccMax = 1 << 20; return cs }, "conv2", "does not fit P"},
		{"input bits", func(cs []Claim) []Claim { cs[2].InputBits = 4; return cs }, "fc", "4-bit unsigned inputs"},
		{"signed input", func(cs []Claim) []Claim { cs[2].InputSigned = true; return cs }, "fc", "signed inputs"},
		{"weight bits", func(cs []Claim) []Claim { cs[2].WeightBits = 6; return cs }, "fc", "6-bit weights"},
		{"bound too weak", func(cs []Claim) []Claim { cs[1].Bound = BoundDatatype; return cs }, "conv2", "datatype bound gives"},
		{"unknown bound", func(cs []Claim) []Claim { cs[1].Bound = "hope"; return cs }, "conv2", "unknown bound"},
		{"no such layer", func(cs []Claim) []Claim { cs[1].Name = "conv9"; return cs }, "conv9", "no quantized Conv"},
		{"claimed twice", func(cs []Claim) []Claim { return append(cs, cs[0]) }, "conv1", "claimed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs, _ := back.Claims()
			tm := *back
			tm.Metadata = map[string]string{}
			if err := tm.SetClaims(tc.edit(cs)); err != nil {
				t.Fatal(err)
			}
			b, err := tm.Encode()
			if err != nil {
				t.Fatal(err)
			}
			dm, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Inspect(dm, 0)
			if err != nil {
				t.Fatal(err)
			}
			failed := r.FailedClaims()
			switch {
			case tc.layer == "":
				if !r.ClaimsHold || len(failed) != 0 {
					t.Errorf("claims fail for %v: %+v", failed, r.Claims)
				}
			case r.ClaimsHold || !slices.Contains(failed, tc.layer):
				t.Errorf("failed claims %v, want %s", failed, tc.layer)
			default:
				for _, c := range r.Claims {
					if c.Name == tc.layer && !c.Holds && !strings.Contains(c.Reason, tc.reason) {
						t.Errorf("%s: reason %q does not mention %q", c.Name, c.Reason, tc.reason)
					}
				}
			}
			if tc.name == "no such layer" && !slices.Equal(r.Unclaimed, []string{"conv2"}) {
				t.Errorf("unclaimed %v, want [conv2]", r.Unclaimed)
			}
		})
	}

	// Metadata that is not a list of claims is bad input, named.
	for _, v := range []string{"", "{}", `[{"name": 3}]`} {
		tm := *back
		tm.Metadata = map[string]string{CertificatesKey: v}
		if _, err := Inspect(&tm, 0); err == nil || !strings.Contains(err.Error(), CertificatesKey) {
			t.Errorf("metadata %q: err = %v", v, err)
		}
	}
}

// TestNewClaim checks the bound a claim names: the first of data type, L1
// and exact that proves P, and none below the exact width.
func TestNewClaim(t *testing.T) {
	c := accum.Certificate{Name: "l", AccBitsDatatype: 20, AccBitsL1: 16, AccBitsExact: 15, AccMin: -10000, AccMax: 9000}
	for _, tc := range []struct {
		p     int
		bound string
		ok    bool
	}{{32, BoundDatatype, true}, {20, BoundDatatype, true}, {19, BoundL1, true}, {16, BoundL1, true}, {15, BoundExact, true}, {14, "", false}} {
		cl, ok := NewClaim(c, tc.p)
		if ok != tc.ok || (ok && cl.Bound != tc.bound) || cl.AccBits != tc.p || cl.AccMin != c.AccMin {
			t.Errorf("P = %d: claim %+v ok %v, want bound %q ok %v", tc.p, cl, ok, tc.bound, tc.ok)
		}
	}
	b, err := json.Marshal(Claim{Name: "conv2", AccBits: 16, AccMin: -3, AccMax: 4, InputBits: 8, WeightBits: 8, Bound: BoundL1})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"conv2","acc_bits_target":16,"acc_min":-3,"acc_max":4,"input_bits":8,"input_signed":false,"weight_bits":8,"bound":"l1"}`
	if string(b) != want {
		t.Errorf("claim JSON %s, want %s", b, want)
	}
}

// TestInspectHiddenAccBits: Inspect's accBits is P for the hidden layers;
// the layers the export marks Edge keep the P they claim, as a
// checkpoint's first and last layers do, and a file whose claims carry no
// Edge mark (written before it existed) certifies every layer at accBits.
func TestInspectHiddenAccBits(t *testing.T) {
	back, m := exportedCNN(t)
	claims, err := back.Claims()
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true} // conv1, conv2, fc
	for i, cl := range claims {
		if cl.Edge != want[i] {
			t.Errorf("claim %s: edge %v, want %v", cl.Name, cl.Edge, want[i])
		}
	}
	certs, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	const p = 12
	r, err := Inspect(back, p)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range r.Layers {
		target := p
		if want[i] {
			target = claims[i].AccBits
		}
		if c.AccBitsTarget != target || c.AccBitsExact != certs[i].AccBitsExact || c.Certified != (c.AccBitsExact <= target) {
			t.Errorf("%s at hidden P = %d: target %d, P_exact %d (checkpoint %d), certified %v; want target %d",
				c.Name, p, c.AccBitsTarget, c.AccBitsExact, certs[i].AccBitsExact, c.Certified, target)
		}
	}
	for i := range claims {
		claims[i].Edge = false
	}
	if err := back.SetClaims(claims); err != nil {
		t.Fatal(err)
	}
	if r, err = Inspect(back, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Layers {
		if c.AccBitsTarget != p {
			t.Errorf("%s without edge marks: target %d, want %d", c.Name, c.AccBitsTarget, p)
		}
	}
	for _, bad := range []int{1, 65, -1} {
		if _, err := Inspect(back, bad); err == nil || !strings.Contains(err.Error(), "outside [2, 64]") {
			t.Errorf("Inspect at P = %d: %v", bad, err)
		}
	}
}
