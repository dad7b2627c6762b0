// Package layering holds the project's rules about which package may import
// which, checked on the source: the back-ends (the integer engine, the QONNX
// reader and interpreter, the hardware model) keep their cores free of the
// training stack, so that running, certifying or pricing a model never needs
// autodiff, nn or the trainer, and each back-end's bridge from a trained
// model sits in files of its own, named here.
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/a2qtoolkit/a2q/"

// training are the packages of the training stack.
var training = []string{"autodiff", "nn", "quant", "models", "train", "data", "optim", "recipe", "sweep"}

// backEnds lists each back-end package with the files allowed to import the
// training stack: its bridge from a trained model.
var backEnds = []struct {
	pkg     string
	bridges []string
}{
	{pkg: "intinfer", bridges: []string{"frommodel.go", "frommodel_chain.go", "frommodel_dag.go", "verify.go"}},
	{pkg: "qonnx", bridges: []string{"export.go"}},
	{pkg: "hw", bridges: []string{"model.go", "modelsynth.go"}},
	{pkg: "thresh"},
	{pkg: "accum"},
	{pkg: "intgemm"},
	{pkg: "graph"},
}

func TestBackEndCores(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, be := range backEnds {
		files, err := filepath.Glob(filepath.Join(root, be.pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", be.pkg, err)
		}
		for _, f := range files {
			base := filepath.Base(f)
			if strings.HasSuffix(base, "_test.go") || slices.Contains(be.bridges, base) {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				name, ok := strings.CutPrefix(path, module)
				if ok && slices.Contains(training, name) {
					t.Errorf("%s/%s imports %s: a back-end's core must not depend on the training stack (move the code to a bridge file: %v)", be.pkg, base, name, be.bridges)
				}
			}
		}
	}
}
