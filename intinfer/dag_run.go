package intinfer

import (
	"fmt"
	"slices"

	"github.com/a2qtoolkit/a2q/tensor"
	"github.com/a2qtoolkit/a2q/thresh"
)

// srcVal is a source's integers for one batch: n examples of shape.
type srcVal struct {
	v     []int64
	shape []int
}

// runDAG is Run for a model with branches.
func (e *Engine) runDAG(x []float32, n int, capture bool) *Result {
	p := e.m.dag
	th := max(e.o.Threads, 1)
	res := e.newResult()
	if capture {
		res.Inputs = make([][]int32, len(e.layers))
	}
	img := &srcVal{shape: []int{e.m.InH, e.m.InW, e.m.InC}}
	vals := map[int]*srcVal{}
	for _, idx := range p.order {
		src := p.sources[idx]
		switch src.kind {
		case srcAcc:
			li := src.layer
			xin, shape := p.layerIn[li].ints(th, n, vals, x, img)
			if capture {
				res.Inputs[li] = xin
			}
			vals[idx] = &srcVal{v: e.accumulate(th, e.layers[li], xin, shape, n, &res.Overflows[li], &res.OuterOverflows[li]), shape: src.shape}
		case srcSum:
			var sum []int64
			for _, ed := range src.in {
				k, _ := ed.ints(th, n, vals, x, img)
				if sum == nil {
					sum = make([]int64, len(k))
				}
				for i, v := range k {
					sum[i] += int64(v)
				}
			}
			vals[idx] = &srcVal{v: sum, shape: src.shape}
		case srcMean:
			k, shape := src.in[0].ints(th, n, vals, x, img)
			c := shape[2]
			hw := shape[0] * shape[1]
			sum := make([]int64, n*c)
			for b := 0; b < n; b++ {
				o := sum[b*c : (b+1)*c]
				for q := 0; q < hw; q++ {
					for ch, v := range k[(b*hw+q)*c:][:c] {
						o[ch] += int64(v)
					}
				}
			}
			vals[idx] = &srcVal{v: sum, shape: src.shape}
		}
	}
	res.Out, res.Shape = p.out.floats(th, n, vals, x, img)
	return res
}

// layerGeom is the convolution a layer computes on n inputs of shape in:
// a linear layer is a 1×1 convolution of a 1×1 image, a transposed
// convolution the stride-1 convolution of its spread input (spread).
func layerGeom(l *Layer, n int, in []int) tensor.ConvGeom {
	switch l.Kind {
	case "conv":
		return tensor.ConvGeom{N: n, H: in[0], W: in[1], C: in[2], KH: l.KH, KW: l.KW, Stride: l.Stride, Pad: l.Pad, Groups: l.Groups, Cout: l.OutC}
	case "conv_transpose":
		h, w := spreadSize(l, in[0]), spreadSize(l, in[1])
		return tensor.ConvGeom{N: n, H: h, W: w, C: in[2], KH: l.KH, KW: l.KW, Stride: 1, Groups: l.Groups, Cout: l.OutC}
	}
	return tensor.ConvGeom{N: n, H: 1, W: 1, C: l.InC, KH: 1, KW: 1, Groups: 1, Cout: l.OutC}
}

// spreadSize is the side of a transposed convolution's spread input: the
// input's values S apart, K − 1 − P zeros before, as many plus the output
// padding after.
func spreadSize(l *Layer, side int) int {
	return (side-1)*l.Stride + 1 + 2*(l.KH-1-l.Pad) + l.OutPad
}

// spread places n images x of shape in S apart in a zero image of the
// transposed convolution's spread size, in a buffer from alloc.
func spread[T uint8 | int32](l *Layer, x []T, n int, in []int, alloc func(int) []T) []T {
	h, w, c := in[0], in[1], in[2]
	sh, sw := spreadSize(l, h), spreadSize(l, w)
	off := l.KH - 1 - l.Pad
	y := alloc(n * sh * sw * c)
	clear(y)
	for b := 0; b < n; b++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				copy(y[((b*sh+off+i*l.Stride)*sw+off+j*l.Stride)*c:][:c], x[((b*h+i)*w+j)*c:][:c])
			}
		}
	}
	return y
}

// accumulate computes a layer's accumulators for n inputs of shape in,
// adding its overflows (of a tiled layer's inner and outer stages) to
// overflows and outer.
func (e *Engine) accumulate(th int, lr *layerRun, x []int32, in []int, n int, overflows, outer *int64) []int64 {
	l := lr.l
	g := layerGeom(l, n, in)
	if l.Kind == "conv_transpose" {
		x = spread(l, x, n, in, fresh[int32])
	}
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("intinfer: layer %s: %v", l.Name, err)) // FromModel checked the shapes
	}
	if lr.kerns == nil {
		return e.scalar(th, lr, &g, x, overflows, outer)
	}
	a := e.fast(th, lr, &g, x)
	out := make([]int64, len(a))
	for i, v := range a {
		out[i] = int64(v)
	}
	return out
}

// ints computes the edge's integers for n examples, and their shape.
func (e *edge) ints(th, n int, vals map[int]*srcVal, img []float32, imgShape *srcVal) ([]int32, []int) {
	var out []int32
	var shape []int
	switch {
	case e.parts != nil:
		var ps [][]int32
		var cs []int
		for _, p := range e.parts {
			v, s := p.ints(th, n, vals, img, imgShape)
			ps, cs = append(ps, v), append(cs, s[len(s)-1])
			shape = s
		}
		out, shape = concat(ps, cs, shape, fresh[int32])
	case e.sym.kind == srcImage:
		c := imgShape.shape[2]
		out = make([]int32, len(img))
		lo, hi := float32(e.q.lo), float32(e.q.hi)
		for i, v := range img {
			out[i] = int32(thresh.Quantize(e.chained(i%c, v), e.q.s, lo, hi))
		}
		shape = imgShape.shape
	default:
		src := vals[e.sym.src]
		shape = src.shape
		c := shape[len(shape)-1]
		out = make([]int32, len(src.v))
		ts := e.tsize
		tensor.For(th, len(src.v)/c, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				for ch, v := range src.v[r*c : (r+1)*c] {
					if e.neg[ch] {
						v = -v
					}
					t := e.thr[ch*ts : (ch+1)*ts]
					base := 0
					for half := ts >> 1; half > 0; half >>= 1 {
						if t[base+half-1] <= v {
							base += half
						}
					}
					out[r*c+ch] = e.q.lo + int32(base)
				}
			}
		})
	}
	return applyMoves(th, n, e.sym.moves, out, shape, fillOf(e.fill, 0), fresh[int32])
}

// floats computes the edge's float values (the network's output).
func (e *edge) floats(th, n int, vals map[int]*srcVal, img []float32, imgShape *srcVal) ([]float32, []int) {
	if e.parts != nil {
		panic("intinfer: a concatenation as the network's output") // newEdge refuses it before
	}
	var out []float32
	var shape []int
	if e.sym.kind == srcImage {
		c := imgShape.shape[2]
		out = make([]float32, len(img))
		for i, v := range img {
			out[i] = e.chained(i%c, v)
		}
		shape = imgShape.shape
	} else {
		src := vals[e.sym.src]
		shape = src.shape
		c := shape[len(shape)-1]
		out = make([]float32, len(src.v))
		for i, v := range src.v {
			out[i] = e.value(i%c, v)
		}
	}
	return applyMoves(th, n, e.sym.moves, out, shape, fillOf(e.ffill, 0), fresh[float32])
}

// applyMoves applies data movements to n examples x of shape, taking each
// result's buffer from alloc (which need not clear it: every value is
// written). fill(i, ch) is the fill of move i, a pad, in channel ch.
func applyMoves[T uint8 | int32 | float32](th, n int, moves []move, x []T, shape []int, fill func(i, ch int) T, alloc func(int) []T) ([]T, []int) {
	for i := range moves {
		mv := &moves[i]
		switch mv.kind {
		case OpFlatten:
			shape = []int{prod(shape)}
		case OpMaxPool:
			h, w, c := shape[0], shape[1], shape[2]
			stride := tensor.PoolStride(mv.k, mv.stride)
			oh, ow := tensor.PoolOut(h, mv.k, stride, 0), tensor.PoolOut(w, mv.k, stride, 0)
			y := alloc(n * oh * ow * c)
			img, pooled := h*w*c, oh*ow*c
			tensor.For(th, n, func(lo, hi int) {
				maxPoolInto(hi-lo, h, w, c, mv.k, stride, x[lo*img:hi*img], y[lo*pooled:hi*pooled])
			})
			x, shape = y, []int{oh, ow, c}
		case OpPixelShuffle:
			h, w, c := shape[0], shape[1], shape[2]/(mv.r*mv.r)
			y := alloc(len(x))
			tensor.PixelShuffle(n, h, w, c, mv.r, x, y, false)
			x, shape = y, []int{h * mv.r, w * mv.r, c}
		case opDCR:
			h, w, c := shape[0], shape[1], shape[2]/(mv.r*mv.r)
			y := alloc(len(x))
			tensor.DepthToSpaceDCR(n, h, w, c, mv.r, x, y, false)
			x, shape = y, []int{h * mv.r, w * mv.r, c}
		case opPad:
			h, w, c := shape[0], shape[1], shape[2]
			p := mv.pads
			oh, ow := h+p[0]+p[2], w+p[1]+p[3]
			y := alloc(n * oh * ow * c)
			for b := 0; b < n; b++ {
				for yy := 0; yy < oh; yy++ {
					for xx := 0; xx < ow; xx++ {
						dst := y[((b*oh+yy)*ow+xx)*c:][:c]
						sy, sx := yy-p[0], xx-p[1]
						if sy < 0 || sy >= h || sx < 0 || sx >= w {
							for ch := range dst {
								dst[ch] = fill(i, ch)
							}
							continue
						}
						copy(dst, x[((b*h+sy)*w+sx)*c:][:c])
					}
				}
			}
			x, shape = y, []int{oh, ow, c}
		case opResize:
			h, w, c, f := shape[0], shape[1], shape[2], mv.r
			y := alloc(len(x) * f * f)
			for b := 0; b < n; b++ {
				for yy := 0; yy < h*f; yy++ {
					for xx := 0; xx < w*f; xx++ {
						copy(y[((b*h*f+yy)*w*f+xx)*c:][:c], x[((b*h+yy/f)*w+xx/f)*c:][:c])
					}
				}
			}
			x, shape = y, []int{h * f, w * f, c}
		}
	}
	return x, shape
}

// concat joins parts (each n rows of cs[i] channels) along channels into
// a buffer from alloc.
func concat[T uint8 | int32](parts [][]T, cs []int, shape []int, alloc func(int) []T) ([]T, []int) {
	total := 0
	for _, c := range cs {
		total += c
	}
	rows := len(parts[0]) / cs[0]
	out := alloc(rows * total)
	off := 0
	for i, p := range parts {
		c := cs[i]
		for r := 0; r < rows; r++ {
			copy(out[r*total+off:][:c], p[r*c:][:c])
		}
		off += c
	}
	shape = slices.Clone(shape)
	shape[len(shape)-1] = total
	return out, shape
}

// fresh allocates a zeroed buffer: the general path's allocator.
func fresh[T any](n int) []T { return make([]T, n) }
