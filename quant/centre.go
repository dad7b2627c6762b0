package quant

// Data-aware zero-centring of A2Q+ weights: moments of a layer's inputs and
// the per-channel centring that best reproduces the float layer's outputs on
// them. The recipe calls it once, on the pre-trained float weights, before
// quantized fine-tuning.

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/tensor"
)

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

// group returns group grp's input mean m and, with centred, the
// covariance E[(x − m)(x − m)ᵀ] (what a channel with a bias, which can
// absorb any offset, must reproduce), else the second moment E[x·xᵀ].
func (mo *InputMoments) group(grp int, centred bool) (m []float64, cov *mat.SymDense) {
	k, n := mo.k, float64(mo.n)
	m = make([]float64, k)
	for i, v := range mo.sum[grp] {
		m[i] = v / n
	}
	cov = mat.NewSymDense(k, nil)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			v := mo.outer[grp].At(i, j) / n
			if centred {
				v -= m[i] * m[j]
			}
			cov.SetSym(i, j, v)
		}
	}
	return m, cov
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
// In a tiled layer (see WeightQuant.Tile) A2Q+ centres each tile, so every
// tile must sum to zero: the candidates are those of Centring, in tiles,
// and the plain one subtracts each tile's mean μ_t, moving
// Σ_t μ_t·Σ_{i∈t} m_i into the bias.
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
	tile := l.W.Tile()
	groups := len(mo.sum)
	perGroup := l.OutC / groups
	w := l.Weight.Value.Data
	trial := &WeightQuant{Mode: A2QPlus, Bits: l.W.Bits, InputBits: l.W.InputBits, InputSigned: l.W.InputSigned,
		layer: l.W.layer, V: nn.NewParam("trial", false, 1, k), Log2G: nn.NewParam("trial.log2_g", true, 1), Log2S: nn.NewParam("trial.log2_s", true, 1)}
	for grp := 0; grp < groups; grp++ {
		m, cov := mo.group(grp, l.Bias != nil)
		var tr float64
		for i := 0; i < k; i++ {
			tr += cov.At(i, i)
		}
		// One centring per ridge; the plain one (z = 1) is always last.
		var dirs []*Centring
		for _, rho := range centringRidges {
			if z := NewCentring(cov, tr, rho, tile); z != nil {
				dirs = append(dirs, z)
			}
		}
		if len(dirs) == 0 || !dirs[len(dirs)-1].plain {
			dirs = append(dirs, PlainCentring(k, tile))
		}
		wc64 := make([]float64, k)
		cand := make([]float32, k)
		best := make([]float32, k)
		for c := grp * perGroup; c < (grp+1)*perGroup; c++ {
			wc := w[c*k : c*k+k]
			for i, v := range wc {
				wc64[i] = float64(v)
			}
			bestErr, bestD := math.Inf(1), -1
			var bestDB float64
			for di, z := range dirs {
				db := z.Centre(cand, wc, m)
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

// Centring is the data-aware zero-centring of A2Q+ channels of K weights
// that sum to zero in every tile of Tile consecutive weights (in the whole
// channel for tile 0): for weights w, the correction d that minimises
// dᵀ·(Σ + ρ·tr(Σ)/K·I)·d subject to every tile of w − d summing to zero,
// d = Σ_t λ_t·z_t with z_t = (Σ + ρ·tr(Σ)/K·I)⁻¹·1_t (1_t: ones on tile
// t) and λ solving Σ_t (1_sᵀ·z_t)·λ_t = Σ_{i∈s} w_i for every tile s.
// With Σ the covariance of the layer's inputs this changes the output
// least; the mean of what it changes, d·m for the inputs' mean m, belongs
// in the bias. Untiled, d = (Σ_i w_i / 1ᵀz)·z; plain (ρ = +Inf, or tr ≤ 0)
// it subtracts each tile's mean μ_t, and d·m = Σ_t μ_t·Σ_{i∈t} m_i.
type Centring struct {
	k, tile int
	plain   bool
	z       [][]float64 // z_t per tile (nil for plain tiles)
	den     float64     // 1ᵀz (untiled)
	ch      *mat.Cholesky
}

// NewCentring returns the centring of ridge ρ for inputs of covariance cov
// and trace tr, in tiles of tile weights (0: one), or nil if its systems
// cannot be solved. cov is only read for its size when ρ = +Inf or tr ≤ 0.
func NewCentring(cov *mat.SymDense, tr, rho float64, tile int) *Centring {
	k := cov.SymmetricDim()
	if tile <= 0 || tile >= k {
		z := CentringDirection(cov, tr, rho)
		if z == nil {
			return nil
		}
		var den float64
		for _, v := range z {
			den += v
		}
		return &Centring{k: k, z: [][]float64{z}, den: den, plain: isOnes(z)}
	}
	if math.IsInf(rho, 1) || !(tr > 0) {
		return PlainCentring(k, tile)
	}
	a := mat.NewSymDense(k, nil)
	a.CopySym(cov)
	for i := 0; i < k; i++ {
		a.SetSym(i, i, a.At(i, i)+rho*tr/float64(k))
	}
	var ca mat.Cholesky
	if !ca.Factorize(a) {
		return nil
	}
	tiles := (k + tile - 1) / tile
	ind := mat.NewDense(k, tiles, nil)
	for i := 0; i < k; i++ {
		ind.Set(i, i/tile, 1)
	}
	var zm mat.Dense
	if err := ca.SolveTo(&zm, ind); err != nil {
		return nil
	}
	ce := &Centring{k: k, tile: tile, z: make([][]float64, tiles)}
	for t := range ce.z {
		ce.z[t] = mat.Col(nil, t, &zm)
		for _, v := range ce.z[t] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil
			}
		}
	}
	// M_st = 1_sᵀ·z_t, symmetric positive definite (symmetrised against
	// rounding).
	m := mat.NewSymDense(tiles, nil)
	for s := 0; s < tiles; s++ {
		for t := s; t < tiles; t++ {
			var ms, mt float64
			for i := s * tile; i < min((s+1)*tile, k); i++ {
				ms += ce.z[t][i]
			}
			for i := t * tile; i < min((t+1)*tile, k); i++ {
				mt += ce.z[s][i]
			}
			m.SetSym(s, t, (ms+mt)/2)
		}
	}
	ce.ch = new(mat.Cholesky)
	if !ce.ch.Factorize(m) {
		return nil
	}
	return ce
}

// PlainCentring returns the centring that subtracts each tile's mean from
// channels of k weights in tiles of tile weights (0: the channel's mean).
func PlainCentring(k, tile int) *Centring {
	if tile <= 0 || tile >= k {
		return &Centring{k: k, z: [][]float64{ones(k)}, den: float64(k), plain: true}
	}
	return &Centring{k: k, tile: tile, plain: true}
}

// Centre writes w − d into dst and returns d·m (0 if m is nil), the
// change of the channel's output at the inputs' mean m, which the caller
// adds to the bias. It panics unless w and dst have K entries (and m, if
// not nil).
func (ce *Centring) Centre(dst, w []float32, m []float64) (db float64) {
	k := ce.k
	if len(w) != k || len(dst) != k || m != nil && len(m) != k {
		panic(fmt.Sprintf("quant: Centring.Centre: %d weights, %d outputs and %d means for K = %d", len(w), len(dst), len(m), k))
	}
	mi := func(i int) float64 {
		if m == nil {
			return 0
		}
		return m[i]
	}
	if ce.tile == 0 {
		z := ce.z[0]
		var sum float64
		for _, a := range w {
			sum += float64(a)
		}
		lam := sum / ce.den
		for i, a := range w {
			d := lam * z[i]
			dst[i] = float32(float64(a) - d)
			db += d * mi(i)
		}
		return db
	}
	tiles := (k + ce.tile - 1) / ce.tile
	sums := make([]float64, tiles)
	for i, a := range w {
		sums[i/ce.tile] += float64(a)
	}
	if ce.plain {
		for i, a := range w {
			t := i / ce.tile
			d := sums[t] / float64(min((t+1)*ce.tile, k)-t*ce.tile)
			dst[i] = float32(float64(a) - d)
			db += d * mi(i)
		}
		return db
	}
	var lam mat.VecDense
	if err := ce.ch.SolveVecTo(&lam, mat.NewVecDense(tiles, sums)); err != nil {
		panic(fmt.Sprintf("quant: Centring.Centre: %v", err)) // factorised in NewCentring
	}
	for i, a := range w {
		var d float64
		for t, z := range ce.z {
			d += lam.AtVec(t) * z[i]
		}
		dst[i] = float32(float64(a) - d)
		db += d * mi(i)
	}
	return db
}

// CentringDirection returns z = (Σ + ρ·tr/K·I)⁻¹·1, ones for ρ = +Inf or
// tr ≤ 0, or nil if the system cannot be solved.
func CentringDirection(cov *mat.SymDense, tr, rho float64) []float64 {
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
	alpha, rh, hh := lsGain(cov, rv, hv)
	rr := mat.Inner(rv, cov, rv)
	if !(hh > 0) {
		return rr
	}
	alpha = max(alpha, 0)
	return rr - 2*alpha*rh + alpha*alpha*hh
}

// lsGain returns the gain α that minimises (w − α·ŵ)ᵀ·cov·(w − α·ŵ),
// α = wᵀ·cov·ŵ / ŵᵀ·cov·ŵ (NaN or infinite when ŵᵀ·cov·ŵ is 0), with the
// two products.
func lsGain(cov *mat.SymDense, w, hat *mat.VecDense) (alpha, wh, hh float64) {
	var ch mat.VecDense
	ch.MulVec(cov, hat)
	hh, wh = mat.Dot(hat, &ch), mat.Dot(w, &ch)
	return wh / hh, wh, hh
}
