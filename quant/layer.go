package quant

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

// LayerConfig sets one layer's quantization.
type LayerConfig struct {
	Mode       Mode
	WeightBits int // M
	ActBits    int // N of the layer's input quantizer
	AccBits    int // P the layer is meant to run at (budget for A2Q/A2Q+)
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
	if l.Kind == "linear" && len(x.Shape()) != 2 {
		x = tp.Flatten(x)
	}
	if l.Observe != nil {
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
	xi := l.In.Apply(tp, x, train)
	q, lw := l.W.Apply(tp)
	acc := l.apply(tp, xi, q, nil)
	return scaleChannels(tp, acc, l.In.Log2Scale.Var(tp), lw, b)
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

// scaleChannels computes y[r, c] = Requant(acc[r, c], OutputScale(lx, lw[c]), b[c]).
func scaleChannels(tp *autodiff.Tape, acc, lx, lw, b *autodiff.Var) *autodiff.Var {
	s := acc.Value.Shape
	c := s[len(s)-1]
	rows := acc.Value.Len() / c
	sc := make([]float32, c)
	bias := make([]float32, c)
	for i := range sc {
		sc[i] = OutputScale(lx.Value.Data[0], lw.Value.Data[i])
		if b != nil {
			bias[i] = b.Value.Data[i]
		}
	}
	out := tp.NewValue(s...)
	ad := acc.Value.Data
	threads := tp.Threads
	if rows*c < 1<<15 {
		threads = 1
	}
	tensor.For(threads, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ar, or := ad[r*c:r*c+c], out.Data[r*c:r*c+c]
			for i, a := range ar {
				or[i] = Requant(a, sc[i], bias[i])
			}
		}
	})
	return tp.Custom(out, func(d *tensor.Tensor, g []*tensor.Tensor) {
		ga, gx, gw, gb := g[0], g[1], g[2], g[3]
		// Per-thread partial sums of dy·acc and dy per channel.
		nt := max(threads, 1)
		parts := make([][]float64, nt)
		chunk := (rows + nt - 1) / nt
		tensor.For(nt, nt, func(tlo, thi int) {
			for ti := tlo; ti < thi; ti++ {
				// float32 partial sums over blocks of 64 rows, flushed into
				// float64: fast, and accurate over millions of rows.
				dsc := make([]float64, 2*c)
				acc32 := make([]float32, 2*c)
				lo, hi := ti*chunk, min((ti+1)*chunk, rows)
				for r := lo; r < hi; r++ {
					dr, ar := d.Data[r*c:r*c+c], ad[r*c:r*c+c]
					ps, pb := acc32[:c], acc32[c:]
					if ga != nil {
						gr := ga.Data[r*c : r*c+c]
						for i, dv := range dr {
							ps[i] += dv * ar[i]
							pb[i] += dv
							gr[i] += dv * sc[i]
						}
					} else {
						for i, dv := range dr {
							ps[i] += dv * ar[i]
							pb[i] += dv
						}
					}
					if (r-lo)%64 == 63 || r == hi-1 {
						for i, v := range acc32 {
							dsc[i] += float64(v)
						}
						clear(acc32)
					}
				}
				parts[ti] = dsc
			}
		})
		var dx float64
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
	}, acc, lx, lw, b)
}

// centringRidges are the regularisations ρ among which CentreOnInputs
// chooses, per channel: the input covariance Σ becomes Σ + ρ·(tr Σ/K)·I.
// Small values follow the data closely but may grow a few weights
// (directions of little input variance absorb the channel's mean), which
// coarsens the scale max|w|/(2^(M−1)−1) and spends L1 budget; +Inf is the
// plain mean subtraction.
var centringRidges = []float64{0.01, 0.1, 1, 10, math.Inf(1)}

// maxMomentRows caps the dot-product input rows InputMoments.Add samples
// from one tensor.
const maxMomentRows = 4096

// InputMoments accumulates the mean and second moment of a layer's
// dot-product inputs: the im2col rows of a convolution (one per output
// pixel, per group), the input rows of a linear layer. Add samples at most
// a few thousand rows from each tensor it is given.
type InputMoments struct {
	l     *Layer
	k     int
	n     int             // rows accumulated
	sum   [][]float64     // per group, K
	outer []*mat.SymDense // per group, Σ x·xᵀ
}

// NewInputMoments returns empty moments for l's inputs.
func (l *Layer) NewInputMoments() *InputMoments {
	groups := 1
	if l.Kind == "conv" {
		groups = max(l.Options.Groups, 1)
	}
	k := l.K()
	mo := &InputMoments{l: l, k: k}
	for g := 0; g < groups; g++ {
		mo.sum = append(mo.sum, make([]float64, k))
		mo.outer = append(mo.outer, mat.NewSymDense(k, nil))
	}
	return mo
}

// Rows returns the number of input rows accumulated (per group).
func (mo *InputMoments) Rows() int { return mo.n }

// Add accumulates the dot-product inputs of x, the layer's float input as
// Forward receives it (NHWC for a convolution, [N, In] for a linear layer).
// It panics if x does not fit the layer.
func (mo *InputMoments) Add(x *tensor.Tensor) {
	l := mo.l
	if l.Kind != "conv" {
		in := x.Len() / max(x.Shape[0], 1)
		if in != mo.k {
			panic(fmt.Sprintf("quant: InputMoments.Add: layer %s takes %d inputs, got shape %v", l.Name, mo.k, x.Shape))
		}
		mo.addRows(0, x.Data, x.Shape[0])
		return
	}
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("quant: InputMoments.Add: layer %s wants an NHWC input, got shape %v", l.Name, x.Shape))
	}
	g := tensor.ConvGeom{N: x.Shape[0], H: x.Shape[1], W: x.Shape[2], C: x.Shape[3], KH: l.Kernel, KW: l.Kernel,
		Stride: l.Options.Stride, Pad: l.Options.Pad, Groups: l.Options.Groups, Cout: l.OutC}
	if err := g.Validate(); err != nil || g.KPerGroup != mo.k {
		panic(fmt.Sprintf("quant: InputMoments.Add: layer %s (K = %d) cannot take an input of shape %v", l.Name, mo.k, x.Shape))
	}
	// One image at a time keeps the im2col buffer small.
	per := g.OH * g.OW
	stride := max(1, (g.N*per+maxMomentRows-1)/maxMomentRows)
	one := g
	one.N = 1
	col := make([]float32, per*mo.k)
	sel := make([]float32, 0, per*mo.k)
	img := g.H * g.W * g.C
	row := 0
	for n := 0; n < g.N; n++ {
		for grp := range mo.sum {
			tensor.Im2col(1, &one, x.Data[n*img:(n+1)*img], grp, col)
			sel = sel[:0]
			for r := 0; r < per; r++ {
				if (row+r)%stride == 0 {
					sel = append(sel, col[r*mo.k:(r+1)*mo.k]...)
				}
			}
			mo.addGroup(grp, sel, len(sel)/mo.k)
		}
		row += per
		mo.n += countMultiples(row-per, row, stride)
	}
}

// countMultiples returns how many of lo..hi−1 are multiples of s.
func countMultiples(lo, hi, s int) int {
	return (hi+s-1)/s - (lo+s-1)/s
}

// addRows adds rows of a linear layer's input, sampling at most
// maxMomentRows of them.
func (mo *InputMoments) addRows(grp int, x []float32, rows int) {
	stride := max(1, (rows+maxMomentRows-1)/maxMomentRows)
	sel := make([]float32, 0, min(rows, maxMomentRows)*mo.k)
	for r := 0; r < rows; r += stride {
		sel = append(sel, x[r*mo.k:(r+1)*mo.k]...)
	}
	mo.addGroup(grp, sel, len(sel)/mo.k)
	mo.n += len(sel) / mo.k
}

// addGroup adds rows (row-major, rows×K) to group grp's sums.
func (mo *InputMoments) addGroup(grp int, x []float32, rows int) {
	if rows == 0 {
		return
	}
	d := make([]float64, rows*mo.k)
	for i, v := range x[:rows*mo.k] {
		d[i] = float64(v)
		mo.sum[grp][i%mo.k] += float64(v)
	}
	o := mo.outer[grp]
	o.SymRankK(o, 1, mat.NewDense(rows, mo.k, d).T())
}

// CentreOnInputs gives an A2Q+ layer zero-centred weights chosen for its
// data, then re-initialises the quantizer (InitFromWeights with the
// projection). A2Q+ needs Σ_i w_ci = 0 in every output channel c; the
// plain way there, subtracting the channel mean μ_c, removes μ_c·Σ_i x_i
// from the output, a large term after a ReLU (all inputs positive), which
// no bias can restore.
//
// With m and Σ the mean and covariance of the inputs in mo, the correction
// d_c that changes the float output least subject to Σ_i (w_ci − d_ci) = 0
// minimises E[(d_c·(x − m))²]: d_c = (Σ_i w_ci / 1ᵀz)·z with
// z = (Σ + ρ·tr(Σ)/K·I)⁻¹·1, the mean part moving into the bias,
// b_c += d_c·m. Small ρ follows the data closely but may grow a few
// weights (directions of little input variance absorb the channel's sum),
// which coarsens the scale and spends L1 budget. What counts is the
// quantized channel: for ρ = 0.01, 0.1, 1, 10 and the plain mean
// subtraction (ρ = ∞) it quantizes w_c − d_c as InitFromWeights and the
// forward pass would, and keeps the candidate whose dequantised weights ŵ
// reproduce the float channel's output best up to a gain and an offset
// (smallest min_α (w_c − α·ŵ)ᵀ·Σ·(w_c − α·ŵ); models.FoldProjectionGain
// restores a gain, the bias an offset). A layer without a bias uses the
// second moment E[x·xᵀ] instead of Σ. Whether the whole layer is better
// off this way than with the plain subtraction is for the caller to judge
// on the model's outputs (models.InitFromFloatWith does).
//
// Call it on the layer's float (pre-trained) weights, with moments of the
// inputs the layer sees in the model. It returns the number of channels
// that kept the plain mean subtraction, and an error for a layer that is
// not A2Q+ or moments without rows.
func (l *Layer) CentreOnInputs(mo *InputMoments) (plain int, err error) {
	if l.Kind == "conv_transpose" {
		return 0, fmt.Errorf("layer %s: data-aware zero-centring of transposed convolutions is not implemented", l.Name)
	}
	if l.W == nil || l.W.Mode != A2QPlus {
		return 0, fmt.Errorf("layer %s: data-aware zero-centring applies to A2Q+ layers only", l.Name)
	}
	if mo == nil || mo.l != l || mo.n == 0 {
		return 0, fmt.Errorf("layer %s: no input statistics for data-aware zero-centring", l.Name)
	}
	k := mo.k
	groups := len(mo.sum)
	perGroup := l.OutC / groups
	w := l.Weight.Value.Data
	n := float64(mo.n)
	trial := &WeightQuant{Mode: A2QPlus, Bits: l.W.Bits, InputBits: l.W.InputBits, InputSigned: l.W.InputSigned,
		layer: l.W.layer, V: nn.NewParam("trial", false, 1, k), Log2G: nn.NewParam("trial.log2_g", true, 1), Log2S: nn.NewParam("trial.log2_s", true, 1)}
	for grp := 0; grp < groups; grp++ {
		m := make([]float64, k)
		for i, v := range mo.sum[grp] {
			m[i] = v / n
		}
		cov := mat.NewSymDense(k, nil)
		var tr float64
		for i := 0; i < k; i++ {
			for j := i; j < k; j++ {
				v := mo.outer[grp].At(i, j) / n
				if l.Bias != nil {
					v -= m[i] * m[j]
				}
				cov.SetSym(i, j, v)
			}
			tr += cov.At(i, i)
		}
		// One direction z per ridge; plain centring (z = 1) is always last.
		var dirs [][]float64
		for _, rho := range centringRidges {
			if z := centringDirection(cov, tr, rho); z != nil {
				dirs = append(dirs, z)
			}
		}
		if len(dirs) == 0 || !isOnes(dirs[len(dirs)-1]) {
			dirs = append(dirs, ones(k))
		}
		wc64 := make([]float64, k)
		cand := make([]float32, k)
		best := make([]float32, k)
		for c := grp * perGroup; c < (grp+1)*perGroup; c++ {
			wc := w[c*k : c*k+k]
			var sum float64
			for i, v := range wc {
				wc64[i] = float64(v)
				sum += float64(v)
			}
			bestErr, bestD := math.Inf(1), -1
			var bestDB float64
			for di, z := range dirs {
				var den float64
				for _, v := range z {
					den += v
				}
				lam := sum / den
				var db float64
				for i := range cand {
					d := lam * z[i]
					cand[i] = float32(wc64[i] - d)
					db += d * m[i]
				}
				e := trial.quantizedError(cand, wc64, cov)
				// Ties (and NaN-free equal errors) go to the plainer candidate.
				if e <= bestErr || bestD < 0 {
					bestErr, bestD, bestDB = e, di, db
					copy(best, cand)
				}
			}
			if bestD == len(dirs)-1 {
				plain++
			}
			copy(wc, best)
			if l.Bias != nil {
				l.Bias.Value.Data[c] += float32(bestDB)
			}
		}
	}
	l.W.InitFromWeights(true)
	return plain, nil
}

// centringDirection returns z = (Σ + ρ·tr/K·I)⁻¹·1, ones for ρ = +Inf or
// tr ≤ 0, or nil if the system cannot be solved.
func centringDirection(cov *mat.SymDense, tr, rho float64) []float64 {
	k := cov.SymmetricDim()
	if math.IsInf(rho, 1) || !(tr > 0) {
		return ones(k)
	}
	a := mat.NewSymDense(k, nil)
	a.CopySym(cov)
	for i := 0; i < k; i++ {
		a.SetSym(i, i, a.At(i, i)+rho*tr/float64(k))
	}
	var ch mat.Cholesky
	if !ch.Factorize(a) {
		return nil
	}
	var zv mat.VecDense
	if err := ch.SolveVecTo(&zv, mat.NewVecDense(k, ones(k))); err != nil {
		return nil
	}
	z := zv.RawVector().Data
	var den float64
	for _, v := range z {
		den += v
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
	}
	if !(den > 0) {
		return nil
	}
	return z
}

func ones(k int) []float64 {
	z := make([]float64, k)
	for i := range z {
		z[i] = 1
	}
	return z
}

func isOnes(z []float64) bool {
	for _, v := range z {
		if v != 1 {
			return false
		}
	}
	return true
}

// quantizedError quantizes the one-channel weights v as InitFromWeights
// (with the projection) and the forward pass would, and returns
// min_α (w − α·ŵ)ᵀ·cov·(w − α·ŵ) for the dequantised weights ŵ = q·s.
// It uses w (the receiver's single channel) as scratch.
func (w *WeightQuant) quantizedError(v []float32, ref []float64, cov *mat.SymDense) float64 {
	copy(w.V.Value.Data, v)
	w.InitFromWeights(true)
	q, log2s := w.Integers()
	s := math.Exp2(float64(log2s[0]))
	k := len(ref)
	hat := make([]float64, k)
	for i, x := range q {
		hat[i] = float64(x) * s
	}
	rv, hv := mat.NewVecDense(k, ref), mat.NewVecDense(k, hat)
	var ch mat.VecDense
	ch.MulVec(cov, hv)
	hh := mat.Dot(hv, &ch)
	rh := mat.Dot(rv, &ch)
	rr := mat.Inner(rv, cov, rv)
	if !(hh > 0) {
		return rr
	}
	alpha := max(rh/hh, 0)
	return rr - 2*alpha*rh + alpha*alpha*hh
}
