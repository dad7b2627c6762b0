package models

import (
	"fmt"
	"math"
	"slices"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// InitOptions selects the refinements InitFromFloatWith applies after
// loading a float model into a quantized one.
type InitOptions struct {
	// FoldGain gives back the gain the projection takes from each
	// accumulator-aware layer (see FoldProjectionGain).
	FoldGain bool
	// GainToNextLayer folds that gain into the next layer's weights and the
	// layer's bias instead of the layer's own scale, and KeepProjectedNorm
	// leaves the projected weights at the projection's L1 norm
	// (quant.WeightQuant.KeepProjectedNorm): together, the initialisation
	// of earlier versions, whose projected weights over the scale, V/s, are
	// what RTN post-training quantization rounds.
	GainToNextLayer, KeepProjectedNorm bool
	// CentreOn, if non-nil, is a batch of training inputs (N×H×W×C, a
	// thousand examples is plenty) on which every A2Q+ layer is
	// zero-centred with quant.Layer.CentreOnInputs instead of by
	// subtracting each channel's mean.
	CentreOn *tensor.Tensor
	// FitGainOn, if non-nil (with FoldGain and without GainToNextLayer), is
	// a batch of training inputs (N×H×W×C) on which each accumulator-aware
	// layer's gain and offset are fitted to the float model's channels
	// (quant.Layer.FitGain) instead of restoring the L1 norm the projection
	// took (FoldProjectionGain): every such layer, whatever reads its
	// output, except transposed convolutions, which keep the L1 gain.
	FitGainOn *tensor.Tensor
	// L1WhereFolds, with FitGainOn, fits only the layers the L1 gain cannot
	// reach (those not followed by another layer through ReLU and pooling);
	// the others keep the L1 gain, which fine-tuning recovers from better
	// on the reference CNN (docs/MATH.md, "The gain fitted on data").
	L1WhereFolds bool
	// Threads for the forward passes over CentreOn and FitGainOn (0: one).
	Threads int
	// RestoredNorms names batch norms inserted by WithRestoredNorms, to be
	// initialised on NormsOn (training inputs, N×H×W×C).
	RestoredNorms []string
	NormsOn       *tensor.Tensor
}

// InitResult counts the layers each refinement changed.
type InitResult struct {
	Folded int // layers given back the L1 gain (FoldProjectionGain)
	// Fitted counts the layers whose gains and offsets were fitted on data
	// (InitOptions.FitGainOn).
	Fitted int
	// Restored counts the batch norms initialised on data
	// (InitOptions.RestoredNorms).
	Restored int
	// Centred counts the A2Q+ layers zero-centred on data; PlainLayers
	// those for which the plain mean subtraction reproduced the float
	// model's outputs better and was kept.
	Centred, PlainLayers int
	// PlainChannels counts the channels of the centred layers for which
	// the plain mean subtraction quantized best (quant.Layer.CentreOnInputs),
	// of Channels.
	PlainChannels, Channels int
}

// CentringExamples is how many training examples the train and sweep
// commands pass as InitOptions.CentreOn.
const CentringExamples = 1024

// InitFromFloatWith is InitFromFloat followed by the refinements o asks
// for, applied layer by layer in network order so that each layer's input
// statistics and float weights already include the changes made upstream:
// an A2Q+ layer is zero-centred on data (its float weights being the
// checkpoint's, times any gain folded into it by the layer before with
// GainToNextLayer), then its own projection gain is given back. Centring on data
// is kept only if the model's outputs on the CentreOn examples are then
// closer (mean squared difference) to the float model's than with the
// plain mean subtraction: it wins where the budget leaves room (W4A4 on the
// reference CNN, every P), the plain subtraction where the budget binds
// hard (W8A8, P ≤ 16), docs/EVALUATION.md §1c.
func InitFromFloatWith(m *Model, path string, o InitOptions) (InitResult, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return InitResult{}, err
	}
	r, err := InitFromCheckpoint(m, c, o)
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// InitFromCheckpoint is InitFromFloatWith on a checkpoint in memory (an
// imported float network's, see Model.Checkpoint).
func InitFromCheckpoint(m *Model, c *checkpoint.Checkpoint, o InitOptions) (InitResult, error) {
	for _, l := range m.Layers {
		if l.W != nil {
			l.W.KeepProjectedNorm = o.KeepProjectedNorm
		}
	}
	if err := initFrom(m, c); err != nil {
		return InitResult{}, err
	}
	if !o.FoldGain && o.CentreOn == nil && o.FitGainOn == nil && len(o.RestoredNorms) == 0 {
		return InitResult{}, nil
	}
	r, err := refine(m, c, o)
	if err != nil || len(o.RestoredNorms) == 0 {
		return r, err
	}
	if o.NormsOn == nil {
		return r, fmt.Errorf("restored batch norms need training inputs to start from")
	}
	fm, err := FromCheckpoint(c)
	if err != nil {
		return r, err
	}
	if err := restoreNorms(m, fm, o.RestoredNorms, o.NormsOn, o.Threads); err != nil {
		return r, err
	}
	r.Restored = len(o.RestoredNorms)
	return r, nil
}

// FoldProjectionGain compensates the shrinkage that the projection
// initialisation inflicts on accumulator-aware layers. A tight budget can
// scale a channel's weights down by a large factor α_c (59–83× for the
// reference CNN's conv2 at W8A8, P = 16, and more than 1,000× at P = 12);
// multiplying the channel's scale s_c by α_c gives the network back
// (approximately) the float model's function, so fine-tuning starts from a
// good model instead of a damaged one. g_c is multiplied by α_c too, so
// that g/s, hence the integers and the budget, do not change. α_c is
// quant.WeightQuant.ProjectionGain: the ratio of the channel's L1 norm
// before the projection (after A2Q+'s centring) to that of its dequantised
// weights q·s.
//
// With InitOptions.GainToNextLayer the gain goes instead, as in earlier
// versions, into the next layer: since ReLU and max pooling are positively
// homogeneous, dividing the channel's bias by α_c and multiplying the next
// layer's weights on that channel by α_c gives the same function, but puts
// the channel's output and bias, and the next layer's weights, α_c away
// from the float model's sizes, where the optimiser's steps (about the
// learning rate per weight, whatever its size) are α_c times too large or
// too small; at a tight budget fine-tuning then learns less, or diverges.
//
// It applies to every accumulator-aware layer followed, through ReLU, max
// pooling and flattening only and with no other reader of its output, by
// another layer (with GainToNextLayer, that layer is re-initialised from
// its float weights, in the float checkpoint at path, times α). It returns
// the number of layers folded. Call it after InitFromFloat(m, path);
// InitFromFloatWith does both.
func FoldProjectionGain(m *Model, path string) (int, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return 0, err
	}
	r, err := refine(m, c, InitOptions{FoldGain: true})
	return r.Folded, err
}

// refine applies o's refinements to m, whose float weights came from c.
func refine(m *Model, c *checkpoint.Checkpoint, o InitOptions) (InitResult, error) {
	var res InitResult
	// ref holds each layer's current float weights: the checkpoint's,
	// scaled by any gain folded into the layer.
	ref := map[*quant.Layer][]float32{}
	for _, l := range m.Layers {
		if t, ok := c.Tensors[l.Name+".weight"]; ok && t.Len() == l.Weight.Value.Len() {
			ref[l] = slices.Clone(t.Data)
		}
	}
	next := followers(m)
	var want []float32 // the float model's outputs on o.CentreOn
	for _, l := range m.Layers {
		if l.W == nil || !l.W.Mode.AccumulatorAware() || ref[l] == nil {
			continue
		}
		f, ok := next[l]
		canFold := o.FoldGain && ok && ref[f.l] != nil
		toNext := o.GainToNextLayer
		fit := o.FoldGain && !toNext && o.FitGainOn != nil && l.Kind != "conv_transpose" && !(o.L1WhereFolds && canFold)
		if o.CentreOn == nil || l.W.Mode != quant.A2QPlus || l.Kind == "conv_transpose" {
			if fit {
				mo, err := inputMoments(m, l, o.FitGainOn, o.Threads)
				if err != nil {
					return res, err
				}
				if err := fitGain(l, mo, ref[l], c); err != nil {
					return res, err
				}
				res.Fitted++
			} else if canFold && fold(l, f.l, f.flatten, ref[f.l], toNext) {
				res.Folded++
			}
			continue
		}
		if want == nil {
			fm, err := FromCheckpoint(c)
			if err != nil {
				return res, err
			}
			if want, err = outputs(fm, o.CentreOn, o.Threads); err != nil {
				return res, err
			}
		}
		var bias []float32
		if l.Bias != nil {
			bias = slices.Clone(l.Bias.Value.Data)
		}
		// l's inputs do not depend on l: their statistics serve both trials.
		mo, err := inputMoments(m, l, o.CentreOn, o.Threads)
		if err != nil {
			return res, err
		}
		moFit := mo
		if fit && o.FitGainOn != o.CentreOn {
			if moFit, err = inputMoments(m, l, o.FitGainOn, o.Threads); err != nil {
				return res, err
			}
		}
		// apply initialises l (centred on data or by its mean) and gives
		// its gain back: fitted on data, or the L1 gain (with
		// GainToNextLayer, into a copy of the next layer's float weights,
		// or into them with commit).
		apply := func(onData, commit bool) (plain int, gave bool, err error) {
			copy(l.Weight.Value.Data, ref[l])
			if bias != nil {
				copy(l.Bias.Value.Data, bias)
			}
			if onData {
				if plain, err = l.CentreOnInputs(mo); err != nil {
					return 0, false, err
				}
			} else {
				l.W.InitFromWeights(true)
			}
			if fit {
				return plain, true, fitGain(l, moFit, ref[l], c)
			}
			if canFold {
				nw := ref[f.l]
				if !commit {
					nw = slices.Clone(nw)
				}
				gave = fold(l, f.l, f.flatten, nw, toNext)
			}
			return plain, gave, nil
		}
		if _, _, err := apply(true, false); err != nil {
			return res, err
		}
		dData, err := distance(m, o.CentreOn, want, o.Threads)
		if err != nil {
			return res, err
		}
		if _, _, err := apply(false, false); err != nil {
			return res, err
		}
		dPlain, err := distance(m, o.CentreOn, want, o.Threads)
		if err != nil {
			return res, err
		}
		onData := dData < dPlain
		plain, gave, err := apply(onData, true)
		if err != nil {
			return res, err
		}
		if onData {
			res.Centred++
			res.PlainChannels += plain
			res.Channels += l.OutC
		} else {
			res.PlainLayers++
		}
		switch {
		case gave && fit:
			res.Fitted++
		case gave:
			res.Folded++
		}
	}
	return res, nil
}

// fitGain fits l's gains and offsets (quant.Layer.FitGain) to its float
// weights wf and the float bias in c, on the input moments mo.
func fitGain(l *quant.Layer, mo *quant.InputMoments, wf []float32, c *checkpoint.Checkpoint) error {
	var bf []float32
	if l.Bias != nil {
		t, ok := c.Tensors[l.Name+".bias"]
		if !ok || t.Len() != l.OutC {
			return fmt.Errorf("layer %s: the float model has no bias of %d channels to fit offsets to", l.Name, l.OutC)
		}
		bf = t.Data
	}
	_, err := l.FitGain(mo, wf, bf)
	return err
}

// fold gives l its projection gain α back: through its own scale (s and g
// times α), or, with toNext, by dividing l's bias by α and setting next's
// weights to nw (its float weights, updated in place) times α on l's
// channels. It reports false (changing nothing) if l has no gain or, with
// toNext, the layout does not allow it.
func fold(l, next *quant.Layer, flatten bool, nw []float32, toNext bool) bool {
	alpha := l.W.ProjectionGain()
	if alpha == nil {
		return false
	}
	if !toNext {
		for c, a := range alpha {
			d := float32(math.Log2(a))
			l.W.Log2S.Value.Data[c] += d
			l.W.Log2G.Value.Data[c] += d
		}
		return true
	}
	cin := len(alpha)
	var idx func(j int) int
	switch {
	case next.Kind == "conv" && next.Options.Groups <= 1:
		// [Cout, KH, KW, Cin]: the channel is the innermost index.
		idx = func(j int) int { return j % cin }
	case next.Kind == "linear" && (flatten || next.InC == cin):
		// NHWC flattening keeps the channel innermost too.
		idx = func(j int) int { return (j % next.InC) % cin }
	default:
		return false
	}
	if l.Bias != nil {
		for c, a := range alpha {
			l.Bias.Value.Data[c] /= float32(a)
		}
	}
	for j := range nw {
		nw[j] *= float32(alpha[idx(j)])
	}
	copy(next.Weight.Value.Data, nw)
	if next.W != nil {
		next.W.InitFromWeights(next.W.Mode.AccumulatorAware())
	}
	return true
}

// follower is the layer a layer's gain folds into, and whether a flatten
// lies between them.
type follower struct {
	l       *quant.Layer
	flatten bool
}

// followers maps each layer to the layer its gain folds into (foldTarget).
func followers(m *Model) map[*quant.Layer]follower {
	next := map[*quant.Layer]follower{}
	if m.graph == nil {
		return next
	}
	byName := map[string]*quant.Layer{}
	for _, l := range m.Layers {
		byName[l.Name] = l
	}
	cons := m.graph.Consumers()
	for _, l := range m.Layers {
		if t, flatten, ok := foldTarget(m.graph, cons, l.Name); ok && byName[t] != nil {
			next[l] = follower{byName[t], flatten}
		}
	}
	return next
}

// foldTarget returns the layer the output of layer name reaches through
// ReLU, unpadded max pooling and flattening only, with no other reader on
// the way (a residual sum or a second reader would see the unfolded
// gain), and whether a flatten lies between them.
func foldTarget(g *graph.Graph, cons map[string][]int, name string) (target string, flatten, ok bool) {
	v := name
	for {
		cs := cons[v]
		if len(cs) != 1 || v == g.Output {
			return "", false, false
		}
		n := g.Nodes[cs[0]]
		switch {
		case n.Op == graph.ReLU || n.Op == graph.MaxPool && n.Pad == 0 || n.Op == graph.Flatten:
			flatten = flatten || n.Op == graph.Flatten
			v = n.Name
		case n.Op == graph.Conv || n.Op == graph.Linear:
			return n.Name, flatten, true
		default:
			return "", false, false
		}
	}
}

// RestoredNormEps is the ε of the batch norms WithRestoredNorms inserts:
// far below the variance of a channel the projection shrank (which can
// fall under 10⁻⁶), so that the norm can scale it back up.
const RestoredNormEps = 1e-10

// WithRestoredNorms returns g with a batch norm inserted after every
// hidden layer whose projection gain cannot fold into a next layer (its
// output feeds a residual sum, a concatenation, a clip, several readers)
// and that no batch norm follows already, and the names of the inserted
// norms. Networks exported with their batch norms folded into the
// convolutions (torch.onnx.export in evaluation mode) lose the channel
// gains the A2Q projection takes from such layers; the inserted norm,
// initialised on data by InitFromCheckpoint (InitOptions.RestoredNorms),
// gives each channel its float mean and spread back, and stays trainable
// (integer inference folds it into the thresholds).
func WithRestoredNorms(g *graph.Graph) (*graph.Graph, []string, error) {
	first, last := g.Edges()
	var names []string
	out := g
	for _, n := range g.Nodes {
		if !n.Op.Layered() || first[n.Name] || last[n.Name] {
			continue
		}
		cons := out.Consumers()
		if cs := cons[n.Name]; len(cs) == 1 && out.Nodes[cs[0]].Op == graph.BatchNorm {
			continue
		}
		if _, _, ok := foldTarget(out, cons, n.Name); ok {
			continue
		}
		name := n.Name + ".bn"
		for i := 2; out.Node(name) != nil; i++ {
			name = fmt.Sprintf("%s.bn%d", n.Name, i)
		}
		var err error
		if out, err = out.InsertAfter(n.Name, graph.Node{Name: name, Op: graph.BatchNorm, Out: n.Out, Eps: RestoredNormEps}); err != nil {
			return nil, nil, err
		}
		names = append(names, name)
	}
	return out, names, nil
}

// restoreNorms initialises the batch norms InitOptions.RestoredNorms names
// in m so that each gives its channels the mean and spread the float model
// fm has there, on the examples x: running statistics of the quantized
// model's values (gathered norm by norm, in graph order, each with the
// ones before it set), scale √(σ²_float + ε) and shift μ_float.
func restoreNorms(m, fm *Model, names []string, x *tensor.Tensor, threads int) error {
	fbs, qbs := make([]*nn.BatchNorm, len(names)), make([]*nn.BatchNorm, len(names))
	for i, name := range names {
		fbs[i], qbs[i] = fm.batchNorm(name), m.batchNorm(name)
		if fbs[i] == nil || qbs[i] == nil {
			return fmt.Errorf("no batch norm %s to initialise", name)
		}
	}
	// The float model's statistics do not depend on the norms: one pass.
	fmom, err := observedMoments(fm, fbs, x, threads)
	if err != nil {
		return err
	}
	for i, qb := range qbs {
		qmom, err := observedMoments(m, qbs[i:i+1], x, threads)
		if err != nil {
			return err
		}
		f, q := fmom[i], qmom[0]
		for c := range f.mu {
			qb.RunMean.Value.Data[c] = float32(q.mu[c])
			qb.RunVar.Value.Data[c] = float32(q.vr[c])
			qb.Gamma.Value.Data[c] = float32(math.Sqrt(f.vr[c] + float64(qb.Eps)))
			qb.Beta.Value.Data[c] = float32(f.mu[c])
		}
	}
	return nil
}

// batchNorms returns the model's batch norms in network order.
func (m *Model) batchNorms() []*nn.BatchNorm {
	var bns []*nn.BatchNorm
	visit := func(mod any) {
		if b, ok := mod.(*nn.BatchNorm); ok {
			bns = append(bns, b)
		}
	}
	for _, mod := range m.Net {
		if d, ok := mod.(*nn.DAG); ok {
			for _, s := range d.Steps {
				visit(s.Op)
			}
			continue
		}
		visit(mod)
	}
	return bns
}

// batchNorm returns the model's batch norm named name, or nil.
func (m *Model) batchNorm(name string) *nn.BatchNorm {
	for _, b := range m.batchNorms() {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// moments are per-channel means and variances.
type moments struct{ mu, vr []float64 }

// observedMoments returns, for each of bns, the moments of its input over
// one evaluation-mode pass of m on x.
func observedMoments(m *Model, bns []*nn.BatchNorm, x *tensor.Tensor, threads int) ([]moments, error) {
	sums := make([]moments, len(bns)) // Σ v and Σ v² until the end
	rows := make([]int, len(bns))
	for i, b := range bns {
		c := b.Gamma.Value.Len()
		sum, sq := make([]float64, c), make([]float64, c)
		sums[i] = moments{sum, sq}
		b.Observe = func(t *tensor.Tensor) {
			for j, v := range t.Data {
				sum[j%c] += float64(v)
				sq[j%c] += float64(v) * float64(v)
			}
			rows[i] += t.Len() / c
		}
	}
	defer func() {
		for _, b := range bns {
			b.Observe = nil
		}
	}()
	if err := keepActState(m, func() error { return forEachChunk(m, x, threads, nil) }); err != nil {
		return nil, err
	}
	for i, s := range sums {
		if rows[i] == 0 {
			return nil, fmt.Errorf("batch norm %s saw no values", bns[i].Name)
		}
		n := float64(rows[i])
		for c := range s.mu {
			s.mu[c] /= n
			s.vr[c] = max(s.vr[c]/n-s.mu[c]*s.mu[c], 0)
		}
	}
	return sums, nil
}

// keepActState runs fn and then restores every activation quantizer's
// scale and calibration flag, so that training still calibrates them on
// its first batch.
func keepActState(m *Model, fn func() error) error {
	type saved struct{ scale, calibrated float32 }
	var acts []saved
	for _, l := range m.Layers {
		if l.In != nil {
			acts = append(acts, saved{l.In.Log2Scale.Value.Data[0], l.In.Calibrated.Value.Data[0]})
		}
	}
	defer func() {
		i := 0
		for _, l := range m.Layers {
			if l.In != nil {
				l.In.Log2Scale.Value.Data[0], l.In.Calibrated.Value.Data[0] = acts[i].scale, acts[i].calibrated
				i++
			}
		}
	}()
	return fn()
}

// forEachChunk runs m in evaluation mode on x, 256 examples at a time,
// passing each chunk's output to fn.
func forEachChunk(m *Model, x *tensor.Tensor, threads int, fn func(out *tensor.Tensor)) error {
	if len(x.Shape) != 4 || x.Shape[0] == 0 {
		return fmt.Errorf("want a non-empty N×H×W×C batch of inputs, got shape %v", x.Shape)
	}
	tp := autodiff.NewTape(max(threads, 1))
	n := x.Shape[0]
	per := x.Len() / n
	for lo := 0; lo < n; lo += 256 {
		hi := min(n, lo+256)
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		out := m.Forward(tp, tp.Constant(tensor.FromData(x.Data[lo*per:hi*per], shape...)), false)
		if fn != nil {
			fn(out.Value)
		}
		tp.Reset()
	}
	return nil
}

// outputs returns m's outputs on x, concatenated.
func outputs(m *Model, x *tensor.Tensor, threads int) ([]float32, error) {
	var out []float32
	err := keepActState(m, func() error {
		return forEachChunk(m, x, threads, func(o *tensor.Tensor) { out = append(out, o.Data...) })
	})
	return out, err
}

// distance returns the mean squared difference between m's outputs on x
// and want.
func distance(m *Model, x *tensor.Tensor, want []float32, threads int) (float64, error) {
	got, err := outputs(m, x, threads)
	if err != nil {
		return 0, err
	}
	if len(got) != len(want) {
		return 0, fmt.Errorf("model outputs %d values on the centring examples, the float model %d", len(got), len(want))
	}
	var d float64
	for i, v := range got {
		e := float64(v - want[i])
		d += e * e
	}
	return d / float64(len(got)), nil
}

// inputMoments gathers the moments of l's inputs over x (forward passes of
// m in evaluation mode), for quant.Layer.CentreOnInputs.
func inputMoments(m *Model, l *quant.Layer, x *tensor.Tensor, threads int) (*quant.InputMoments, error) {
	mo := l.NewInputMoments()
	l.Observe = mo.Add
	defer func() { l.Observe = nil }()
	if err := keepActState(m, func() error { return forEachChunk(m, x, threads, nil) }); err != nil {
		return nil, fmt.Errorf("layer %s: data-aware centring: %w", l.Name, err)
	}
	return mo, nil
}

// NormAfter returns the batch norm that is the only reader of layer l's
// output, or nil if there is none (no graph, several readers, or another
// operation first).
func (m *Model) NormAfter(l *quant.Layer) *nn.BatchNorm {
	if m.graph == nil {
		return nil
	}
	cs := m.graph.Consumers()[l.Name]
	if len(cs) != 1 || l.Name == m.graph.Output {
		return nil
	}
	n := m.graph.Nodes[cs[0]]
	if n.Op != graph.BatchNorm {
		return nil
	}
	return m.batchNorm(n.Name)
}
