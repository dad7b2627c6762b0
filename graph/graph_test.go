package graph

import (
	"slices"
	"strings"
	"testing"
)

func f32(v float32) *float32 { return &v }

// unet is a small encoder–decoder with a skip concatenation and a
// residual sum: every kind of branch.
func unet() *Graph {
	return &Graph{Input: "x", InShape: []int{8, 8, 1}, Output: "out", Nodes: []Node{
		{Name: "enc", Op: Conv, Inputs: []string{"x"}, In: 1, Out: 8, Kernel: 3, Pad: 1, Bias: true},
		{Name: "enc.relu", Op: ReLU, Inputs: []string{"enc"}},
		{Name: "down", Op: MaxPool, Inputs: []string{"enc.relu"}, Kernel: 2},
		{Name: "mid", Op: Conv, Inputs: []string{"down"}, In: 8, Out: 8, Kernel: 3, Pad: 1},
		{Name: "mid.bn", Op: BatchNorm, Inputs: []string{"mid"}, Out: 8, Eps: 1e-5},
		{Name: "res", Op: Add, Inputs: []string{"mid.bn", "down"}},
		{Name: "res.relu6", Op: Clip, Inputs: []string{"res"}, Min: f32(0), Max: f32(6)},
		{Name: "up", Op: Resize, Inputs: []string{"res.relu6"}, Factor: 2},
		{Name: "skip", Op: Concat, Inputs: []string{"up", "enc.relu"}},
		{Name: "head", Op: Conv, Inputs: []string{"skip"}, In: 16, Out: 4, Kernel: 1},
		{Name: "out", Op: DepthToSpace, Inputs: []string{"head"}, Factor: 2},
	}}
}

func TestValidateShapes(t *testing.T) {
	g := unet()
	shapes, err := g.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int{"down": {4, 4, 8}, "res": {4, 4, 8}, "up": {8, 8, 8}, "skip": {8, 8, 16}, "out": {16, 16, 1}} {
		if !slices.Equal(shapes[name], want) {
			t.Errorf("%s: shape %v, want %v", name, shapes[name], want)
		}
	}
	// Another input size flows through a fully convolutional graph.
	if shapes, err = g.Validate([]int{12, 6, 1}); err != nil || !slices.Equal(shapes["out"], []int{24, 12, 1}) {
		t.Errorf("12×6 input: %v, %v", shapes["out"], err)
	}
	// JSON round trip.
	c := g.Clone()
	if !slices.EqualFunc(c.Nodes, g.Nodes, func(a, b Node) bool { return a.Name == b.Name && a.Op == b.Op && slices.Equal(a.Inputs, b.Inputs) }) {
		t.Error("Clone changed the nodes")
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(g *Graph)
		want string
	}{
		{"dangling input", func(g *Graph) { g.Nodes[3].Inputs[0] = "nowhere" }, `node mid (conv): input "nowhere"`},
		{"cycle", func(g *Graph) { g.Nodes[0].Inputs[0] = "head" }, `node enc (conv): input "head"`},
		{"duplicate", func(g *Graph) { g.Nodes[3].Name = "enc" }, "node enc: name used twice"},
		{"channels", func(g *Graph) { g.Nodes[3].In = 4 }, "node mid (conv): in = 4 for an input of 8 channels"},
		{"groups", func(g *Graph) { g.Nodes[3].Groups = 3 }, "groups 3"},
		{"kernel", func(g *Graph) { g.Nodes[0].Kernel = 99 }, "kernel 99"},
		{"sum of shapes", func(g *Graph) { g.Nodes[5].Inputs[1] = "enc" }, "node res (add): adds shapes"},
		{"linear on image", func(g *Graph) { g.Nodes[9] = Node{Name: "head", Op: Linear, Inputs: []string{"skip"}, In: 16, Out: 4} }, "not a vector"},
		{"clip bounds", func(g *Graph) { g.Nodes[6].Min = f32(7) }, "min 7 above max 6"},
		{"depth to space", func(g *Graph) { g.Nodes[10].Factor = 3 }, "factor 3 for 4 channels"},
		{"unknown op", func(g *Graph) { g.Nodes[1].Op = "softmax" }, `unknown operation "softmax"`},
		{"output", func(g *Graph) { g.Output = "nothing" }, `output "nothing"`},
		{"huge", func(g *Graph) { g.InShape = []int{1 << 15, 1 << 15, 1} }, "more than"},
		{"pool padding", func(g *Graph) { g.Nodes[2].Pad = 2 }, "pad must be at most half the kernel"},
		{"absurd parameters", func(g *Graph) {
			*g = Graph{Input: "x", InShape: []int{1 << 16}, Output: "fc", Nodes: []Node{
				{Name: "fc", Op: Linear, Inputs: []string{"x"}, In: 1 << 16, Out: 1 << 16}}}
		}, "parameters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := unet()
			c.edit(g)
			_, err := g.Validate(nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestNonNegativeAndEdges(t *testing.T) {
	g := unet()
	nn := g.NonNegative(true)
	for name, want := range map[string]bool{"x": true, "enc": false, "enc.relu": true, "down": true, "mid.bn": false,
		"res": false, "res.relu6": true, "skip": true, "head": false} {
		if nn[name] != want {
			t.Errorf("NonNegative[%s] = %v, want %v", name, nn[name], want)
		}
	}
	first, last := g.Edges()
	if len(first) != 1 || !first["enc"] || len(last) != 1 || !last["head"] {
		t.Errorf("first %v, last %v; want enc and head", first, last)
	}
	// The residual's other branch makes mid's input reach back to enc only
	// through a layer: mid is hidden.
	if first["mid"] || last["mid"] {
		t.Error("mid is an edge layer")
	}
}

func TestInsertAfter(t *testing.T) {
	g := unet()
	c, err := g.InsertAfter("mid", Node{Name: "mid.scale", Op: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Node("mid.bn").Inputs, []string{"mid.scale"}) || !slices.Equal(c.Node("mid.scale").Inputs, []string{"mid"}) {
		t.Errorf("readers not rewired: %v, %v", c.Node("mid.bn").Inputs, c.Node("mid.scale").Inputs)
	}
	if _, err := c.Validate(nil); err != nil {
		t.Error(err)
	}
	if g.Node("mid.scale") != nil {
		t.Error("InsertAfter changed the original graph")
	}
	if o, _ := g.InsertAfter("out", Node{Name: "tail", Op: ReLU}); o.Output != "tail" {
		t.Errorf("output %s, want the inserted node", o.Output)
	}
	if _, err := g.InsertAfter("nowhere", Node{Name: "x2", Op: ReLU}); err == nil {
		t.Error("inserted after a node that does not exist")
	}
}
