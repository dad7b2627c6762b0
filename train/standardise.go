package train

import (
	"fmt"
	"math"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/graph"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// InputStats returns the mean and standard deviation of each channel of
// s's inputs over every example and pixel. A channel that never varies
// gets a standard deviation of 1.
func InputStats(s *data.Set) (mean, std []float64) {
	mean, std = make([]float64, s.C), make([]float64, s.C)
	if s.N == 0 {
		for c := range std {
			std[c] = 1
		}
		return mean, std
	}
	hw := s.H * s.W
	for c := range s.C {
		var sum, sq float64
		for i := range s.N {
			for _, v := range s.X[(i*s.C+c)*hw : (i*s.C+c+1)*hw] {
				sum += float64(v)
				sq += float64(v) * float64(v)
			}
		}
		n := float64(s.N * hw)
		mean[c] = sum / n
		std[c] = math.Sqrt(max(sq/n-mean[c]*mean[c], 0))
		if !(std[c] > 1e-6) {
			std[c] = 1
		}
	}
	return mean, std
}

// standardised lets the optimizer update the layers that read the
// model's input in the coordinates of a network fed standardised inputs,
// (x − μ)/σ per channel, while the model keeps reading x: with v = σ·w
// and c = b + Σ μ·w (so that w = v/σ, b = c − Σ μ·v/σ computes the same
// function), the optimizer steps v and c from the gradients
// ∂L/∂v = ∂L/∂w / σ − μ/σ · ∂L/∂b and ∂L/∂c = ∂L/∂b. Adam's per-parameter
// step sizes then act as they would on the standardised network. A layer
// without a bias takes the scale alone (v = σ·w).
type standardised struct {
	layers []stdLayer
}

// stdLayer is one layer's change of coordinates: its weight and bias and
// the optimizer's copies of them (the same names and shapes).
type stdLayer struct {
	w, b *nn.Param
	v, c *nn.Param // the optimizer's coordinates (c nil without a bias)
	// gmu and gsd hold, for each group of output channels, the mean and
	// std of the input channel each column of a row reads (the mean 0
	// without a bias: the scale alone).
	gmu, gsd [][]float64
	groups   int // rows per group (output channels / groups)
}

// inputLayers returns the trainable convolution and linear layers of m
// that read the model's input directly (a linear layer also through a
// flatten).
func inputLayers(m *models.Model) []*quant.Layer {
	g := m.Graph()
	if g == nil {
		return nil
	}
	reads := func(name string) bool {
		n := g.Node(name)
		return n != nil && len(n.Inputs) == 1 && n.Inputs[0] == g.Input
	}
	var out []*quant.Layer
	for _, l := range m.Layers {
		n := g.Node(l.Name)
		if n == nil || len(n.Inputs) != 1 || l.Weight.Grad == nil {
			continue
		}
		switch {
		case l.Kind == "conv" && reads(l.Name):
		case l.Kind == "linear" && (reads(l.Name) || g.Node(n.Inputs[0]) != nil && g.Node(n.Inputs[0]).Op == graph.Flatten && reads(n.Inputs[0])):
		default:
			continue
		}
		out = append(out, l)
	}
	return out
}

// newStandardised prepares the change of coordinates for the layers of m
// that read its input, with the input's per-channel mean and std; it
// returns nil when no layer reads the input in a way it handles.
func newStandardised(m *models.Model, mean, std []float64) (*standardised, error) {
	s := &standardised{}
	for _, l := range inputLayers(m) {
		cout := l.Weight.Value.Shape[0]
		k := l.Weight.Value.Len() / cout
		groups := 1
		if l.Kind == "conv" {
			groups = max(l.Options.Groups, 1)
		}
		// Conv weights [Cout, KH, KW, Cin/groups] cycle through the
		// channels of their group, a linear layer's [Out, H·W·C] (NHWC
		// flattened) through all of them.
		perGroup := len(mean) / groups
		switch {
		case l.Kind == "conv" && (l.InC != len(mean) || perGroup*groups != len(mean)):
			return nil, fmt.Errorf("layer %s: reads %d channels in %d groups, the data has %d", l.Name, l.InC, groups, len(mean))
		case l.Kind == "linear" && l.InC%len(mean) != 0:
			return nil, fmt.Errorf("layer %s: %d inputs are not a whole number of pixels of %d channels", l.Name, l.InC, len(mean))
		}
		sl := stdLayer{w: l.Weight, b: l.Bias, groups: cout / groups}
		sl.v = &nn.Param{Name: l.Weight.Name, Value: tensor.New(l.Weight.Value.Shape...), Grad: tensor.New(l.Weight.Value.Shape...), NoDecay: l.Weight.NoDecay}
		if l.Bias != nil && l.Bias.Grad != nil {
			sl.c = &nn.Param{Name: l.Bias.Name, Value: tensor.New(l.Bias.Value.Shape...), Grad: tensor.New(l.Bias.Value.Shape...), NoDecay: l.Bias.NoDecay}
		}
		for gi := range groups {
			mu, sd := make([]float64, k), make([]float64, k)
			for j := range k {
				ch := gi*perGroup + j%perGroup
				mu[j], sd[j] = mean[ch], std[ch]
				if sl.c == nil {
					mu[j] = 0
				}
			}
			sl.gmu, sl.gsd = append(sl.gmu, mu), append(sl.gsd, sd)
		}
		s.layers = append(s.layers, sl)
	}
	if len(s.layers) == 0 {
		return nil, nil
	}
	return s, nil
}

// params returns ps with each standardised layer's weight and bias
// replaced by the optimizer's coordinates.
func (s *standardised) params(ps []*nn.Param) []*nn.Param {
	sub := map[*nn.Param]*nn.Param{}
	for _, l := range s.layers {
		sub[l.w] = l.v
		if l.c != nil {
			sub[l.b] = l.c
		}
	}
	out := make([]*nn.Param, len(ps))
	for i, p := range ps {
		out[i] = p
		if q, ok := sub[p]; ok {
			out[i] = q
		}
	}
	return out
}

// row returns the statistics of output channel o's weights.
func (l *stdLayer) row(o int) (mu, sd []float64) {
	g := o / l.groups
	return l.gmu[g], l.gsd[g]
}

// pull sets the optimizer's coordinates and their gradients from the
// model's weights, biases and gradients.
func (s *standardised) pull() {
	for _, l := range s.layers {
		cout := l.w.Value.Shape[0]
		k := l.w.Value.Len() / cout
		w, gw, v, gv := l.w.Value.Data, l.w.Grad.Data, l.v.Value.Data, l.v.Grad.Data
		for o := range cout {
			mu, sd := l.row(o)
			var gb, shift float64
			if l.c != nil {
				gb = float64(l.b.Grad.Data[o])
			}
			for j := range k {
				i := o*k + j
				v[i] = float32(sd[j] * float64(w[i]))
				gv[i] = float32((float64(gw[i]) - mu[j]*gb) / sd[j])
				shift += mu[j] * float64(w[i])
			}
			if l.c != nil {
				l.c.Value.Data[o] = float32(float64(l.b.Value.Data[o]) + shift)
				l.c.Grad.Data[o] = float32(gb)
			}
		}
	}
}

// push sets the model's weights and biases from the optimizer's
// coordinates.
func (s *standardised) push() {
	for _, l := range s.layers {
		cout := l.w.Value.Shape[0]
		k := l.w.Value.Len() / cout
		w, v := l.w.Value.Data, l.v.Value.Data
		for o := range cout {
			mu, sd := l.row(o)
			var shift float64
			for j := range k {
				i := o*k + j
				w[i] = float32(float64(v[i]) / sd[j])
				shift += mu[j] * float64(v[i]) / sd[j]
			}
			if l.c != nil {
				l.b.Value.Data[o] = float32(float64(l.c.Value.Data[o]) - shift)
			}
		}
	}
}

// fold takes the input layers' weights and biases as the optimizer's
// coordinates v and c, and sets the weights and biases that compute on
// raw inputs what v and c compute on standardised ones.
func (s *standardised) fold() {
	for _, l := range s.layers {
		copy(l.v.Value.Data, l.w.Value.Data)
		if l.c != nil {
			copy(l.c.Value.Data, l.b.Value.Data)
		}
	}
	s.push()
}
