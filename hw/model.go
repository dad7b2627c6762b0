package hw

import (
	"fmt"
	"math"
	"regexp"
	"slices"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Default folding caps of a model's units (see DefaultFolding): each layer gets the largest
// PE dividing its output channels that is at most DefaultPECap and the largest SIMD dividing
// K that is at most DefaultSIMDCap, the same small folding the sweep package estimates with.
const (
	DefaultPECap   = 4
	DefaultSIMDCap = 8
)

// ReferenceAccBits is the accumulator width a model's certified widths are compared with.
const ReferenceAccBits = 32

// LayerCost is the hardware cost of one quantized layer at its certified accumulator width
// AccBits (the certificate's exact bound acc_bits_exact, at least 2) and at
// ReferenceAccBits. For a tiled layer AccBits is the inner accumulators' width (the
// certificate's acc_bits_inner, at least 2), Tile its tile and AccBitsOuter the outer
// accumulator's, accum.OuterBits(AccBits, K, Tile). LUTSynth and LUTSynthP32 are nil until
// the layer is synthesised; they count Yosys's LUT cells plus LUTRAM cells of one PE (the
// generated unit has PE = 1).
type LayerCost struct {
	Name           string  `json:"name"`
	AccBits        int     `json:"acc_bits"`
	Tile           int     `json:"tile,omitempty"`
	AccBitsOuter   int     `json:"acc_bits_outer,omitempty"`
	LUTEstimate    float64 `json:"lut_estimate"`
	LUTEstimateP32 float64 `json:"lut_estimate_p32"`
	LUTSynth       *int    `json:"lut_synth"`
	LUTSynthP32    *int    `json:"lut_synth_p32"`

	// Unit is the estimated MVU at AccBits (its AccBits field); Estimate and EstimateP32
	// break the two estimates into FINN's terms. Cert is the layer's certificate.
	Unit                  MVU               `json:"-"`
	Estimate, EstimateP32 Estimate          `json:"-"`
	Cert                  accum.Certificate `json:"-"`
	// Synth, SynthP32 and Sim are filled by SynthesizeModel.
	Synth, SynthP32 *SynthResult `json:"-"`
	Sim             *SimResult   `json:"-"`
}

// ModelCost is the hardware cost of every quantized layer of a model. Reduction is
// TotalLUTEstimateP32 / TotalLUTEstimate, how many times fewer LUTs the certified widths need.
type ModelCost struct {
	Layers              []LayerCost `json:"layers"`
	TotalLUTEstimate    float64     `json:"total_lut_estimate"`
	TotalLUTEstimateP32 float64     `json:"total_lut_estimate_p32"`
	Reduction           float64     `json:"reduction"`
}

// LayerSpec is what the estimate needs of one quantized layer: its accumulator certificate
// (dot-product length K, output channels, operand widths M and N, exact width) and the output
// bits B of the thresholding stage that ends it (0: none, the layer outputs its accumulator).
type LayerSpec struct {
	Cert       accum.Certificate
	OutputBits int
}

// EstimateLayers estimates every layer with FINN's LUT model (EstimateLUT) at the layer's
// certified width (its exact bound acc_bits_exact, at least 2) and at ReferenceAccBits, and
// totals them: the one place a network's estimate is computed, for checkpoints
// (EstimateModel) and for QONNX files alike. A tiled layer (the certificate's tile) is
// estimated as a tiled unit whose inner accumulators have the certificate's inner width
// (acc_bits_inner, at least 2), against a one-stage unit at ReferenceAccBits of the same
// folding. Folding: DefaultFolding with caps peCap and simdCap, SIMD dividing the tile too
// for a tiled layer. Multipliers are in LUTs and weights in LUTRAM, as in the A2Q paper's
// estimates. It fails for an empty list and, naming the layer, for an impossible unit.
func EstimateLayers(specs []LayerSpec, peCap, simdCap int) (*ModelCost, error) {
	if peCap < 1 || simdCap < 1 {
		return nil, fmt.Errorf("hw: folding caps PE=%d SIMD=%d must be positive", peCap, simdCap)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("hw: no quantized layer to estimate")
	}
	mc := &ModelCost{}
	for _, s := range specs {
		c := s.Cert
		pe, simd := DefaultFolding(c.K, c.OutChannels, peCap, simdCap)
		if c.Tile > 0 { // each cycle's SIMD products belong to one tile
			_, simd = DefaultFolding(gcd(c.K, c.Tile), c.OutChannels, peCap, simdCap)
		}
		u := MVU{Name: c.Name, Kind: c.Kind, MW: c.K, MH: c.OutChannels, PE: pe, SIMD: simd,
			WeightBits: c.WeightBits, InputBits: c.InputBits, OutputBits: s.OutputBits, AccBits: certifiedBits(c),
			Tile: c.Tile, WeightsInLUTRAM: true}
		e, err := EstimateLUT(u)
		if err != nil {
			return nil, err
		}
		u32 := u
		u32.AccBits, u32.Tile = ReferenceAccBits, 0
		e32, err := EstimateLUT(u32)
		if err != nil {
			return nil, err
		}
		mc.Layers = append(mc.Layers, LayerCost{Name: c.Name, AccBits: u.AccBits, Tile: c.Tile, AccBitsOuter: u.OuterAccBits(), LUTEstimate: e.LUT,
			LUTEstimateP32: e32.LUT, Unit: u, Estimate: e, EstimateP32: e32, Cert: c})
		mc.TotalLUTEstimate += e.LUT
		mc.TotalLUTEstimateP32 += e32.LUT
	}
	mc.Reduction = mc.TotalLUTEstimateP32 / mc.TotalLUTEstimate
	return mc, nil
}

// EstimateModel estimates every quantized layer of m with EstimateLayers. Every layer but the
// last has a thresholding stage whose output bits B are the next layer's input bits; the last
// layer outputs its accumulator (B = 0, no thresholds): its scores are read directly, as FINN
// leaves the final scaling to the host.
func EstimateModel(m *models.Model, peCap, simdCap int) (*ModelCost, error) {
	if peCap < 1 || simdCap < 1 {
		return nil, fmt.Errorf("hw: folding caps PE=%d SIMD=%d must be positive", peCap, simdCap)
	}
	certs, err := m.Certificates(false)
	if err != nil {
		return nil, fmt.Errorf("hw: certifying model: %w", err)
	}
	layers := quantized(m)
	if len(layers) == 0 {
		return nil, fmt.Errorf("hw: model %s has no quantized layer (a float model has no integer datapath)", m.Config.Model)
	}
	if len(certs) != len(layers) {
		return nil, fmt.Errorf("hw: %d certificates for %d quantized layers", len(certs), len(layers))
	}
	specs := make([]LayerSpec, len(layers))
	for i := range layers {
		specs[i].Cert = certs[i]
		if i+1 < len(layers) {
			specs[i].OutputBits = layers[i+1].In.Bits
		}
	}
	return EstimateLayers(specs, peCap, simdCap)
}

// certifiedBits is the certificate's exact width (its inner one for a tiled layer,
// NeededBits), at least 2 (an all-zero layer needs no accumulator, but a register of one sign
// bit is not a useful unit).
func certifiedBits(c accum.Certificate) int {
	return min(max(c.NeededBits(), accum.MinAccBits), accum.MaxAccBits)
}

// gcd is the greatest common divisor of two positive integers.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// quantized returns the quantized layers of m in order.
func quantized(m *models.Model) []*quant.Layer {
	var ls []*quant.Layer
	for _, l := range m.Layers {
		if l.W != nil {
			ls = append(ls, l)
		}
	}
	return ls
}

func findLayer(m *models.Model, name string) (idx int, l *quant.Layer, err error) {
	for i, l := range quantized(m) {
		if l.Name == name {
			return i, l, nil
		}
	}
	var names []string
	for _, l := range quantized(m) {
		names = append(names, l.Name)
	}
	return 0, nil, fmt.Errorf("hw: model %s has no quantized layer %q (have %v)", m.Config.Model, name, names)
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// moduleName is a Verilog identifier for layer name at width p.
func moduleName(name string, p int) string {
	s := nonIdent.ReplaceAllString(name, "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "l_" + s
	}
	return fmt.Sprintf("%s_p%d", s, p)
}

// LayerUnit returns the RTL unit of the quantized layer called name at accumulator width p
// with simd lanes, holding the layer's integer weights. With thresholds, and when the layer
// is not the last, the unit ends in FINN's thresholding stage with the thresholds
// LayerThresholds derives from the model; m's activation quantizers must be calibrated
// (CaptureInputs calibrates them).
func LayerUnit(m *models.Model, name string, p, simd int, thresholds bool) (Unit, error) {
	idx, l, err := findLayer(m, name)
	if err != nil {
		return Unit{}, err
	}
	w, _ := l.W.IntegerWeights()
	u := Unit{Name: moduleName(name, p), Weights: w, OutChannels: l.OutC, K: l.K(),
		WeightBits: l.W.Bits, InputBits: l.In.Bits, InputSigned: l.In.Signed, AccBits: p, SIMD: simd}
	if thresholds && idx+1 < len(quantized(m)) {
		b, thr, err := LayerThresholds(m, name, p)
		if err != nil {
			return Unit{}, err
		}
		u.OutputBits, u.Thresholds = b, thr
	}
	if err := u.Validate(); err != nil {
		return Unit{}, fmt.Errorf("hw: layer %s: %w", name, err)
	}
	return u, nil
}

// LayerThresholds derives FINN's multi-threshold activation for the quantized layer called
// name from the model, the thresholds the integer engine (package intinfer) runs: the
// layer's output thresh.Requant(acc, s_x·s_c, b_c) passes through monotone modules (ReLU, max
// pooling, flattening) into the next layer's input quantizer, and thresh.Search finds, for
// each channel c and level j = lo+1 … hi of that quantizer, the least accumulator that the
// model's own float operations map to j or above. It returns the output bits B (the next
// layer's input bits) and OutC·(2^B − 1) thresholds fitted to the p-bit comparators:
// thresholds below the p-bit range become its minimum (always reached), those above it its
// maximum, which is exact while the channel's accumulator (accum.ExactRange of its weights)
// stays below that maximum. It fails for the last layer, when a module between the two
// layers is not monotone, and when p bits cannot hold a channel's thresholds exactly.
func LayerThresholds(m *models.Model, name string, p int) (bits int, thr []int64, err error) {
	idx, l, err := findLayer(m, name)
	if err != nil {
		return 0, nil, err
	}
	qs := quantized(m)
	if idx+1 >= len(qs) {
		return 0, nil, fmt.Errorf("hw: layer %s is the last layer: it has no thresholding stage", name)
	}
	if err := accum.CheckAccBits(p); err != nil {
		return 0, nil, fmt.Errorf("hw: layer %s: %w", name, err)
	}
	next := qs[idx+1]
	relu, err := between(m, l, next)
	if err != nil {
		return 0, nil, err
	}
	w, log2s := l.W.IntegerWeights()
	k := l.K()
	lx := l.In.Log2Scale.Value.Data[0]
	sNext := next.In.Scale()
	flo, fhi := next.In.Range()
	lo, hi := int32(flo), int32(fhi)
	pmin, pmax := intRange(p, true)
	nt := int(hi - lo)
	thr = make([]int64, l.OutC*nt)
	for c := range l.OutC {
		scale := thresh.OutputScale(lx, log2s[c])
		if !(scale > 0) || math.IsInf(float64(scale), 0) {
			return 0, nil, fmt.Errorf("hw: layer %s channel %d: output scale %g gives no thresholds", name, c, scale)
		}
		var b float32
		if l.Bias != nil {
			b = l.Bias.Value.Data[c]
		}
		f := func(acc int64) int32 {
			y := thresh.Requant(float32(acc), scale, b)
			if relu {
				y = max(y, 0)
			}
			return int32(thresh.Quantize(y, sNext, flo, fhi))
		}
		t := thr[c*nt : (c+1)*nt]
		thresh.Search(f, lo, hi, t)
		reach := accum.ExactRange(w[c*k:(c+1)*k], 1, k, l.In.Bits, l.In.Signed)
		for j, v := range t {
			if v > pmax && reach.Max >= pmax {
				return 0, nil, fmt.Errorf("hw: layer %s channel %d: level %d needs accumulator %d, beyond %d bits, which the channel's accumulator reaches (up to %d): no %d-bit threshold is exact",
					name, c, int(lo)+j+1, v, p, reach.Max, p)
			}
			t[j] = min(max(v, pmin), pmax)
		}
	}
	return next.In.Bits, thr, nil
}

// between checks that the modules between layers a and b of m's network are monotone and
// reports whether one of them is a ReLU.
func between(m *models.Model, a, b *quant.Layer) (relu bool, err error) {
	ia, ib := -1, -1
	for i, mod := range m.Net {
		switch l, _ := mod.(*quant.Layer); {
		case l == nil:
		case l == a:
			ia = i
		case l == b:
			ib = i
		}
	}
	if ia < 0 || ib < ia {
		return false, fmt.Errorf("hw: layers %s and %s are not consecutive modules of the network", a.Name, b.Name)
	}
	for _, mod := range m.Net[ia+1 : ib] {
		switch mod.(type) {
		case nn.ReLU:
			relu = true
		case nn.MaxPool, nn.Flatten:
		default:
			return false, fmt.Errorf("hw: between layers %s and %s, %T is not monotone: no thresholds can be derived (synthesise the datapath only)", a.Name, b.Name, mod)
		}
	}
	return relu, nil
}

// CaptureInputs runs m in evaluation mode on images x (NHWC, values in [0, 1] as the data
// package delivers them after tensor.NCHWToNHWC) and returns, for every quantized layer by name,
// the integer input its input quantizer produced, with the shape the layer received (NHWC for
// convolutions). An uncalibrated quantizer (a checkpoint saved before any training step) is
// calibrated on x, as the first forward pass of training would.
func CaptureInputs(m *models.Model, x *tensor.Tensor, threads int) (map[string]*tensor.Tensor, error) {
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("hw: images have shape %v, want N×H×W×C", x.Shape)
	}
	if want := []int{m.Config.InH, m.Config.InW, m.Config.InC}; !slices.Equal(x.Shape[1:], want) {
		return nil, fmt.Errorf("hw: images of %v do not fit model %s's input H×W×C %v", x.Shape[1:], m.Config.Model, want)
	}
	tp := autodiff.NewTape(threads)
	got := map[string]*tensor.Tensor{}
	capture := func(mod any, v *autodiff.Var) {
		if l, ok := mod.(*quant.Layer); ok && l.In != nil {
			xi := l.In.Apply(tp, v, false)
			got[l.Name] = tensor.FromData(slices.Clone(xi.Value.Data), slices.Clone(xi.Value.Shape)...)
		}
	}
	v := tp.Constant(x)
	for _, mod := range m.Net {
		if d, ok := mod.(*nn.DAG); ok {
			v = d.ForwardVisit(tp, v, false, func(s nn.Step, in *autodiff.Var) { capture(s.Op, in) })
			continue
		}
		capture(mod, v)
		v = mod.Forward(tp, v, false)
	}
	for _, l := range quantized(m) {
		if got[l.Name] == nil {
			return nil, fmt.Errorf("hw: layer %s is not a module of the network's chain or graph: its input cannot be captured", l.Name)
		}
	}
	return got, nil
}

// InputRows returns the dot-product inputs (im2col rows, length K, in the layer's weight
// order) of layer l for up to count output positions of its captured integer input xi
// (from CaptureInputs): for a convolution, the most active output pixels (largest sum of
// |input|) of each image in turn; for a linear layer, one row per image. For grouped
// convolutions the rows are those of the first group. Each row is checked against the
// layer's own convolution (a float32 product, exact below 2^24) so that the rows are
// provably what the layer multiplies.
func InputRows(l *quant.Layer, xi *tensor.Tensor, count int) ([][]int32, error) {
	if l.W == nil || l.In == nil {
		return nil, fmt.Errorf("hw: layer %s is not quantized", l.Name)
	}
	if count < 1 {
		return nil, fmt.Errorf("hw: layer %s: want at least one input row, got %d", l.Name, count)
	}
	k := l.K()
	n := xi.Shape[0]
	var rows [][]int32
	var refs [][]float32 // the layer's accumulators for each row (first group's channels)
	w, _ := l.W.IntegerWeights()
	wf := make([]float32, len(w))
	for i, v := range w {
		wf[i] = float32(v)
	}
	tp := autodiff.NewTape(1)
	if l.Kind == "linear" {
		if xi.Len() != n*k {
			return nil, fmt.Errorf("hw: layer %s: input of %v does not flatten to K = %d per image", l.Name, xi.Shape, k)
		}
		acc := tp.Linear(tp.Constant(tensor.FromData(xi.Data, n, k)), tp.Constant(tensor.FromData(wf, l.OutC, k)), nil).Value
		for i := range min(n, count) {
			rows = append(rows, toInt32(xi.Data[i*k:(i+1)*k]))
			refs = append(refs, acc.Data[i*l.OutC:(i+1)*l.OutC])
		}
	} else {
		if len(xi.Shape) != 4 {
			return nil, fmt.Errorf("hw: layer %s: convolution input has shape %v, want NHWC", l.Name, xi.Shape)
		}
		g := tensor.ConvGeom{N: n, H: xi.Shape[1], W: xi.Shape[2], C: xi.Shape[3], KH: l.Kernel, KW: l.Kernel,
			Stride: l.Options.Stride, Pad: l.Options.Pad, Groups: l.Options.Groups, Cout: l.OutC}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("hw: layer %s: %w", l.Name, err)
		}
		if g.KPerGroup != k {
			return nil, fmt.Errorf("hw: layer %s: K = %d, geometry gives %d", l.Name, k, g.KPerGroup)
		}
		acc := tp.Conv2d(tp.Constant(xi), tp.Constant(tensor.FromData(wf, l.Weight.Value.Shape...)), nil, l.Options).Value
		perImage := max(1, (count+n-1)/n)
		for img := 0; img < n && len(rows) < count; img++ {
			type cand struct {
				pos int
				act float64
				row []int32
			}
			cands := make([]cand, g.OH*g.OW)
			for pos := range cands {
				r := convRow(xi, g, img, pos/g.OW, pos%g.OW)
				var a float64
				for _, v := range r {
					a += math.Abs(float64(v))
				}
				cands[pos] = cand{pos, a, r}
			}
			slices.SortStableFunc(cands, func(a, b cand) int {
				switch {
				case a.act > b.act:
					return -1
				case a.act < b.act:
					return 1
				}
				return a.pos - b.pos
			})
			for _, c := range cands[:min(perImage, len(cands), count-len(rows))] {
				rows = append(rows, c.row)
				base := ((img*g.OH)+c.pos/g.OW)*g.OW + c.pos%g.OW
				refs = append(refs, acc.Data[base*l.OutC:(base+1)*l.OutC])
			}
		}
	}
	// The rows multiply the weights into the layer's own accumulators.
	cout := l.OutC / max(l.Options.Groups, 1)
	for i, r := range rows {
		for c := range cout {
			var s int64
			for j, v := range r {
				s += int64(v) * int64(w[c*k+j])
			}
			if math.Abs(float64(s)) < 1<<24 && float32(s) != refs[i][c] {
				return nil, fmt.Errorf("hw: layer %s: input row %d channel %d: dot product %d, layer computes %g", l.Name, i, c, s, refs[i][c])
			}
		}
	}
	return rows, nil
}

// convRow is the first group's im2col row of output pixel (oy, ox) of image img:
// element (ky·KW + kx)·Cg + ci is input (oy·S − pad + ky, ox·S − pad + kx, ci), zero outside.
func convRow(x *tensor.Tensor, g tensor.ConvGeom, img, oy, ox int) []int32 {
	cg := g.CinPerGroup
	row := make([]int32, 0, g.KPerGroup)
	for ky := range g.KH {
		for kx := range g.KW {
			iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
			if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
				row = append(row, make([]int32, cg)...)
				continue
			}
			base := ((img*g.H+iy)*g.W + ix) * g.C
			row = append(row, toInt32(x.Data[base:base+cg])...)
		}
	}
	return row
}

func toInt32(v []float32) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
