// Package report assembles the JSON reports a2q's commands print and write
// (docs/CLI.md, “Report fields”: the per-layer certificate part is shared by train, inspect
// and verify) and renders them as tables.
package report

import (
	"fmt"
	"io"
	"math"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
)

// DeadChannelShare is the share of a layer's output channels with
// all-zero integer weights from which the report warns (a layer with
// every channel dead has its own warning). A2Q's budget zeroes single
// channels at a low P; a quarter of a layer is a capacity loss worth
// knowing.
const DeadChannelShare = 0.25

// ChanceMargin sets the chance level of a classifier: a test accuracy of
// at most (1 + ChanceMargin)/classes is reported as chance level, within
// 20 % of what guessing scores.
const ChanceMargin = 0.2

// CompressionFormula states how CompressionRate is computed.
const CompressionFormula = "M / H(q): weight bits over the Shannon entropy (bits per weight) of the constrained layers' integer weights"

// Model is the report of one model.
type Model struct {
	Model      string `json:"model"`
	Quant      string `json:"quant"`
	WeightBits int    `json:"weight_bits,omitempty"`
	ActBits    int    `json:"act_bits,omitempty"`
	AccBits    int    `json:"acc_bits,omitempty"`
	// Tile is the hidden layers' tile setting (quant.LayerConfig.Tile; 0:
	// one stage); each layer's certificate says whether it is tiled.
	Tile int `json:"tile,omitempty"`

	Layers []accum.Certificate `json:"layers"`
	// Sparsity and CompressionRate cover the constrained (hidden) layers.
	Sparsity           float64  `json:"sparsity"`
	CompressionRate    *float64 `json:"compression_rate"`
	CompressionFormula string   `json:"compression_formula"`
	Certified          bool     `json:"certified"`

	TestAccuracy            *float64 `json:"test_accuracy"`
	TestPSNR                *float64 `json:"test_psnr"`
	Overflows               *int64   `json:"overflows"`
	IntegerMatchesFakeQuant *bool    `json:"integer_matches_fake_quant"`
	Warnings                []string `json:"warnings,omitempty"`
	// GridQuantizers names the activation quantizers the model puts on
	// the inputs of its sums and averages (residual adds, global average
	// pooling) so that integer inference can compute them exactly.
	GridQuantizers []string `json:"grid_quantizers,omitempty"`
}

// Certificates returns the certificate rows of m's quantized layers, in
// order: the hidden layers certified at hiddenAccBits (0: each at its own
// target), the first and last layers at their own P. This is the
// certificate train, inspect and verify report, and the P verify runs
// each layer at. A non-zero hiddenAccBits must pass accum.CheckAccBits.
func Certificates(m *models.Model, hiddenAccBits int) ([]accum.Certificate, error) {
	return certificates(m, hiddenAccBits, -1)
}

func certificates(m *models.Model, hiddenAccBits, hiddenTile int) ([]accum.Certificate, error) {
	if hiddenAccBits != 0 {
		if err := accum.CheckAccBits(hiddenAccBits); err != nil {
			return nil, err
		}
	}
	certs, err := m.CertificatesAsTiled(false, hiddenTile)
	if err != nil {
		return nil, err
	}
	if hiddenAccBits == 0 {
		return certs, nil
	}
	next := 0 // certs holds the quantized layers in order
	for i, l := range m.Layers {
		if l.W == nil {
			continue
		}
		if m.Hidden(i) {
			certs[next] = certs[next].WithTarget(hiddenAccBits)
		}
		next++
	}
	return certs, nil
}

// FromModel builds the certificate part of a report from Certificates(m,
// hiddenAccBits); Certified covers the hidden layers. With a non-zero
// hiddenAccBits the report's AccBits is that P.
func FromModel(m *models.Model, hiddenAccBits int) (*Model, error) {
	return FromModelTiled(m, hiddenAccBits, -1)
}

// FromModelTiled is FromModel with the hidden layers' integer weights
// certified as if they ran in tiles of hiddenTile terms
// (models.Model.CertificatesAsTiled; negative: each layer's own tile).
func FromModelTiled(m *models.Model, hiddenAccBits, hiddenTile int) (*Model, error) {
	h := m.Config.Hidden
	r := &Model{Model: m.Config.Model, Quant: string(h.Mode), WeightBits: h.WeightBits, ActBits: h.ActBits,
		AccBits: h.AccBits, CompressionFormula: CompressionFormula, Layers: []accum.Certificate{}}
	if h.Mode != quant.Float {
		r.Tile = max(h.Tile, 0)
		if hiddenTile >= 0 {
			r.Tile = hiddenTile
		}
	}
	if hiddenAccBits != 0 {
		r.AccBits = hiddenAccBits
	}
	certs, err := certificates(m, hiddenAccBits, hiddenTile)
	if err != nil {
		return nil, err
	}
	if certs != nil {
		r.Layers = certs
	}
	hist := &metrics.Histogram{}
	var hidden []accum.Certificate
	next := 0 // certs holds the quantized layers in order
	for i, l := range m.Layers {
		if l.W == nil {
			continue
		}
		c := certs[next]
		next++
		switch {
		case c.ZeroChannels == c.OutChannels:
			r.Warnings = append(r.Warnings, fmt.Sprintf("layer %s: every integer weight is zero (a dead layer: its output is the bias alone); train from a float checkpoint with --init-from or raise --acc-bits", l.Name))
		case c.ZeroChannels > 0 && float64(c.ZeroChannels) >= DeadChannelShare*float64(c.OutChannels):
			r.Warnings = append(r.Warnings, fmt.Sprintf("layer %s: %d of %d channels have all-zero integer weights (dead channels: their output is the bias alone); raise --acc-bits or --weight-bits", l.Name, c.ZeroChannels, c.OutChannels))
		}
		if !m.Hidden(i) {
			continue
		}
		q, _ := l.W.IntegerWeights()
		hist.Add(q)
		hidden = append(hidden, c)
	}
	if hist.Total() > 0 {
		r.Sparsity = hist.Sparsity()
		cr := hist.CompressionRate(h.WeightBits)
		if !math.IsInf(cr, 0) && !math.IsNaN(cr) {
			r.CompressionRate = &cr
		}
	}
	r.Certified = accum.Summarize(hidden).Certified
	for _, q := range m.Grids {
		r.GridQuantizers = append(r.GridQuantizers, q.String())
	}
	return r, nil
}

// SetScore records a test score: accuracy for classifiers, PSNR otherwise.
// A classifier's accuracy at chance level (ChanceMargin) adds a warning;
// for super-resolution, see CompareSR.
func (r *Model) SetScore(m *models.Model, score float64) {
	if m.Task == models.SuperResolve {
		r.TestPSNR = &score
		return
	}
	r.TestAccuracy = &score
	if k := m.Config.Classes; k >= 2 && score <= (1+ChanceMargin)/float64(k) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("test accuracy %.4f is at chance level (1/%d classes = %.4f): the model has learnt nothing; lower --lr if training diverged, or raise --acc-bits or the bit widths", score, k, 1/float64(k)))
	}
}

// CompareSR adds a warning when the recorded test PSNR is not above flat,
// the PSNR of a flat image at each input's mean brightness on the same
// test set: the super-resolution analogue of chance level, a model that
// has not learnt to use its input. Above flat, it warns when the PSNR is
// not above bicubic, that of bicubic upscaling of the same inputs: the
// network then does worse than interpolation, which costs nothing. It does
// nothing without a test PSNR.
func (r *Model) CompareSR(flat, bicubic float64) {
	switch {
	case r.TestPSNR == nil:
	case *r.TestPSNR <= flat:
		r.Warnings = append(r.Warnings, fmt.Sprintf("test PSNR %.3f dB is not above %.3f dB, that of a flat image at each input's mean brightness (bicubic upscaling: %.3f dB): the model has not learnt to upscale; train longer, or lower --lr if training diverged", *r.TestPSNR, flat, bicubic))
	case *r.TestPSNR <= bicubic:
		r.Warnings = append(r.Warnings, fmt.Sprintf("test PSNR %.3f dB is not above %.3f dB, that of bicubic upscaling of the same inputs: the network does worse than interpolation; train longer, or raise --acc-bits or the bit widths", *r.TestPSNR, bicubic))
	}
}

// WriteText prints the report as a human-readable table, followed by the
// inner and outer accumulator widths of the tiled layers (accum.WriteStages).
func (r *Model) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "model %s, quantizer %s", r.Model, r.Quant)
	if r.Quant != "float" {
		fmt.Fprintf(w, " (W%dA%d, hidden layers at P = %d", r.WeightBits, r.ActBits, r.AccBits)
		if r.Tile > 0 {
			fmt.Fprintf(w, " in tiles of %d", r.Tile)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if len(r.Layers) > 0 {
		if err := accum.WriteTable(w, r.Layers); err != nil {
			return err
		}
		if err := accum.WriteStages(w, r.Layers); err != nil {
			return err
		}
	}
	if len(r.Layers) > 0 {
		fmt.Fprintf(w, "hidden layers: sparsity %.4f", r.Sparsity)
		if r.CompressionRate != nil {
			fmt.Fprintf(w, ", compression rate %.2f× (M/H(q))", *r.CompressionRate)
		}
		fmt.Fprintf(w, ", certified %v\n", r.Certified)
	}
	if r.TestAccuracy != nil {
		fmt.Fprintf(w, "test accuracy %.4f\n", *r.TestAccuracy)
	}
	if r.TestPSNR != nil {
		fmt.Fprintf(w, "test PSNR %.3f dB\n", *r.TestPSNR)
	}
	if len(r.GridQuantizers) > 0 {
		fmt.Fprintf(w, "activation quantizers on sums and averages (for exact integer inference): %d\n", len(r.GridQuantizers))
		for _, q := range r.GridQuantizers {
			fmt.Fprintf(w, "  %s\n", q)
		}
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	return nil
}
