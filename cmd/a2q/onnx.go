package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/onnx"
	"github.com/a2qtoolkit/a2q/qonnx"
)

// isONNX reports whether path names an ONNX file (float or QONNX).
func isONNX(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".onnx") }

// importFloat imports the float ONNX network at path as a float model
// for inputs of the file's declared shape.
func importFloat(path string) (*models.Model, error) {
	net, err := onnx.Import(path)
	if err != nil {
		return nil, usageError{err}
	}
	_, classes, scale, err := models.GraphOutput(net.Graph)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	cfg := models.Config{Model: onnx.Base(path), Graph: net.Graph, Classes: classes, Scale: scale, Seed: 1}
	cfg.InH, cfg.InW, cfg.InC = 1, 1, net.Graph.InShape[0] // a vector of features
	if s := net.Graph.InShape; len(s) == 3 {
		cfg.InH, cfg.InW, cfg.InC = s[0], s[1], s[2]
	}
	m, err := models.FloatFromWeights(cfg, net.Weights)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return m, nil
}

// loadONNX reads a float ONNX network for a command that takes a model
// file; QONNX files are named as such.
func loadONNX(path string) (*models.Model, error) {
	qm, err := qonnx.Load(path)
	if err != nil {
		return nil, err
	}
	if qm.HasQuant() {
		return nil, fmt.Errorf("%s is a QONNX model (it has Quant nodes): this command reads checkpoints and float ONNX networks (inspect, verify, eval and hw read QONNX files)", path)
	}
	return importFloat(path)
}

// graphNode is one node of a float network as `a2q inspect NET.onnx`
// shows it.
type graphNode struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	Inputs []string `json:"inputs"`
	Shape  []int    `json:"shape"`
	// Role is the layer's place in the A2Q recipe ("first", "hidden",
	// "last"), K its dot-product length; empty for other operations.
	Role string `json:"role,omitempty"`
	K    int    `json:"k,omitempty"`
}

// graphReport is what `a2q inspect NET.onnx` prints for a float network.
type graphReport struct {
	File       string      `json:"file"`
	Task       string      `json:"task"`
	InShape    []int       `json:"in_shape"`
	Parameters int         `json:"parameters"`
	Nodes      []graphNode `json:"nodes"`
}

// inspectFloat prints the graph a2q imports from a float ONNX network:
// every node with its output shape (NHWC, batch left out) and, for the
// layers, their role in the recipe.
func inspectFloat(e *env, path string, asJSON bool) error {
	net, err := onnx.Import(path)
	if err != nil {
		return usageError{err}
	}
	g := net.Graph
	task, _, err := models.GraphTask(g, nil)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	shapes, _ := g.Validate(nil)
	first, last := g.Edges()
	r := graphReport{File: path, Task: string(task), InShape: g.InShape}
	for _, w := range net.Weights {
		r.Parameters += w.Len()
	}
	for _, n := range g.Nodes {
		gn := graphNode{Name: n.Name, Op: string(n.Op), Inputs: n.Inputs, Shape: shapes[n.Name]}
		if n.Op.Layered() {
			gn.Role = "hidden"
			switch {
			case first[n.Name]:
				gn.Role = "first"
			case last[n.Name]:
				gn.Role = "last"
			}
			// K is a weight row: everything but the output channel.
			gn.K = 1
			for _, d := range n.ParamShapes()["weight"][1:] {
				gn.K *= d
			}
		}
		r.Nodes = append(r.Nodes, gn)
	}
	if asJSON {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "%s: float network (%s), input %v, %d parameters\n", path, task, g.InShape, r.Parameters)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node\top\tinputs\toutput\trole\tK")
	for _, n := range r.Nodes {
		k := ""
		if n.K > 0 {
			k = fmt.Sprint(n.K)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", n.Name, n.Op, strings.Join(n.Inputs, ","), n.Shape, n.Role, k)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "hidden layers are constrained by --quant a2q|a2q+ at --acc-bits; first and last follow the --edge-* flags")
	return nil
}
