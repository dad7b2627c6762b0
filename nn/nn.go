// Package nn provides a2q's float layers: modules that own named,
// addressable parameters and build their forward computation on an
// autodiff.Tape.
//
// A parameter's name is the layer's name, a dot and the tensor's role
// ("conv2.weight", "bn1.running_mean"): checkpoints, optimizers and per-layer
// options address parameters by these names. Layouts follow package tensor
// (NHWC images, [Cout, KH, KW, Cin/groups] convolution weights, [out, in]
// linear weights).
package nn

import (
	"math"
	"math/rand/v2"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Param is a named tensor of a module. Trainable parameters have a
// gradient of the same shape; buffers (batch-norm running statistics) have
// none.
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor // nil for buffers
	// NoDecay excludes the parameter from weight decay (biases, norms,
	// quantizer scales).
	NoDecay bool
}

// NewParam returns a trainable parameter of the given shape, zeroed.
func NewParam(name string, noDecay bool, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(shape...), Grad: tensor.New(shape...), NoDecay: noDecay}
}

// NewBuffer returns a non-trainable named tensor.
func NewBuffer(name string, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(shape...), NoDecay: true}
}

// Trainable reports whether p receives gradients.
func (p *Param) Trainable() bool { return p.Grad != nil }

// Var puts p on the tape: as a leaf if trainable, as a constant otherwise.
func (p *Param) Var(tp *autodiff.Tape) *autodiff.Var {
	if p.Grad != nil {
		return tp.Leaf(p.Value, p.Grad)
	}
	return tp.Constant(p.Value)
}

// Module is a layer or a network.
type Module interface {
	// Forward records the module's computation on x. train selects
	// training behaviour (batch statistics, quantizer calibration).
	Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var
	// Params lists the module's parameters and buffers, in a fixed order.
	Params() []*Param
}

// ZeroGrad clears the gradients of every trainable parameter.
func ZeroGrad(params []*Param) {
	for _, p := range params {
		if p.Grad != nil {
			p.Grad.Zero()
		}
	}
}

// uniform fills t from U(−bound, bound).
func uniform(rng *rand.Rand, t *tensor.Tensor, bound float64) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// Linear is a fully connected layer y = x·Wᵀ + b.
type Linear struct {
	Name    string
	In, Out int
	Weight  *Param // Out×In
	Bias    *Param // Out, or nil
}

// NewLinear returns a linear layer initialised as PyTorch does
// (U(±1/√in) for weights and bias).
func NewLinear(name string, in, out int, bias bool, rng *rand.Rand) *Linear {
	l := &Linear{Name: name, In: in, Out: out, Weight: NewParam(name+".weight", false, out, in)}
	b := 1 / math.Sqrt(float64(in))
	uniform(rng, l.Weight.Value, b)
	if bias {
		l.Bias = NewParam(name+".bias", true, out)
		uniform(rng, l.Bias.Value, b)
	}
	return l
}

// Forward implements Module. x is flattened to N×In if needed.
func (l *Linear) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	if len(x.Shape()) != 2 {
		x = tp.Flatten(x)
	}
	var b *autodiff.Var
	if l.Bias != nil {
		b = l.Bias.Var(tp)
	}
	return tp.Linear(x, l.Weight.Var(tp), b)
}

// Params implements Module.
func (l *Linear) Params() []*Param { return appendNonNil(nil, l.Weight, l.Bias) }

func appendNonNil(ps []*Param, more ...*Param) []*Param {
	for _, p := range more {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Conv2d is a 2-D convolution over NHWC images.
type Conv2d struct {
	Name            string
	In, Out, Kernel int
	Options         autodiff.ConvOptions
	Weight          *Param // Out×Kernel×Kernel×(In/Groups)
	Bias            *Param // Out, or nil
}

// NewConv2d returns a convolution initialised as PyTorch does.
func NewConv2d(name string, in, out, kernel int, o autodiff.ConvOptions, bias bool, rng *rand.Rand) *Conv2d {
	if o.Groups == 0 {
		o.Groups = 1
	}
	if o.Stride == 0 {
		o.Stride = 1
	}
	c := &Conv2d{Name: name, In: in, Out: out, Kernel: kernel, Options: o,
		Weight: NewParam(name+".weight", false, out, kernel, kernel, in/o.Groups)}
	b := 1 / math.Sqrt(float64(kernel*kernel*in/o.Groups))
	uniform(rng, c.Weight.Value, b)
	if bias {
		c.Bias = NewParam(name+".bias", true, out)
		uniform(rng, c.Bias.Value, b)
	}
	return c
}

// Forward implements Module.
func (c *Conv2d) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	var b *autodiff.Var
	if c.Bias != nil {
		b = c.Bias.Var(tp)
	}
	return tp.Conv2d(x, c.Weight.Var(tp), b, c.Options)
}

// ForwardSplit implements Splitter. A Conv2d has no input stage.
func (c *Conv2d) ForwardSplit(tp *autodiff.Tape, x *autodiff.Var, train, staged bool, poolK, poolStride int) (lin, bias *autodiff.Var, rest Rest, ok bool) {
	if c.Bias != nil {
		bias = c.Bias.Var(tp)
	}
	o := c.Options
	o.PoolK, o.PoolStride = poolK, poolStride
	return tp.Conv2d(x, c.Weight.Var(tp), nil, o), bias, nil, true
}

// Params implements Module.
func (c *Conv2d) Params() []*Param { return appendNonNil(nil, c.Weight, c.Bias) }

// BatchNorm normalises the last dimension (channels) with learned scale and
// shift and running statistics.
type BatchNorm struct {
	Name                         string
	Gamma, Beta, RunMean, RunVar *Param
	Momentum, Eps                float32
	// Observe, if non-nil, receives the input of every forward pass (the
	// statistics the training recipe gathers).
	Observe func(x *tensor.Tensor)
}

// NewBatchNorm returns a batch-norm layer over c channels (γ = 1, β = 0).
func NewBatchNorm(name string, c int) *BatchNorm {
	bn := &BatchNorm{Name: name,
		Gamma: NewParam(name+".weight", true, c), Beta: NewParam(name+".bias", true, c),
		RunMean: NewBuffer(name+".running_mean", c), RunVar: NewBuffer(name+".running_var", c),
		Momentum: 0.1, Eps: 1e-5}
	for i := range bn.Gamma.Value.Data {
		bn.Gamma.Value.Data[i] = 1
		bn.RunVar.Value.Data[i] = 1
	}
	return bn
}

// Forward implements Module.
func (b *BatchNorm) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	if b.Observe != nil {
		b.Observe(x.Value)
	}
	st := &autodiff.BatchNormState{Mean: b.RunMean.Value, Var: b.RunVar.Value, Momentum: b.Momentum, Eps: b.Eps}
	return tp.BatchNorm(x, b.Gamma.Var(tp), b.Beta.Var(tp), st, train)
}

// Params implements Module.
func (b *BatchNorm) Params() []*Param { return []*Param{b.Gamma, b.Beta, b.RunMean, b.RunVar} }

// ReLU is max(x, 0).
type ReLU struct{}

// Forward implements Module.
func (ReLU) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var { return tp.ReLU(x) }

// Params implements Module.
func (ReLU) Params() []*Param { return nil }

// MaxPool is max pooling over K×K windows (Stride 0 means K).
type MaxPool struct{ K, Stride int }

// Forward implements Module.
func (m MaxPool) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.MaxPool(x, m.K, m.Stride)
}

// Params implements Module.
func (MaxPool) Params() []*Param { return nil }

// AvgPool is average pooling over K×K windows (Stride 0 means K).
type AvgPool struct{ K, Stride int }

// Forward implements Module.
func (m AvgPool) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.AvgPool(x, m.K, m.Stride)
}

// Params implements Module.
func (AvgPool) Params() []*Param { return nil }

// GlobalAvgPool averages each channel over the image: N×H×W×C → N×C.
type GlobalAvgPool struct{}

// Forward implements Module.
func (GlobalAvgPool) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.GlobalAvgPool(x)
}

// Params implements Module.
func (GlobalAvgPool) Params() []*Param { return nil }

// Flatten reshapes N×… to N×(rest).
type Flatten struct{}

// Forward implements Module.
func (Flatten) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.Flatten(x)
}

// Params implements Module.
func (Flatten) Params() []*Param { return nil }

// PixelShuffle is depth to space by a factor R.
type PixelShuffle struct{ R int }

// Forward implements Module.
func (p PixelShuffle) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	return tp.PixelShuffle(x, p.R)
}

// Params implements Module.
func (PixelShuffle) Params() []*Param { return nil }

// Sequential runs modules one after another. A layer that can split off
// the monotone end of its computation (Splitter) followed by a max pool,
// with or without a ReLU before or after it, runs the pool first: the same values,
// with the layer's end and the ReLU on the pooled values only. When the
// module after that pattern (after a Flatten, if one comes first) begins
// with an input stage (Staged), the layer's end may take that stage over:
// again the same values, in one pass instead of two.
type Sequential []Module

// Forward implements Module.
func (s Sequential) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	staged := false // x has been through the input stage of s[i]
	for i := 0; i < len(s); i++ {
		if y, n, st := fusePool(tp, s[i:], x, train, staged); n > 0 {
			x, staged, i = y, st, i+n-1
			continue
		}
		if staged {
			x, staged = s[i].(Staged).ForwardStaged(tp, x, train), false
			continue
		}
		x = s[i].Forward(tp, x, train)
	}
	return x
}

// Splitter is a layer whose output is a linear map followed by a
// per-channel non-decreasing map: a bias, or a requantisation by positive
// scales. A max pool commutes with such a map (and with a ReLU), so a
// pool that follows may run on the linear map's output.
type Splitter interface {
	Module
	// ForwardSplit records the layer's linear map on x and returns it with
	// the rest of the layer: either a per-channel bias (nil for none) when
	// rest is nil, or rest. The linear map may leave out the outputs
	// a poolK×poolK max pool moved by poolStride never reads
	// (autodiff.ConvOptions.PoolK). staged means that x has been through
	// the layer's input stage already (only for a Staged layer). ok false
	// means the layer cannot split and nothing was recorded.
	ForwardSplit(tp *autodiff.Tape, x *autodiff.Var, train, staged bool, poolK, poolStride int) (lin, bias *autodiff.Var, rest Rest, ok bool)
}

// Rest records the end of a split layer (see Splitter) on a (pooled)
// output of its linear map, followed by a ReLU when relu is set. next,
// when not nil, is the module that reads that output: the rest may apply
// next's input stage too, and then returns the stage's output with
// staged true.
type Rest func(lin *autodiff.Var, relu bool, next Staged) (y *autodiff.Var, staged bool)

// Staged is a module that begins with an elementwise stage of its own (a
// quantized layer's input quantizer), which the layer before it may take
// over (see Rest).
type Staged interface {
	Module
	// ForwardStaged is Forward for an input that has been through the
	// module's input stage.
	ForwardStaged(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var
}

// fusePool runs ms[0] (a Splitter, on an input through its stage when
// staged is set) and a MaxPool that follows it, with a ReLU before or
// after the pool or none, pool first, and returns the result, the number
// of modules it covered and whether the result has been through the
// input stage of the module that follows them; n is 0 when ms does not
// start with that pattern. A Flatten between the pattern and a Staged
// module is covered too when the stage is taken over (it commutes with an
// elementwise stage).
func fusePool(tp *autodiff.Tape, ms []Module, x *autodiff.Var, train, staged bool) (y *autodiff.Var, n int, nextStaged bool) {
	if len(ms) < 2 {
		return nil, 0, false
	}
	l, ok := ms[0].(Splitter)
	if !ok {
		return nil, 0, false
	}
	n = 1
	_, relu := ms[n].(ReLU)
	if relu {
		n++
	}
	if len(ms) <= n {
		return nil, 0, false
	}
	p, ok := ms[n].(MaxPool)
	if !ok {
		return nil, 0, false
	}
	n++
	if !relu && len(ms) > n {
		if _, relu = ms[n].(ReLU); relu {
			n++
		}
	}
	lin, b, rest, ok := l.ForwardSplit(tp, x, train, staged, p.K, p.Stride)
	if !ok {
		return nil, 0, false
	}
	if rest == nil {
		return tp.MaxPoolBias(lin, b, relu, p.K, p.Stride), n, false
	}
	k := n // the module that reads the result, past a Flatten
	if len(ms) > n+1 {
		if _, ok := ms[n].(Flatten); ok {
			k++
		}
	}
	var next Staged
	if len(ms) > k {
		next, _ = ms[k].(Staged)
	}
	y, nextStaged = rest(tp.MaxPool(lin, p.K, p.Stride), relu, next)
	if nextStaged && k > n {
		y, n = tp.Flatten(y), k
	}
	return y, n, nextStaged
}

// Params implements Module.
func (s Sequential) Params() []*Param {
	var ps []*Param
	for _, m := range s {
		ps = append(ps, m.Params()...)
	}
	return ps
}

// Residual computes Shortcut(x) + Body(x); a nil Shortcut is the identity.
type Residual struct {
	Body, Shortcut Module
}

// Forward implements Module.
func (r *Residual) Forward(tp *autodiff.Tape, x *autodiff.Var, train bool) *autodiff.Var {
	s := x
	if r.Shortcut != nil {
		s = r.Shortcut.Forward(tp, x, train)
	}
	return tp.Add(s, r.Body.Forward(tp, x, train))
}

// Params implements Module.
func (r *Residual) Params() []*Param {
	ps := r.Body.Params()
	if r.Shortcut != nil {
		ps = append(ps, r.Shortcut.Params()...)
	}
	return ps
}
