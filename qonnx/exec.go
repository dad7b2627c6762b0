package qonnx

import (
	"context"
	"fmt"
	"maps"
	"math"

	"github.com/a2qtoolkit/a2q/accum"
)

// opsetVersion returns the version of the default ONNX domain the model
// imports (11 if it declares none).
func (m *Model) opsetVersion() int64 {
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 11
}

// evalNode runs one node in float (fake-quant) arithmetic; no output may
// have more than limit elements (0: MaxElements).
func evalNode(m *Model, n *Node, in []*Tensor, limit int) ([]*Tensor, error) {
	var f opFunc
	switch {
	case IsQuant(n):
		f = opQuant
	case n.Domain == "" || n.Domain == "ai.onnx":
		f = ops[n.OpType]
	}
	if f == nil {
		return nil, fmt.Errorf("node %s: unsupported op %s (domain %q)", n.Name, n.OpType, n.Domain)
	}
	outs, err := f(n, in, env{opset: m.opsetVersion(), limit: limit})
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.OpType, err)
	}
	if len(outs) == 0 || outs[0] == nil {
		return nil, fmt.Errorf("node %s (%s): no output", n.Name, n.OpType)
	}
	return outs, nil
}

// RunOptions configure Run.
type RunOptions struct {
	// Integer runs every certifiable layer (see Model.Layers) in integer
	// arithmetic: the input is divided by its Quant scale (and checked to be
	// integral), multiplied by the integer weights with int64 accumulation,
	// then dequantised (acc·s_w·s_x + bias). Other nodes run in float.
	Integer bool
	// AccBits is the accumulator width P whose range the integer layers
	// count excursions of (0 means 32). It does not change the result: the
	// accumulation is exact.
	AccBits int
	// LayerAccBits gives some layers (by node name) a width of their own,
	// overriding AccBits.
	LayerAccBits map[string]int
	// LayerTiles runs some layers (by node name) in two stages: tiles of
	// that many consecutive terms (in Layer.TileOrder) summed in the P-bit
	// accumulator, the tile sums in an outer one of accum.OuterBits(P, K,
	// tile) bits, whose partial sums count as overflows when they leave its
	// range. A tile of K or more terms is one stage. The result is the
	// same exact sum.
	LayerTiles map[string]int
	// LayerInputs, when set, feeds every integer layer its data input from
	// this map (by value name, e.g. Result.Values of a float run) instead of
	// the run's own value: each layer's arithmetic is then compared on the
	// same inputs as the reference, isolated from differences upstream.
	LayerInputs map[string]*Tensor
	// QuantOutputs, when set, passes on the value this map holds for a
	// Quant node's output (by value name) to the nodes that read it,
	// instead of the node's own; Result.Values still holds the node's own.
	// With LayerInputs it isolates every quantized value from differences
	// upstream, also along paths without a layer (a residual shortcut).
	QuantOutputs map[string]*Tensor
	// Keep keeps every intermediate value in Result.Values.
	Keep bool
	// MaxElements caps the number of elements of any value a node
	// produces (0: the package's MaxElements), a guard for untrusted models.
	MaxElements int
}

// Result is the outcome of Run.
type Result struct {
	// Outputs holds the graph outputs by name.
	Outputs map[string]*Tensor
	// Values holds every value computed (only with RunOptions.Keep).
	Values map[string]*Tensor
	// Layers holds the statistics of the layers run as integers, in
	// execution order (only with RunOptions.Integer).
	Layers []LayerStats
}

// LayerStats describes one integer execution of a layer.
type LayerStats struct {
	Name string
	// AccBits is the width P the counts refer to.
	AccBits int
	// Tile is the layer's tile (0: one stage) and AccBitsOuter its outer
	// accumulator's width (0 for one stage).
	Tile, AccBitsOuter int
	// Overflows counts the partial sums (after each term with a non-zero
	// weight, summing in weight order Cin, kh, kw; in tiles, in TileOrder)
	// outside [-2^(P-1), 2^(P-1)-1], and in tiles the partial sums of tile
	// sums outside the outer accumulator's range; OverflowedOutputs counts
	// the outputs with at least one such partial sum.
	Overflows         int64
	OverflowedOutputs int64
	// Outputs is the number of dot products computed.
	Outputs int64
	// AccMin and AccMax are the extreme partial sums seen (in tiles, of
	// the tile sums in the P-bit accumulator).
	AccMin, AccMax int64
}

// Run executes the model on the given inputs (by graph input name) and
// returns its outputs. Quant nodes apply their rounding (fake-quant
// execution); see RunOptions for the integer path. Declared input ranks are
// checked; spatial sizes are not, so fully convolutional models accept other
// image sizes. A model whose structure is impossible (Validate) is an
// error. Cancelling ctx stops the run between nodes.
func (m *Model) Run(ctx context.Context, inputs map[string]*Tensor, opt RunOptions) (*Result, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	g := m.Graph
	vals := make(map[string]*Tensor, len(g.Initializers)+len(g.Nodes))
	for k, v := range g.Initializers {
		vals[k] = v
	}
	for _, in := range g.Inputs {
		t, ok := inputs[in.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("qonnx: %s: graph input %q not supplied", m.name(), in.Name)
		}
		if in.Shape != nil && len(in.Shape) != len(t.Shape) {
			return nil, fmt.Errorf("qonnx: %s: graph input %q has shape %v, model declares rank %d %v", m.name(), in.Name, t.Shape, len(in.Shape), in.Shape)
		}
		if n, err := numElements(t.Shape); err != nil || n != t.Len() {
			return nil, fmt.Errorf("qonnx: %s: graph input %q: data length %d does not match shape %v", m.name(), in.Name, t.Len(), t.Shape)
		}
		vals[in.Name] = t
	}
	var intLayers map[*Node]*Layer
	if opt.Integer {
		layers, err := m.Layers()
		if err != nil {
			return nil, err
		}
		intLayers = make(map[*Node]*Layer)
		for i := range layers {
			if layers[i].Certifiable() {
				intLayers[layers[i].Node] = &layers[i]
			}
		}
	}
	accBits := opt.AccBits
	if accBits == 0 {
		accBits = 32
	}
	if err := accum.CheckAccBits(accBits); err != nil {
		return nil, fmt.Errorf("qonnx: %w", err)
	}
	for name, p := range opt.LayerAccBits {
		if err := accum.CheckAccBits(p); err != nil {
			return nil, fmt.Errorf("qonnx: layer %s: %w", name, err)
		}
	}
	for name, t := range opt.LayerTiles {
		if t < 0 {
			return nil, fmt.Errorf("qonnx: layer %s: tile of %d terms: want a positive tile size (0: one stage)", name, t)
		}
	}
	// Free values after their last use unless the caller keeps them.
	uses := make(map[string]int)
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	for _, o := range g.Outputs {
		uses[o.Name]++
	}
	res := &Result{Outputs: make(map[string]*Tensor)}
	own := make(map[string]*Tensor) // Quant outputs replaced by QuantOutputs
	for _, n := range g.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in := make([]*Tensor, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			in[i] = vals[name]
		}
		var outs []*Tensor
		var err error
		if l := intLayers[n]; l != nil {
			var st LayerStats
			p := accBits
			if lp, ok := opt.LayerAccBits[l.Name]; ok {
				p = lp
			}
			if x, ok := opt.LayerInputs[n.Inputs[0]]; ok && x != nil {
				in[0] = x
			}
			outs, st, err = runIntegerLayer(l, in, p, accum.EffectiveTile(opt.LayerTiles[l.Name], l.K), opt.MaxElements)
			if err != nil {
				return nil, fmt.Errorf("qonnx: %s: integer layer %s: %w", m.name(), n.Name, err)
			}
			res.Layers = append(res.Layers, st)
		} else if outs, err = evalNode(m, n, in, opt.MaxElements); err != nil {
			return nil, fmt.Errorf("qonnx: %s: %w", m.name(), err)
		}
		for i, o := range n.Outputs {
			if o != "" && i < len(outs) {
				vals[o] = outs[i]
				if ref, ok := opt.QuantOutputs[o]; ok && ref != nil && IsQuant(n) {
					own[o] = outs[i]
					vals[o] = ref
				}
			}
		}
		if !opt.Keep {
			for _, name := range n.Inputs {
				if uses[name]--; uses[name] == 0 {
					if _, init := g.Initializers[name]; !init {
						delete(vals, name)
					}
				}
			}
		}
	}
	for _, o := range g.Outputs {
		t, ok := vals[o.Name]
		if !ok {
			return nil, fmt.Errorf("qonnx: %s: graph output %q was not computed", m.name(), o.Name)
		}
		res.Outputs[o.Name] = t
	}
	if opt.Keep {
		res.Values = vals
		maps.Copy(res.Values, own)
	}
	return res, nil
}

// toIntegers divides x by scale and returns the integers, failing when a
// value is not within 1e-3 of an integer (the input is then not on the grid
// of the Quant node the layer was traced to).
func toIntegers(x *Tensor, scale float64) ([]int64, error) {
	xf := x.Floats()
	q := make([]int64, len(xf))
	for i, v := range xf {
		r := float64(v) / scale
		rr := math.RoundToEven(r)
		if math.IsNaN(r) || math.Abs(r-rr) > 1e-3 || math.Abs(rr) > 1<<52 {
			return nil, fmt.Errorf("input element %d is %v = %.6f·scale, not an integer multiple of the input scale %v", i, v, r, scale)
		}
		q[i] = int64(rr)
	}
	return q, nil
}

// maxExactAccBits is the widest exact accumulator range (accum.ExactBits)
// the integer interpreter runs: it adds the products in int64.
const maxExactAccBits = 64

// accCounter tracks partial sums against a P-bit range.
type accCounter struct {
	lo, hi         int64
	overflows      int64
	accMin, accMax int64
}

func newAccCounter(p int) accCounter {
	lo := int64(math.MinInt64)
	hi := int64(math.MaxInt64)
	if p < 64 {
		lo, hi = -(int64(1) << (p - 1)), int64(1)<<(p-1)-1
	}
	return accCounter{lo: lo, hi: hi, accMin: math.MaxInt64, accMax: math.MinInt64}
}

// runIntegerLayer computes a certifiable layer in integer arithmetic, in
// tiles of tile terms (0 < tile < K) or in one stage (tile 0).
func runIntegerLayer(l *Layer, in []*Tensor, accBits, tile, limit int) ([]*Tensor, LayerStats, error) {
	lim := env{limit: limit}
	st := LayerStats{Name: l.Name, AccBits: accBits}
	var outer accCounter // the outer accumulator's range, when tiled
	if tile > 0 {
		st.Tile, st.AccBitsOuter = tile, accum.OuterBits(accBits, l.K, tile)
		outer = newAccCounter(min(st.AccBitsOuter, 64))
	}
	if err := need(in, 2); err != nil {
		return nil, st, err
	}
	// Exact int64 accumulation needs every partial sum, so the layer's
	// exact range, to fit 64 bits; P itself may be any valid width.
	if exact := accum.ExactBits(l.Weights, l.OutChannels, l.K, l.InputBits, l.InputSigned); exact > maxExactAccBits {
		return nil, st, fmt.Errorf("its exact accumulator range needs %d bits, more than the interpreter's %d-bit accumulation holds", exact, maxExactAccBits)
	}
	x := in[0]
	xi, err := toIntegers(x, l.InputScale)
	if err != nil {
		return nil, st, err
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		if l.Node.OpType == "Gemm" {
			b, err := broadcastTo(in[2], []int{1, l.OutChannels})
			if err != nil || in[2].Len() != l.OutChannels {
				return nil, st, fmt.Errorf("Gemm C %v is not one value per output channel", in[2].Shape)
			}
			bias = b
		} else {
			if in[2].Len() != l.OutChannels {
				return nil, st, fmt.Errorf("bias has %d values for %d output channels", in[2].Len(), l.OutChannels)
			}
			bias = in[2].Floats()
		}
	}
	var acc []int64
	var shape []int
	var plane int // number of outputs per channel in a contiguous block
	ac := newAccCounter(accBits)
	var flagged []bool
	switch l.Node.OpType {
	case "Conv":
		if in[1].Len() != l.OutChannels*l.K {
			return nil, st, fmt.Errorf("weight has shape %v, layer expects %d×%d", in[1].Shape, l.OutChannels, l.K)
		}
		g, err := convGeometry(l.Node, x, in[1])
		if err != nil {
			return nil, st, err
		}
		if _, err := lim.size([]int{g.n, g.m, g.oh, g.ow}); err != nil {
			return nil, st, err
		}
		if tile > 0 {
			acc, flagged = intConvTiled(g, xi, l.Weights, tile, &ac, outer)
		} else {
			acc, flagged = intConv(g, xi, l.Weights, &ac)
		}
		shape = []int{g.n, g.m, g.oh, g.ow}
		plane = g.oh * g.ow
	default: // MatMul, Gemm: [rows, K] × weightsᵀ
		if len(x.Shape) < 1 || x.Shape[len(x.Shape)-1] != l.K {
			return nil, st, fmt.Errorf("input shape %v does not end in K=%d", x.Shape, l.K)
		}
		if l.Node.OpType == "Gemm" {
			alpha, _ := l.Node.AttrFloat("alpha", 1)
			beta, _ := l.Node.AttrFloat("beta", 1)
			if alpha != 1 || (bias != nil && beta != 1) || len(x.Shape) != 2 {
				return nil, st, fmt.Errorf("only Gemm with alpha = beta = 1 and a 2-D input runs as integers")
			}
		}
		rows := len(xi) / l.K
		if _, err := lim.size([]int{rows, l.OutChannels}); err != nil {
			return nil, st, err
		}
		if tile > 0 {
			acc, flagged = intMatMulTiled(xi, l.Weights, rows, l.K, l.OutChannels, tile, &ac, outer)
		} else {
			// One tile of K terms; the outer sum is the inner one, counted there.
			acc, flagged = intMatMulTiled(xi, l.Weights, rows, l.K, l.OutChannels, l.K, &ac, accCounter{lo: math.MinInt64, hi: math.MaxInt64})
		}
		shape = append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), l.OutChannels)
		plane = 1
	}
	out := make([]float32, len(acc))
	for i, a := range acc {
		c := (i / plane) % l.OutChannels
		v := float32(float64(a) * l.WeightScale[c] * l.InputScale)
		if bias != nil {
			v += bias[c]
		}
		out[i] = v
	}
	st.Overflows = ac.overflows
	st.Outputs = int64(len(acc))
	for _, f := range flagged {
		if f {
			st.OverflowedOutputs++
		}
	}
	st.AccMin, st.AccMax = ac.accMin, ac.accMax
	if len(acc) == 0 {
		st.AccMin, st.AccMax = 0, 0
	}
	return []*Tensor{NewFloat(out, shape...)}, st, nil
}

// intConv is the integer twin of opConv: int64 accumulation, summing each
// output's terms in weight order (Cin/groups, kh, kw) and counting partial
// sums outside [ac.lo, ac.hi]. Zero weights and padding add nothing.
func intConv(g conv2d, x []int64, w []int32, ac *accCounter) ([]int64, []bool) {
	plane := g.oh * g.ow
	acc := make([]int64, g.n*g.m*plane)
	flag := make([]bool, len(acc))
	mg := g.m / g.group
	for b := 0; b < g.n; b++ {
		for oc := 0; oc < g.m; oc++ {
			o := acc[(b*g.m+oc)*plane : (b*g.m+oc+1)*plane]
			fl := flag[(b*g.m+oc)*plane : (b*g.m+oc+1)*plane]
			grp := oc / mg
			for ic := 0; ic < g.cg; ic++ {
				xc := x[(b*g.c+grp*g.cg+ic)*g.h*g.w:]
				for ky := 0; ky < g.kh; ky++ {
					y0, y1 := span(g.h, g.oh, g.sh, g.pt, ky, g.dh)
					for kx := 0; kx < g.kw; kx++ {
						wv := int64(w[((oc*g.cg+ic)*g.kh+ky)*g.kw+kx])
						if wv == 0 {
							continue
						}
						x0, x1 := span(g.w, g.ow, g.sw, g.pl, kx, g.dw)
						for oy := y0; oy < y1; oy++ {
							iy := oy*g.sh - g.pt + ky*g.dh
							row := xc[iy*g.w:]
							ix := x0*g.sw - g.pl + kx*g.dw
							base := oy * g.ow
							for ox := x0; ox < x1; ox++ {
								a := o[base+ox] + wv*row[ix]
								o[base+ox] = a
								if a < ac.lo || a > ac.hi {
									ac.overflows++
									fl[base+ox] = true
								}
								ac.accMin = min(ac.accMin, a)
								ac.accMax = max(ac.accMax, a)
								ix += g.sw
							}
						}
					}
				}
			}
		}
	}
	return acc, flag
}

// intConvTiled is intConv in two stages: each output's terms are taken in
// tile order (kh, kw, Cin/groups), summed tile by tile in an inner
// accumulator counted against [ac.lo, ac.hi], and each tile sum is added
// to the outer accumulator, counted against [outer.lo, outer.hi].
func intConvTiled(g conv2d, x []int64, w []int32, tile int, ac *accCounter, outer accCounter) ([]int64, []bool) {
	plane := g.oh * g.ow
	acc := make([]int64, g.n*g.m*plane)
	flag := make([]bool, len(acc))
	inner := make([]int64, plane)
	mg := g.m / g.group
	for b := 0; b < g.n; b++ {
		for oc := 0; oc < g.m; oc++ {
			o := acc[(b*g.m+oc)*plane : (b*g.m+oc+1)*plane]
			fl := flag[(b*g.m+oc)*plane : (b*g.m+oc+1)*plane]
			grp := oc / mg
			// fold adds the tile sums into the outer accumulators.
			fold := func() {
				for i, v := range inner {
					a := o[i] + v
					o[i], inner[i] = a, 0
					if a < outer.lo || a > outer.hi {
						ac.overflows++
						fl[i] = true
					}
				}
			}
			j := 0 // the term's index in tile order
			for ky := 0; ky < g.kh; ky++ {
				y0, y1 := span(g.h, g.oh, g.sh, g.pt, ky, g.dh)
				for kx := 0; kx < g.kw; kx++ {
					x0, x1 := span(g.w, g.ow, g.sw, g.pl, kx, g.dw)
					for ic := 0; ic < g.cg; ic++ {
						if j > 0 && j%tile == 0 {
							fold()
						}
						j++
						wv := int64(w[((oc*g.cg+ic)*g.kh+ky)*g.kw+kx])
						if wv == 0 {
							continue
						}
						xc := x[(b*g.c+grp*g.cg+ic)*g.h*g.w:]
						for oy := y0; oy < y1; oy++ {
							iy := oy*g.sh - g.pt + ky*g.dh
							row := xc[iy*g.w:]
							ix := x0*g.sw - g.pl + kx*g.dw
							base := oy * g.ow
							for ox := x0; ox < x1; ox++ {
								a := inner[base+ox] + wv*row[ix]
								inner[base+ox] = a
								if a < ac.lo || a > ac.hi {
									ac.overflows++
									fl[base+ox] = true
								}
								ac.accMin = min(ac.accMin, a)
								ac.accMax = max(ac.accMax, a)
								ix += g.sw
							}
						}
					}
				}
			}
			fold()
		}
	}
	return acc, flag
}

// intMatMulTiled computes acc[r][c] = Σ_k x[r][k]·w[c][k] in int64, in k
// order and in two stages: the terms of each dot product are summed tile by
// tile in an inner accumulator counted against [ac.lo, ac.hi], each tile
// sum added to the outer accumulator, counted against [outer.lo, outer.hi].
// One stage is a tile of k terms with an unbounded outer counter.
func intMatMulTiled(x []int64, w []int32, rows, k, outCh, tile int, ac *accCounter, outer accCounter) ([]int64, []bool) {
	acc := make([]int64, rows*outCh)
	flag := make([]bool, len(acc))
	for r := 0; r < rows; r++ {
		xr := x[r*k : (r+1)*k]
		for c := 0; c < outCh; c++ {
			wr := w[c*k : (c+1)*k]
			var sum int64
			for t := 0; t < k; t += tile {
				var a int64
				for i, wv := range wr[t:min(t+tile, k)] {
					if wv == 0 {
						continue
					}
					a += int64(wv) * xr[t+i]
					if a < ac.lo || a > ac.hi {
						ac.overflows++
						flag[r*outCh+c] = true
					}
					ac.accMin = min(ac.accMin, a)
					ac.accMax = max(ac.accMax, a)
				}
				sum += a
				if sum < outer.lo || sum > outer.hi {
					ac.overflows++
					flag[r*outCh+c] = true
				}
			}
			acc[r*outCh+c] = sum
		}
	}
	return acc, flag
}
