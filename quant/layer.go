package quant

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/internal/f32"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// LayerConfig sets one layer's quantization.
type LayerConfig struct {
	Mode       Mode
	WeightBits int // M
	ActBits    int // N of the layer's input quantizer
	AccBits    int // P the layer is meant to run at (budget for A2Q/A2Q+)
	// Tile, when positive, splits each of the layer's dot products into
	// tiles of Tile consecutive terms (multi-stage accumulation): each tile
	// is summed in a P-bit inner accumulator and the tile sums in a wider
	// outer one (accum.OuterBits). A2Q and A2Q+ then budget each tile
	// instead of the whole channel. A layer whose K is at most Tile runs in
	// one stage (see TileFor). Zero: one stage.
	Tile int `json:",omitempty"`
}

// TileFor returns the tile size a layer with dot products of k terms runs
// with under c: c.Tile when it splits them (0 < Tile < k), else 0 (one
// stage). It is the one rule for which layers a tile setting tiles.
func (c LayerConfig) TileFor(k int) int {
	if c.Mode == Float {
		return 0
	}
	return accum.EffectiveTile(c.Tile, k)
}

// Validate reports impossible settings, naming the layer.
func (c LayerConfig) Validate(layer string) error {
	if c.Mode == Float {
		return nil
	}
	if c.WeightBits < 2 || c.WeightBits > 16 {
		return fmt.Errorf("layer %s: weight bits %d outside [2, 16]", layer, c.WeightBits)
	}
	if c.ActBits < 1 || c.ActBits > 16 {
		return fmt.Errorf("layer %s: activation bits %d outside [1, 16]", layer, c.ActBits)
	}
	if err := accum.CheckAccBits(c.AccBits); err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	if c.Tile < 0 {
		return fmt.Errorf("layer %s: tile of %d terms: want a positive tile size (0: one stage)", layer, c.Tile)
	}
	return nil
}

// Layer is a convolution or a fully connected layer, float or quantized.
// A quantized layer quantizes its own input (In) and weights (W) and
// computes y = acc·s_x·s_c + b from the integer accumulator acc = Σ q·x_int.
type Layer struct {
	Name    string
	Kind    string // "conv", "conv_transpose" or "linear"
	Config  LayerConfig
	InC     int // input channels (features for linear)
	OutC    int
	Kernel  int                  // conv and conv_transpose
	Options autodiff.ConvOptions // conv only
	// TOptions are a transposed convolution's (Kind "conv_transpose",
	// weights [Cout, K, K, Cin/groups] as a convolution's).
	TOptions autodiff.ConvTransposeOptions
	Weight   *nn.Param    // conv [Cout, KH, KW, Cin/groups]; linear [Out, In]
	Bias     *nn.Param    // may be nil
	In       *ActQuant    // nil: the input is not quantized
	W        *WeightQuant // nil for float layers
	// Observe, if non-nil, receives the layer's float input (before its
	// input quantizer; flattened for a linear layer) on every forward
	// pass. CentreOnInputs gathers its statistics this way.
	Observe func(x *tensor.Tensor)
}

// CheckLog2Scale returns an error unless l is the base-2 logarithm of a
// usable scale: 2^l and 2^−l both positive, finite float32 numbers
// (quantizing divides by the scale, dequantizing multiplies by it), that
// is −128 < l < 128.
func CheckLog2Scale(l float32) error {
	s, inv := Exp2(l), Exp2(-l)
	if !(s > 0 && inv > 0) || math.IsInf(float64(s), 0) || math.IsInf(float64(inv), 0) {
		return fmt.Errorf("log2 scale %v makes the scale %v: want 2^l and 2^−l positive and finite in float32", l, s)
	}
	return nil
}

// CheckScales reports the first of the layer's quantizer parameters (its
// input quantizer's log2 scale, its weight quantizer's log2 g and log2 s)
// that is not the log2 of a usable scale (see CheckLog2Scale), naming the
// tensor and the channel.
func (l *Layer) CheckScales() error {
	if l.In != nil {
		if err := l.In.CheckScale(); err != nil {
			return err
		}
	}
	if l.W == nil {
		return nil
	}
	for _, p := range l.W.Params() {
		for c, v := range p.Value.Data {
			if err := CheckLog2Scale(v); err != nil {
				return fmt.Errorf("tensor %s, channel %d: %w", p.Name, c, err)
			}
		}
	}
	return nil
}

// NewConv returns a convolution layer. inSigned tells whether the layer's
// input can be negative (false after a ReLU or for images in [0, 1]).
func NewConv(name string, in, out, kernel int, o autodiff.ConvOptions, bias bool, cfg LayerConfig, inSigned bool, rng *rand.Rand) (*Layer, error) {
	c := nn.NewConv2d(name, in, out, kernel, o, bias, rng)
	l := &Layer{Name: name, Kind: "conv", Config: cfg, InC: in, OutC: out, Kernel: kernel, Options: c.Options, Weight: c.Weight, Bias: c.Bias}
	return l, l.setup(inSigned)
}

// NewConvTranspose returns a transposed convolution layer. Its weights are
// stored [Cout, K, K, Cin/groups], each output channel's in one row, so
// that A2Q constrains the channels it sums into; the per-channel L1 bound
// then covers every output pixel, which sums a subset of the row.
func NewConvTranspose(name string, in, out, kernel int, o autodiff.ConvTransposeOptions, bias bool, cfg LayerConfig, inSigned bool, rng *rand.Rand) (*Layer, error) {
	c := nn.NewConvTranspose2d(name, in, out, kernel, o, bias, rng)
	l := &Layer{Name: name, Kind: "conv_transpose", Config: cfg, InC: in, OutC: out, Kernel: kernel, TOptions: c.Options, Weight: c.Weight, Bias: c.Bias}
	return l, l.setup(inSigned)
}

// NewLinear returns a fully connected layer.
func NewLinear(name string, in, out int, bias bool, cfg LayerConfig, inSigned bool, rng *rand.Rand) (*Layer, error) {
	f := nn.NewLinear(name, in, out, bias, rng)
	l := &Layer{Name: name, Kind: "linear", Config: cfg, InC: in, OutC: out, Weight: f.Weight, Bias: f.Bias}
	return l, l.setup(inSigned)
}

func (l *Layer) setup(inSigned bool) error {
	cfg := l.Config
	if cfg.Mode == "" {
		cfg.Mode = Float
		l.Config.Mode = Float
	}
	if _, ok := ParseMode(string(cfg.Mode)); !ok {
		return fmt.Errorf("layer %s: unknown quantizer %q (want float, baseline, a2q or a2q+)", l.Name, cfg.Mode)
	}
	if err := cfg.Validate(l.Name); err != nil {
		return err
	}
	if cfg.Mode == Float {
		return nil
	}
	l.In = NewActQuant(l.Name+".input_quant", cfg.ActBits, inSigned)
	l.W = &WeightQuant{Mode: cfg.Mode, Bits: cfg.WeightBits, InputBits: cfg.ActBits, InputSigned: inSigned,
		V: l.Weight, layer: &l.Config}
	if cfg.Mode.AccumulatorAware() {
		if err := l.checkBudget(); err != nil {
			return err
		}
		l.W.Log2G = nn.NewParam(l.Name+".log2_g", true, l.OutC)
		l.W.Log2S = nn.NewParam(l.Name+".log2_s", true, l.OutC)
		// Projection even for random weights: without it, K = 288 random
		// weights scaled into a budget of T ≈ 128 all round toward zero and
		// the layer starts (and stays) dead.
		l.W.InitFromWeights(true)
	}
	return nil
}

// checkBudget rejects a P too small for any non-zero weight, or an
// accumulator-aware layer whose input is not quantized.
func (l *Layer) checkBudget() error {
	if l.In == nil {
		return fmt.Errorf("layer %s: %s needs a quantized input to derive its accumulator budget, and this layer's input is not quantized", l.Name, l.Config.Mode)
	}
	if t := l.W.Budget(); t < 1 {
		need := accum.MinBitsForNonzero(l.In.Bits, l.In.Signed, l.Config.Mode == A2QPlus)
		return fmt.Errorf("layer %s: a %d-bit accumulator with %d-bit inputs gives an L1 budget of %.3g, too small for any non-zero weight (need P >= %d)",
			l.Name, l.Config.AccBits, l.In.Bits, t, need)
	}
	return nil
}

// Validate reports a layer that cannot be built as configured: an
// accumulator-aware quantizer without a quantized input, or a budget too
// small for any non-zero weight.
func (l *Layer) Validate() error {
	if l.W != nil && l.W.Mode.AccumulatorAware() {
		return l.checkBudget()
	}
	return nil
}

// Params implements nn.Module.
func (l *Layer) Params() []*nn.Param {
	ps := []*nn.Param{l.Weight}
	if l.Bias != nil {
		ps = append(ps, l.Bias)
	}
	if l.In != nil {
		ps = append(ps, l.In.Params()...)
	}
	if l.W != nil {
		ps = append(ps, l.W.Params()...)
	}
	return ps
}

// K returns the dot-product length per output channel.
func (l *Layer) K() int { return l.Weight.Value.Len() / l.OutC }

// Forward implements nn.Module.
func (l *Layer) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return l.forward(tp, x, train, false)
}

// ForwardStaged implements nn.Staged: x has been through the layer's
// input quantizer (the previous layer's requantisation took it over).
func (l *Layer) ForwardStaged(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return l.forward(tp, x, train, true)
}

func (l *Layer) forward(tp *autodiff.Tape, x *autodiff.Var, train, staged bool) *autodiff.Var {
	if l.Kind == "linear" && len(x.Shape()) != 2 {
		x = tp.Flatten(x)
	}
	if l.Observe != nil && !staged {
		l.Observe(x.Value)
	}
	var b *autodiff.Var
	if l.Bias != nil {
		b = l.Bias.Var(tp)
	}
	if l.W == nil {
		w := l.Weight.Var(tp)
		if l.In != nil {
			panic("quant: float layer with an input quantizer")
		}
		return l.apply(tp, x, w, b)
	}
	acc, rest := l.accumulate(tp, x, b, train, staged, 0, 0)
	y, _ := rest(acc, false, nil)
	return y
}

// accumulate records a quantized layer's integer-valued accumulators on x
// (already quantized when staged is set) and returns them with the
// requantisation that ends the layer. poolK and poolStride are a
// convolution's autodiff.ConvOptions.PoolK and PoolStride.
func (l *Layer) accumulate(tp *autodiff.Tape, x, b *autodiff.Var, train, staged bool, poolK, poolStride int) (*autodiff.Var, nn.Rest) {
	xi := x
	if !staged {
		xi = l.In.Apply(tp, x, train)
	}
	q, lw := l.W.Apply(tp)
	acc := l.applyPooled(tp, xi, q, nil, poolK, poolStride)
	lx := l.In.Log2Scale.Var(tp)
	return acc, func(a *autodiff.Var, relu bool, next nn.Staged) (*autodiff.Var, bool) {
		if n, ok := next.(*Layer); ok && n.takesStage() {
			return requantise(tp, a, lx, lw, b, relu, n.In), true
		}
		return requantise(tp, a, lx, lw, b, relu, nil), false
	}
}

// takesStage reports whether the layer before l may apply l's input
// quantizer at its end: l quantizes its input with a calibrated scale and
// has no observer of its float input.
func (l *Layer) takesStage() bool {
	return l.W != nil && l.In != nil && l.In.IsCalibrated() && l.Observe == nil
}

// ForwardSplit implements nn.Splitter for convolutions: a float layer
// hands over its bias; a quantized layer its accumulators, the rest being
// the requantisation (positive scales, then the bias), which may take
// over the next layer's input quantizer.
func (l *Layer) ForwardSplit(tp *autodiff.Tape, x *autodiff.Var, train, staged bool, poolK, poolStride int) (lin, bias *autodiff.Var, rest nn.Rest, ok bool) {
	if l.Kind != "conv" {
		return nil, nil, nil, false
	}
	if l.Observe != nil && !staged {
		l.Observe(x.Value)
	}
	if l.Bias != nil {
		bias = l.Bias.Var(tp)
	}
	if l.W == nil {
		if l.In != nil {
			panic("quant: float layer with an input quantizer")
		}
		return l.applyPooled(tp, x, l.Weight.Var(tp), nil, poolK, poolStride), bias, nil, true
	}
	acc, rest := l.accumulate(tp, x, bias, train, staged, poolK, poolStride)
	return acc, nil, rest, true
}

// applyPooled is apply for a convolution whose output only a max pool
// reads (autodiff.ConvOptions.PoolK; 0 for none).
func (l *Layer) applyPooled(tp *autodiff.Tape, x, w, b *autodiff.Var, poolK, poolStride int) *autodiff.Var {
	if poolK == 0 || l.Kind != "conv" {
		return l.apply(tp, x, w, b)
	}
	o := l.Options
	o.PoolK, o.PoolStride = poolK, poolStride
	return tp.Conv2d(x, w, b, o)
}

// apply is the layer's linear map of x with weights w (and bias b).
func (l *Layer) apply(tp *autodiff.Tape, x, w, b *autodiff.Var) *autodiff.Var {
	switch l.Kind {
	case "conv":
		return tp.Conv2d(x, w, b, l.Options)
	case "conv_transpose":
		return tp.ConvTranspose2d(x, nn.TransposedWeights(tp, w, l.InC, max(l.TOptions.Groups, 1)), b, l.TOptions)
	}
	return tp.Linear(x, w, b)
}

// Penalty returns the layer's budget penalty, or nil.
func (l *Layer) Penalty(tp *autodiff.Tape) *autodiff.Var {
	if l.W == nil {
		return nil
	}
	return l.W.Penalty(tp)
}

// requantise computes y[r, c] = thresh.Requant(acc[r, c], thresh.OutputScale(lx, lw[c]), b[c]).
//
// With relu set it is followed by a ReLU in the same operation: the same
// values and gradients as a separate ReLU, without its pass, its output
// and its gradient buffers. With q (the next layer's input quantizer) it
// is followed by q too, and returns q's integers: the same values as q's
// own Apply, in one pass; the gradients are the same but for the order in
// which the sum of q's scale gradient is taken.
func requantise(tp *autodiff.Tape, acc, lx, lw, b *autodiff.Var, relu bool, q *ActQuant) *autodiff.Var {
	s := acc.Value.Shape
	c := s[len(s)-1]
	rows := acc.Value.Len() / c
	sc := make([]float32, c)
	bias := make([]float32, c)
	for i := range sc {
		sc[i] = thresh.OutputScale(lx.Value.Data[0], lw.Value.Data[i])
		if b != nil {
			bias[i] = b.Value.Data[i]
		}
	}
	var (
		ls           *autodiff.Var // q's log2 scale
		qs, qlo, qhi float32
	)
	if q != nil {
		ls = q.Log2Scale.Var(tp)
		qs = q.Scale()
		qlo, qhi = q.Range()
	}
	out := tp.NewOutput(s...)
	ad := acc.Value.Data
	threads := tp.Threads
	if rows*c < 1<<15 {
		threads = 1
	}
	tensor.For(threads, rows, func(lo, hi int) {
		o, a := out.Data[lo*c:hi*c], ad[lo*c:hi*c]
		switch {
		case q != nil:
			f32.RequantQuantize(o, a, sc, bias, relu, qs, qlo, qhi)
		case relu:
			f32.Requant(o, a, sc, bias)
			f32.ReLU(o, o)
		default:
			f32.Requant(o, a, sc, bias)
		}
	})
	return tp.CustomFresh(out, func(d *tensor.Tensor, g []*tensor.Tensor, fresh []bool) {
		for i := 1; i < len(g); i++ { // the scales' and the bias's: small, added to below
			if g[i] != nil && fresh[i] {
				clear(g[i].Data)
			}
		}
		ga, gx, gw, gb, gl := g[0], g[1], g[2], g[3], g[4]
		// Per thread: partial sums of dy·acc and dy per channel, and of
		// q's ln-scale gradient.
		nt := max(threads, 1)
		parts := make([][]float64, nt)
		chunk := (rows + nt - 1) / nt
		tensor.For(nt, nt, func(tlo, thi int) {
			for ti := tlo; ti < thi; ti++ {
				// float32 partial sums over blocks of 64 rows, flushed into
				// float64: fast, and accurate over millions of rows.
				dsc := make([]float64, 2*c+1)
				acc32 := make([]float32, 2*c)
				// A fresh gradient is written by one fused pass (behind a
				// ReLU or q); otherwise the pass writes a block buffer
				// (with q) or the output gradient goes through the ReLU a
				// block at a time into one (without).
				write := ga != nil && fresh[0]
				fused := write && (relu || q != nil)
				var block []float32
				if !fused && (relu || q != nil) {
					block = make([]float32, 64*c)
				}
				lo, hi := ti*chunk, min((ti+1)*chunk, rows)
				for r0 := lo; r0 < hi; r0 += 64 {
					r1 := min(r0+64, hi)
					dr, ar := d.Data[r0*c:r1*c], ad[r0*c:r1*c]
					var gr []float32
					if ga != nil {
						gr = ga.Data[r0*c : r1*c]
					}
					switch {
					case q != nil:
						to := gr
						if !fused {
							to = block[:len(dr)]
						}
						dsc[2*c] += f32.RequantQuantizeGradTo(acc32[:c], acc32[c:], to, dr, ar, sc, bias, relu, qs, qlo, qhi)
						if ga != nil && !fused {
							for i, v := range to {
								gr[i] += v
							}
						}
					case fused:
						f32.RequantReLUGradTo(acc32[:c], acc32[c:], gr, dr, out.Data[r0*c:r1*c], ar, sc)
					default:
						if write {
							clear(gr) // in cache, just before it is added to
						}
						if relu {
							m := block[:len(dr)]
							f32.ReLUGradTo(m, dr, out.Data[r0*c:r1*c])
							dr = m
						}
						f32.RequantGrad(acc32[:c], acc32[c:], gr, dr, ar, sc)
					}
					for i, v := range acc32 {
						dsc[i] += float64(v)
					}
					clear(acc32)
				}
				parts[ti] = dsc
			}
		})
		var dx, dl float64
		for _, p := range parts {
			dl += p[2*c]
		}
		for i := 0; i < c; i++ {
			var dsc, db float64
			for _, p := range parts {
				dsc += p[i]
				db += p[c+i]
			}
			v := dsc * float64(sc[i]) * math.Ln2 // ∂y/∂log2 s = acc·scale·ln2
			dx += v
			if gw != nil {
				gw.Data[i] += float32(v)
			}
			if gb != nil {
				gb.Data[i] += float32(db)
			}
		}
		if gx != nil {
			gx.Data[0] += float32(dx)
		}
		if gl != nil {
			gl.Data[0] += float32(dl * math.Ln2)
		}
	}, acc, lx, lw, b, ls)
}
