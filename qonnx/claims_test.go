package qonnx

import (
	"encoding/json"
	"fmt"
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
	return exportedTiledCNN(t, 0)
}

// exportedTiledCNN is exportedCNN with the hidden layer (conv2, K = 288)
// configured in tiles of tile terms.
func exportedTiledCNN(t *testing.T, tile int) (*Model, *models.Model) {
	t.Helper()
	cfg := models.Config{Model: "cnn", InC: 1, InH: 12, InW: 12, Classes: 3, Seed: 5,
		Hidden: quant.LayerConfig{Mode: quant.A2Q, WeightBits: 8, ActBits: 8, AccBits: 16, Tile: tile},
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

// rewriteClaims returns back with its claims edited, encoded and decoded.
func rewriteClaims(t *testing.T, back *Model, edit func(cs []Claim) []Claim) *Model {
	t.Helper()
	cs, err := back.Claims()
	if err != nil {
		t.Fatal(err)
	}
	tm := *back
	tm.Metadata = map[string]string{}
	if err := tm.SetClaims(edit(cs)); err != nil {
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
	return dm
}

// TestTiledClaims exports a CNN whose hidden layer is tiled: its claim
// carries the tile and the inner width, Inspect reads the tile back and
// certifies the layer as the checkpoint does, and edits of a tiled claim
// are named.
func TestTiledClaims(t *testing.T) {
	const tile = 64 // conv2: K = 288, 5 tiles
	back, m := exportedTiledCNN(t, tile)
	want, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(back, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkClaims(t, r, want)
	claims, err := back.Claims()
	if err != nil {
		t.Fatal(err)
	}
	conv2 := r.Layers[1]
	if claims[1].Tile != tile || claims[0].Tile != 0 || claims[2].Tile != 0 || conv2.Tile != tile ||
		conv2.AccBitsInner != want[1].AccBitsInner || conv2.AccBitsOuter != want[1].AccBitsOuter {
		t.Fatalf("claims %+v; conv2 certified %+v, checkpoint %+v", claims, conv2, want[1])
	}
	inner := conv2.AccBitsInner
	cases := []struct {
		name   string
		edit   func(cs []Claim) []Claim
		reason string // "" when the claims hold
	}{
		{"untouched", func(cs []Claim) []Claim { return cs }, ""},
		{"P = P_I", func(cs []Claim) []Claim { cs[1].AccBits = inner; return cs }, ""},
		{"P below P_I", func(cs []Claim) []Claim { cs[1].AccBits = inner - 1; return cs }, fmt.Sprintf("P_I = %d bits for their tiles of 64 terms", inner)},
		{"negative tile", func(cs []Claim) []Claim { cs[1].Tile = -3; return cs }, "claims tiles of -3 terms"},
		{"range beyond the outer accumulator", func(cs []Claim) []Claim { cs[1].AccMax = 1 << 40; return cs }, "does not fit the outer accumulator's"},
		{"tile of K is one stage", func(cs []Claim) []Claim { cs[1].Tile = 288; cs[1].AccBits = max(conv2.AccBitsExact, 2); return cs }, ""},
		{"data-type bound of the tile too weak", func(cs []Claim) []Claim { cs[1].AccBits = inner; cs[1].Bound = BoundDatatype; return cs },
			fmt.Sprintf("datatype bound gives %d bits", accum.DataTypeBits(tile, 8, false, 8))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Inspect(rewriteClaims(t, back, tc.edit), 0)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.reason == "" && !r.ClaimsHold:
				t.Errorf("claims fail: %+v", r.Claims)
			case tc.reason != "" && (r.ClaimsHold || r.Claims[1].Holds || !strings.Contains(r.Claims[1].Reason, tc.reason)):
				t.Errorf("conv2's claim: holds %v, reason %q; want it to fail with %q", r.Claims[1].Holds, r.Claims[1].Reason, tc.reason)
			}
		})
	}

	// A certificate at another tile than the claim's does not prove it.
	certs := slices.Clone(r.Layers)
	certs[1] = want[1]
	certs[1].Tile, certs[1].AccBitsInner, certs[1].AccBitsOuter = 0, 0, 0
	checks, _ := CheckClaims(claims, certs, nil)
	if checks[1].Holds || !strings.Contains(checks[1].Reason, "claims tiles of 64 terms, the layer (K = 288) was certified with 0") {
		t.Errorf("claim against a one-stage certificate: %+v", checks[1])
	}
}

// TestInspectTile: InspectOptions.Tile certifies the hidden layers as if
// tiled, with AccBits their inner P, and leaves the edge layers and the
// claims' own check as they are; without edge marks every layer whose K
// exceeds the tile is tiled.
func TestInspectTile(t *testing.T) {
	back, m := exportedCNN(t)
	certs, err := m.Certificates(false)
	if err != nil {
		t.Fatal(err)
	}
	const tile = 32
	q, _ := m.Layers[1].W.IntegerWeights()
	inner, outer := accum.TiledBits(q, m.Layers[1].OutC, 288, tile, 8, false)
	for _, p := range []int{inner - 1, inner, 16} {
		r, err := InspectWith(back, InspectOptions{AccBits: p, Tile: tile})
		if err != nil {
			t.Fatal(err)
		}
		if r.Tile != tile || !r.ClaimsHold {
			t.Fatalf("P = %d: report tile %d, claims hold %v: %+v", p, r.Tile, r.ClaimsHold, r.Claims)
		}
		c := r.Layers[1]
		if c.Tile != tile || c.AccBitsInner != inner || c.AccBitsOuter != outer || c.AccBitsTarget != p || c.Certified != (inner <= p) || r.Certified != c.Certified {
			t.Errorf("P = %d: conv2 %+v, want tile %d, P_I %d, P_O %d", p, c, tile, inner, outer)
		}
		for _, i := range []int{0, 2} { // conv1, fc: edges
			if r.Layers[i].Tile != 0 || r.Layers[i].AccBitsExact != certs[i].AccBitsExact {
				t.Errorf("edge %s tiled: %+v", r.Layers[i].Name, r.Layers[i])
			}
		}
	}
	// Without edge marks, fc (K > 32) is tiled too; conv1 (K = 9) is not.
	plain := rewriteClaims(t, back, func(cs []Claim) []Claim {
		for i := range cs {
			cs[i].Edge = false
		}
		return cs
	})
	r, err := InspectWith(plain, InspectOptions{AccBits: 20, Tile: tile})
	if err != nil {
		t.Fatal(err)
	}
	if r.Layers[0].Tile != 0 || r.Layers[1].Tile != tile || r.Layers[2].Tile != tile || !r.ClaimsHold {
		t.Errorf("without edge marks: tiles %d, %d, %d; claims hold %v", r.Layers[0].Tile, r.Layers[1].Tile, r.Layers[2].Tile, r.ClaimsHold)
	}
	if _, err := InspectWith(back, InspectOptions{Tile: -1}); err == nil || !strings.Contains(err.Error(), "tile of -1") {
		t.Errorf("negative tile: %v", err)
	}
	// The text table lists the tiled layers' stages.
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf("conv2: P_I %d, P_O %d, tile 32 (9 tiles)", inner, outer)) {
		t.Errorf("table lacks conv2's stages:\n%s", b.String())
	}
}
