package models

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/graph"
)

// mobileNetGraph is a MobileNet-style network for small colour images: a
// 3×3 convolution to 32 channels, then depthwise-separable blocks (3×3
// depthwise, 1×1 pointwise, each with batch norm and ReLU) widening to 256
// channels with two stride-2 stages, global average pooling and a linear
// classifier. Every depthwise and pointwise convolution is a constrained
// hidden layer.
func mobileNetGraph(c Config) (*graph.Graph, error) {
	if err := classes(c); err != nil {
		return nil, err
	}
	z := newZoo(c)
	z.convBN("conv1", c.InC, 32, 3, 1, 1, true)
	in := 32
	for i, s := range []struct{ out, stride int }{{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}} {
		z.convBN(fmt.Sprintf("block%d.dw", i+1), in, in, 3, s.stride, in, true)
		z.convBN(fmt.Sprintf("block%d.pw", i+1), in, s.out, 1, 1, 1, true)
		in = s.out
	}
	z.add(graph.Node{Name: "pool", Op: graph.GlobalAvgPool})
	z.add(graph.Node{Name: "fc", Op: graph.Linear, In: in, Out: c.Classes, Bias: true})
	return z.g, nil
}

// resNetGraph is a small ResNet for 32×32 colour images: a 3×3 stem to 16
// channels, three stages of one basic block each (16, 32 and 64 channels,
// the last two with stride 2 and a 1×1 projection shortcut), global
// average pooling and a linear classifier.
func resNetGraph(c Config) (*graph.Graph, error) {
	if err := classes(c); err != nil {
		return nil, err
	}
	z := newZoo(c)
	x := z.convBN("conv1", c.InC, 16, 3, 1, 1, true)
	in := 16
	for i, s := range []struct{ out, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		name := fmt.Sprintf("layer%d", i+1)
		z.convBN(name+".conv1", in, s.out, 3, s.stride, 1, true)
		body := z.convBN(name+".conv2", s.out, s.out, 3, 1, 1, false)
		short := x
		if s.stride != 1 || in != s.out {
			z.last = x
			short = z.convBN(name+".shortcut", in, s.out, 1, s.stride, 1, false)
		}
		z.add(graph.Node{Name: name + ".add", Op: graph.Add, Inputs: []string{body, short}})
		x = z.add(graph.Node{Name: name + ".relu", Op: graph.ReLU})
		in = s.out
	}
	z.add(graph.Node{Name: "pool", Op: graph.GlobalAvgPool})
	z.add(graph.Node{Name: "fc", Op: graph.Linear, In: in, Out: c.Classes, Bias: true})
	return z.g, nil
}
