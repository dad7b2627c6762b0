package intinfer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Folding the float operations between two quantized layers into the
// thresholds of the first one.
//
// Between layer i and layer i+1 the fake-quantized model computes, per
// output channel c of layer i, a chain of float32 operations on the
// layer's output thresh.Requant(acc, s_c, b_c): batch norms (evaluation
// mode), ReLUs and clips in model order, then the next layer's
// thresh.Quantize; max pools, flattens and pixel shuffles only move or
// select values. Each of those float operations is monotone, so the
// whole per-channel map is monotone: non-decreasing, or non-increasing
// where an odd number of batch norms have a negative scale in that
// channel (constant where one has a zero scale). A non-decreasing map is
// exactly its thresholds. A non-increasing one becomes non-decreasing in
// −acc, so FromModel negates that channel's integer weights (acc becomes
// −acc; A2Q's ℓ1 bound is the same for −q, and FromModel refuses the
// corner case where the exact bound would grow past the layer's P) and
// thresholds acc ↦ f_c(−acc).
//
// A max pool commutes with a monotone map: the maximum of f(acc) over a
// window is f(max acc) for a non-decreasing f, f(min acc) = f(−max(−acc))
// for a non-increasing one. The engine pools the (possibly negated)
// accumulators; that is right when every pool of the segment sees the same
// direction as the whole map (pools between two sign changes do not), and
// FromModel refuses the other cases.

// normOf returns the float32 operands of b in evaluation mode: its running
// mean, invStd = float32(1/√(float64(σ²) + float64(ε))) as autodiff
// computes it, γ and β.
func normOf(b *nn.BatchNorm) (*Norm, error) {
	c := b.Gamma.Value.Len()
	if b.Beta.Value.Len() != c || b.RunMean.Value.Len() != c || b.RunVar.Value.Len() != c || c < 1 {
		return nil, fmt.Errorf("batch norm %s: %d scales, %d shifts, %d means, %d variances", b.Name, c, b.Beta.Value.Len(), b.RunMean.Value.Len(), b.RunVar.Value.Len())
	}
	nm := &Norm{Name: b.Name, Mean: slices.Clone(b.RunMean.Value.Data), InvStd: make([]float32, c),
		Gamma: slices.Clone(b.Gamma.Value.Data), Beta: slices.Clone(b.Beta.Value.Data)}
	for i, v := range b.RunVar.Value.Data {
		nm.InvStd[i] = float32(1 / math.Sqrt(float64(v)+float64(b.Eps)))
		if inv := float64(nm.InvStd[i]); !(inv > 0) || math.IsInf(inv, 0) {
			return nil, fmt.Errorf("batch norm %s: channel %d: running variance %v and ε %v give 1/√(σ²+ε) = %v", b.Name, i, v, b.Eps, inv)
		}
	}
	if err := nm.validate(); err != nil {
		return nil, fmt.Errorf("batch norm %s: %v", b.Name, err)
	}
	return nm, nil
}

// checkNorm compares batchNorm with the module's own evaluation-mode
// forward pass on values spread over every channel's range (around the
// mean, both signs, small and large magnitudes): the engine applies nm in
// float after the last layer, where no threshold certificate covers it.
func checkNorm(b *nn.BatchNorm, nm *Norm) error {
	c := len(nm.Mean)
	const rows = 64
	rng := rand.New(rand.NewPCG(uint64(c), 0xb4))
	x := make([]float32, rows*c)
	for r := 0; r < rows; r++ {
		for i := 0; i < c; i++ {
			sd := 1 / float64(nm.InvStd[i])
			var v float64
			switch r % 4 {
			case 0:
				v = float64(nm.Mean[i]) + sd*float64(r/4-8)/2
			case 1:
				v = float64(nm.Mean[i]) + sd*rng.NormFloat64()*3
			case 2:
				v = rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20))
			default:
				v = float64(r/4 - 8)
			}
			x[r*c+i] = float32(v)
		}
	}
	tp := autodiff.NewTape(1)
	want := b.Forward(tp, tp.Constant(tensor.FromData(slices.Clone(x), rows, c)), false).Value.Data
	got := batchNorm(x, nm)
	for j, v := range got {
		if math.Float32bits(v) != math.Float32bits(want[j]) {
			return fmt.Errorf("batch norm %s: channel %d of %v gives %v, the model's batch norm %v: the integer model would not match it",
				b.Name, j%c, x[j], v, want[j])
		}
	}
	return nil
}

// floatOp converts a module that runs on float activations (before the
// first layer or after the last).
func floatOp(model string, i int, mod nn.Module) (Op, error) {
	switch v := mod.(type) {
	case nn.ReLU:
		return Op{Kind: OpReLU}, nil
	case nn.MaxPool:
		return Op{Kind: OpMaxPool, K: v.K, Stride: v.Stride}, nil
	case nn.Flatten:
		return Op{Kind: OpFlatten}, nil
	case nn.PixelShuffle:
		return Op{Kind: OpPixelShuffle, R: v.R}, nil
	case nn.Clip:
		if err := checkClip(v); err != nil {
			return Op{}, fmt.Errorf("module %d of model %s: %w", i, model, err)
		}
		return Op{Kind: OpClip, Lo: v.Lo, Hi: v.Hi}, nil
	case *nn.BatchNorm:
		nm, err := normOf(v)
		if err == nil {
			err = checkNorm(v, nm)
		}
		if err != nil {
			return Op{}, fmt.Errorf("model %s: %w", model, err)
		}
		return Op{Kind: OpBatchNorm, Norm: nm}, nil
	}
	return Op{}, fmt.Errorf("module %d (%T) of model %s has no integer implementation", i, mod, model)
}

func checkClip(v nn.Clip) error { return checkBounds(v.Lo, v.Hi) }

// segment is what lies between two quantized layers of a chain model.
type segment struct {
	model      string
	l, next    *Layer
	nextQuant  *quant.ActQuant
	net        nn.Sequential
	from, to   int     // the modules net[from:to]
	shapes     [][]int // input shape of every module of net
	steps      []step
	mods       []nn.Module // the elementwise modules, in order
	negate     []bool      // per channel: the map is non-increasing
	ops        []Op
	thresholds []int64
}

// foldSegment converts the modules between layer l and the next one: the
// structural ops (max pools, flattens, pixel shuffles) stay ops, the float
// ones (batch norms, ReLUs, clips) fold into l's thresholds. A ReLU op is
// kept where the folded map ends in a ReLU or a non-negative clip (it is
// then a no-op on the levels, and tells the engine's fast paths that the
// levels are non-negative). Channels whose map is non-increasing get their
// weights negated.
func (sg *segment) fold() error {
	l := sg.l
	cout := l.OutC
	dir := make([]int8, cout) // +1 non-decreasing, −1 non-increasing, 0 constant
	for c := range dir {
		dir[c] = 1
	}
	flipBy := make([]string, cout)
	type poolAt struct {
		i   int
		dir []int8
	}
	var pools []poolAt
	chanOK := true // the activation's last dimension is still l's channels
	hintAt, hint := -1, false
	for i := sg.from; i < sg.to; i++ {
		mod := sg.net[i]
		shape := sg.shapes[i]
		switch v := mod.(type) {
		case nn.ReLU:
			sg.steps = append(sg.steps, step{lo: 0, hi: float32(math.Inf(1))})
			sg.mods = append(sg.mods, mod)
			hintAt, hint = len(sg.ops), true
		case nn.Clip:
			if err := checkClip(v); err != nil {
				return fmt.Errorf("module %d of model %s: %w", i, sg.model, err)
			}
			sg.steps = append(sg.steps, step{lo: v.Lo, hi: v.Hi})
			sg.mods = append(sg.mods, mod)
			hintAt, hint = len(sg.ops), v.Lo >= 0
		case *nn.BatchNorm:
			if !chanOK {
				return fmt.Errorf("model %s: batch norm %s follows a flatten or pixel shuffle of layer %s's output: integer inference folds a batch norm only per channel of the layer before it",
					sg.model, v.Name, l.Name)
			}
			nm, err := normOf(v)
			if err != nil {
				return fmt.Errorf("model %s: %w", sg.model, err)
			}
			if len(nm.Mean) != cout {
				return fmt.Errorf("model %s: batch norm %s has %d channels, layer %s %d", sg.model, v.Name, len(nm.Mean), l.Name, cout)
			}
			for c, g := range nm.Gamma {
				switch {
				case g == 0:
					dir[c] = 0
				case g < 0:
					dir[c] = -dir[c]
					flipBy[c] = v.Name
				}
			}
			sg.steps = append(sg.steps, step{norm: nm})
			sg.mods = append(sg.mods, mod)
			hintAt, hint = len(sg.ops), false
		case nn.MaxPool:
			pools = append(pools, poolAt{i, slices.Clone(dir)})
			sg.ops = append(sg.ops, Op{Kind: OpMaxPool, K: v.K, Stride: v.Stride})
		case nn.Flatten:
			chanOK = chanOK && len(shape) > 0 && prod(shape) == cout
			sg.ops = append(sg.ops, Op{Kind: OpFlatten})
		case nn.PixelShuffle:
			chanOK = chanOK && v.R == 1
			sg.ops = append(sg.ops, Op{Kind: OpPixelShuffle, R: v.R})
		default:
			return fmt.Errorf("module %d (%T) of model %s has no integer implementation", i, mod, sg.model)
		}
	}
	for _, p := range pools {
		for c, d := range dir {
			if d != 0 && p.dir[c] != d {
				return fmt.Errorf("model %s: max pool (module %d) between layers %s and %s comes before batch norm %s, whose negative scale reverses the direction of channel %d's map: max pooling does not commute with it, and integer inference pools the accumulators",
					sg.model, p.i, l.Name, sg.next.Name, flipBy[c], c)
			}
		}
	}
	if hint {
		sg.ops = slices.Insert(sg.ops, hintAt, Op{Kind: OpReLU})
	}
	sg.negate = make([]bool, cout)
	neg := false
	for c, d := range dir {
		sg.negate[c] = d < 0
		neg = neg || d < 0
	}
	if neg {
		before := l.certBits()
		for c, ng := range sg.negate {
			if ng {
				for i, q := range l.Weights[c*l.K : (c+1)*l.K] {
					l.Weights[c*l.K+i] = -q
				}
			}
		}
		after := l.certBits()
		if after > before && after > l.AccBits {
			return fmt.Errorf("model %s: layer %s: negating the weights of the channels a negative batch-norm scale makes decreasing widens the exact accumulator bound (of its tiles, for a tiled layer) from %d to %d bits, past the layer's P = %d",
				sg.model, l.Name, before, after, l.AccBits)
		}
	}
	return sg.thresholdsAndCheck()
}

// thresholdsAndCheck computes l's thresholds from the folded chain, then
// certifies them against the model's own modules.
func (sg *segment) thresholdsAndCheck() error {
	l, next := sg.l, sg.next
	l.OutBits, l.OutSigned = next.InputBits, next.InputSigned
	lo, hi := levels(next.InputBits, next.InputSigned)
	n := int(hi - lo)
	s, flo, fhi := next.InputScale, float32(lo), float32(hi)
	l.Thresholds = make([]int64, l.OutC*n)
	for c := 0; c < l.OutC; c++ {
		sign := int64(1)
		if sg.negate[c] {
			sign = -1
		}
		scale, bias := l.Scale[c], l.Bias[c]
		f := func(acc int64) int32 {
			y := thresh.Requant(float32(sign*acc), scale, bias)
			for i := range sg.steps {
				y = sg.steps[i].apply(c, y)
			}
			return int32(thresh.Quantize(y, s, flo, fhi))
		}
		thresh.Search(f, lo, hi, l.Thresholds[c*n:(c+1)*n])
	}
	return sg.certify()
}

// certify runs the model's own float modules between the layers (and the
// next layer's input quantizer) on the accumulators where the thresholds
// could be wrong: both ends of the search range and both sides of every
// threshold inside it. The model's map is monotone in the (possibly
// negated) accumulator and the threshold map is a step function, so
// agreeing at those points proves them equal on the whole range, provided
// no intermediate value is NaN. Without a batch norm none can be (Requant,
// clips and Quantize turn no finite or infinite value into NaN). With one,
// an infinite input and a zero scale would give NaN, so every intermediate
// value at the two ends must be finite: every operation being monotone,
// each intermediate lies between its values at the ends, and finite values
// stay finite through operations whose operands are finite.
func (sg *segment) certify() error {
	l := sg.l
	cout := l.OutC
	lo, hi := levels(sg.next.InputBits, sg.next.InputSigned)
	n := int(hi - lo)
	pts := make([][]int64, cout)
	rows := 0
	for c := range pts {
		p := []int64{threshLo, threshHi}
		for _, t := range l.Thresholds[c*n : (c+1)*n] {
			if t <= threshLo || t > threshHi {
				continue
			}
			for _, a := range []int64{t - 1, t} {
				if a != p[len(p)-1] {
					p = append(p, a)
				}
			}
		}
		pts[c] = p
		rows = max(rows, len(p))
	}
	level := func(c int, a int64) int32 {
		k := int32(0)
		for _, t := range l.Thresholds[c*n : (c+1)*n] {
			if a >= t {
				k++
			}
		}
		return lo + k
	}
	hasNorm := false
	for _, st := range sg.steps {
		hasNorm = hasNorm || st.norm != nil
	}
	block := max(2, (1<<16)/cout)
	tp := autodiff.NewTape(1)
	for r0 := 0; r0 < rows; r0 += block {
		nr := min(block, rows-r0)
		y := make([]float32, nr*cout)
		acc := make([]int64, nr*cout)
		for r := 0; r < nr; r++ {
			for c := 0; c < cout; c++ {
				p := pts[c]
				a := p[min(r0+r, len(p)-1)]
				acc[r*cout+c] = a
				if sg.negate[c] {
					a = -a
				}
				y[r*cout+c] = thresh.Requant(float32(a), l.Scale[c], l.Bias[c])
			}
		}
		v := tp.Constant(tensor.FromData(y, nr, cout))
		vals := [][]float32{y}
		for _, mod := range sg.mods {
			v = mod.Forward(tp, v, false)
			vals = append(vals, v.Value.Data)
		}
		q := sg.nextQuant.Apply(tp, v, false).Value.Data
		if r0 == 0 && hasNorm {
			for k, vs := range vals {
				for j, x := range vs[:2*cout] {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						what := fmt.Sprintf("output of %T", sg.mods[max(k-1, 0)])
						if k == 0 {
							what = "requantised output"
						}
						return fmt.Errorf("model %s: layer %s, channel %d: the %s is %v at accumulator %d: the float map between layers %s and %s is not finite over the accumulator range",
							sg.model, l.Name, j%cout, what, x, acc[j], l.Name, sg.next.Name)
					}
				}
			}
		}
		for j, x := range q {
			c := j % cout
			if want := level(c, acc[j]); x != float32(want) {
				return fmt.Errorf("model %s: layer %s, channel %d: at accumulator %d the thresholds give level %d, the model's float operations %v: integer inference would not be bit-exact",
					sg.model, l.Name, c, acc[j], want, x)
			}
		}
		tp.Reset()
	}
	return nil
}

// moduleShapes returns the input shape of every module of net for an
// input of shape in, as far as the modules integer inference knows
// change it (the others keep it; Validate checks the result).
func moduleShapes(net nn.Sequential, in []int) [][]int {
	shapes := make([][]int, len(net)+1)
	s := in
	for i, mod := range net {
		shapes[i] = s
		switch v := mod.(type) {
		case *quant.Layer:
			if v.Kind == "linear" {
				s = []int{v.OutC}
			} else if len(s) == 3 {
				st, p := max(v.Options.Stride, 1), v.Options.Pad
				s = []int{(s[0]+2*p-v.Kernel)/st + 1, (s[1]+2*p-v.Kernel)/st + 1, v.OutC}
			}
		case nn.MaxPool:
			st := v.Stride
			if st == 0 {
				st = v.K
			}
			if len(s) == 3 && v.K >= 1 && st >= 1 {
				s = []int{(s[0]-v.K)/st + 1, (s[1]-v.K)/st + 1, s[2]}
			}
		case nn.Flatten:
			s = []int{prod(s)}
		case nn.PixelShuffle:
			if len(s) == 3 && v.R >= 1 {
				s = []int{s[0] * v.R, s[1] * v.R, s[2] / (v.R * v.R)}
			}
		}
	}
	shapes[len(net)] = s
	return shapes
}
