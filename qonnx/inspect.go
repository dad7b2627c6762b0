package qonnx

import (
	"fmt"
	"io"
	"math"

	"github.com/a2qtoolkit/a2q/accum"
)

// Report is the accumulator report of a QONNX model: one certificate per
// certifiable layer (the same per-layer fields `a2q inspect` prints for
// checkpoints), and the layers that cannot be certified with the reason.
type Report struct {
	// File is the model's path ("" when decoded from memory).
	File string `json:"file"`
	// AccBits is the target accumulator width P of the hidden layers (0:
	// none, bounds only); layers the file's claims mark Edge keep the P
	// they claim.
	AccBits int `json:"acc_bits_target"`
	// Tile is the tile the hidden layers were certified with instead of
	// the one their claims give (InspectOptions.Tile; 0: the claims').
	Tile int `json:"tile,omitempty"`
	// Layers holds the certificates of the certifiable layers, in graph
	// order.
	Layers []accum.Certificate `json:"layers"`
	// Uncertifiable lists the Conv/MatMul/Gemm layers that could not be
	// certified.
	Uncertifiable []Uncertifiable `json:"uncertifiable"`
	// Sparsity is the fraction of zero integer weights over the certified
	// layers.
	Sparsity float64 `json:"sparsity"`
	// CompressionRate is the estimated compression M / H(q), with H the
	// Shannon entropy in bits per weight of the integer weights of the
	// certified layers and M their weight width (weighted mean over layers);
	// 0 when undefined (no certified layer, or every weight equal).
	CompressionRate float64 `json:"compression_rate"`
	// Certified reports that every certifiable layer fits its target
	// (false when AccBits is 0 or no layer is certifiable).
	Certified bool `json:"certified"`
	// Claims sets each certificate the file carries in its metadata
	// (CertificatesKey, written by Export) against the certificate
	// recomputed from its weights; nil when the file carries none.
	// Unclaimed names the certified layers no claim covers, and
	// ClaimsHold reports that every claim holds (true when there are
	// none).
	Claims     []ClaimCheck `json:"claims,omitempty"`
	Unclaimed  []string     `json:"unclaimed,omitempty"`
	ClaimsHold bool         `json:"claims_hold"`
}

// Uncertifiable is a layer that Inspect cannot certify.
type Uncertifiable struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// InspectOptions configure InspectWith.
type InspectOptions struct {
	// AccBits is the target P of the hidden layers (0: no target, bounds
	// only). It must pass accum.CheckAccBits.
	AccBits int
	// Tile, when positive, certifies the hidden layers as if tiled at
	// Tile terms (a layer whose K is at most Tile in one stage), AccBits
	// then being their inner accumulators' P, instead of with the tile
	// their claims give. Layers the claims mark Edge keep their claimed
	// tile, as they keep their P. Claims are still checked at their own
	// tile. It must not be negative.
	Tile int

	// tiles gives layers (by name) their tile when they have no claim:
	// Export certifies its graph with the model's tiles.
	tiles map[string]int
}

// Inspect is InspectWith(m, InspectOptions{AccBits: accBits}).
func Inspect(m *Model, accBits int) (Report, error) {
	return InspectWith(m, InspectOptions{AccBits: accBits})
}

// InspectWith certifies every quantized Conv/MatMul/Gemm layer of m against
// a P-bit accumulator, P = o.AccBits for the hidden layers (0: compute the
// bounds with no target); a layer the file's claims mark Edge (the first
// and last layers of an a2q export) keeps the P it claims, as a
// checkpoint's first and last layers keep theirs. Each layer is certified
// with the tile its claim gives (0 < tile < K; else one stage), its
// weights taken in Layer.TileOrder, or, for the hidden layers, with
// o.Tile. It also checks the certificates the file claims in its metadata
// (see Claims and CheckClaims). It fails with an error wrapping ErrInvalid
// for a model whose structure is impossible (Validate), wrapping
// ErrNoQuant for a model without Quant nodes, with an error naming
// CertificatesKey when that metadata is not a list of claims, and for an
// impossible AccBits or Tile.
func InspectWith(m *Model, o InspectOptions) (Report, error) {
	accBits := o.AccBits
	r := Report{File: m.Path, AccBits: accBits, Tile: o.Tile, ClaimsHold: true}
	if o.Tile < 0 {
		return r, fmt.Errorf("qonnx: tile of %d terms: want a positive tile size", o.Tile)
	}
	if err := m.Validate(); err != nil {
		return r, err
	}
	if !m.HasQuant() {
		return r, fmt.Errorf("qonnx: %w: %s is a float model; a2q certifies quantized QONNX models", ErrNoQuant, m.name())
	}
	claims, err := m.Claims()
	if err != nil {
		return r, err
	}
	layers, err := m.Layers()
	if err != nil {
		return r, err
	}
	if accBits != 0 {
		if err := accum.CheckAccBits(accBits); err != nil {
			return r, fmt.Errorf("qonnx: %w", err)
		}
	}
	edgeP := make(map[string]int) // the P an edge layer claims
	for _, cl := range claims {
		if _, dup := edgeP[cl.Name]; !dup && cl.Edge && accum.CheckAccBits(cl.AccBits) == nil {
			edgeP[cl.Name] = cl.AccBits
		}
	}
	edge := make(map[string]bool)   // layers the claims mark Edge
	claimed := make(map[string]int) // the tile of each layer's first claim
	for _, cl := range claims {
		if _, dup := claimed[cl.Name]; !dup {
			claimed[cl.Name], edge[cl.Name] = cl.Tile, cl.Edge
		}
	}
	var claimCerts []accum.Certificate // certified at the claims' tiles
	hist := make(map[int32]int64)
	var zeros, total int64
	var bitsSum float64
	for i := range layers {
		l := &layers[i]
		if !l.Certifiable() {
			r.Uncertifiable = append(r.Uncertifiable, Uncertifiable{Name: l.Name, Kind: l.Kind, Reason: l.Reason})
			continue
		}
		target := accBits
		if p, ok := edgeP[l.Name]; ok && accBits > 0 {
			target = p
		}
		own, hasClaim := claimed[l.Name]
		if !hasClaim {
			own = o.tiles[l.Name]
		}
		own = accum.EffectiveTile(own, l.K)
		tile := own
		if o.Tile > 0 && !edge[l.Name] {
			tile = accum.EffectiveTile(o.Tile, l.K)
		}
		c, err := certifyLayer(l, target, tile)
		if err != nil {
			return r, fmt.Errorf("qonnx: %s: %w", m.name(), err)
		}
		r.Layers = append(r.Layers, c)
		if own != tile {
			if c, err = certifyLayer(l, target, own); err != nil {
				return r, fmt.Errorf("qonnx: %s: %w", m.name(), err)
			}
		}
		claimCerts = append(claimCerts, c)
		for _, q := range l.Weights {
			hist[q]++
			if q == 0 {
				zeros++
			}
		}
		total += int64(len(l.Weights))
		bitsSum += float64(l.WeightBits) * float64(len(l.Weights))
	}
	if total > 0 {
		r.Sparsity = float64(zeros) / float64(total)
		var h float64
		for _, c := range hist {
			p := float64(c) / float64(total)
			h -= p * math.Log2(p)
		}
		if h > 0 {
			r.CompressionRate = (bitsSum / float64(total)) / h
		}
	}
	r.Certified = accBits > 0 && len(r.Layers) > 0
	for _, c := range r.Layers {
		r.Certified = r.Certified && c.Certified
	}
	if claims != nil {
		r.Claims, r.Unclaimed = CheckClaims(claims, claimCerts, r.Uncertifiable)
		for _, c := range r.Claims {
			r.ClaimsHold = r.ClaimsHold && c.Holds
		}
	}
	return r, nil
}

// certifyLayer certifies l at target P in tiles of tile terms of its
// TileOrder (0: one stage).
func certifyLayer(l *Layer, target, tile int) (accum.Certificate, error) {
	w := l.Weights
	if tile > 0 {
		w = l.TileOrder()
	}
	return accum.Certify(accum.Layer{
		Name: l.Name, Kind: l.Kind,
		Weights: w, OutChannels: l.OutChannels, K: l.K,
		InputBits: l.InputBits, InputSigned: l.InputSigned, WeightBits: l.WeightBits,
		TargetBits: target, Tile: tile,
	})
}

// FailedClaims returns the names of the layers whose claim does not hold.
func (r Report) FailedClaims() []string {
	var names []string
	for _, c := range r.Claims {
		if !c.Holds {
			names = append(names, c.Name)
		}
	}
	return names
}

// WriteTable writes the report as a human-readable table: the accum
// certificate table, the inner and outer widths of the tiled layers
// (accum.WriteStages), then the uncertifiable layers with their reasons.
func (r Report) WriteTable(w io.Writer) error {
	if err := accum.WriteTable(w, r.Layers); err != nil {
		return err
	}
	if err := accum.WriteStages(w, r.Layers); err != nil {
		return err
	}
	for _, u := range r.Uncertifiable {
		if _, err := fmt.Fprintf(w, "%s (%s): not certified: %s\n", u.Name, u.Kind, u.Reason); err != nil {
			return fmt.Errorf("qonnx: writing report: %w", err)
		}
	}
	return nil
}
