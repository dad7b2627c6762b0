package gemm

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// refLoop returns the indented code block of a doc comment: the reference
// loop an assembly routine implements.
func refLoop(doc string) string {
	var lines []string
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, "\t") {
			lines = append(lines, l[1:])
		}
	}
	return strings.Join(lines, "\n")
}

// TestStubsInSync checks that every assembly routine declared in
// stubs_amd64.go has a pure-Go twin in stubs_noasm.go with the same
// signature and the same documented reference loop, and that the twin's
// body is that loop. A stale copy fails here.
func TestStubsInSync(t *testing.T) {
	fset := token.NewFileSet()
	parse := func(name string) (*ast.File, []byte) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		return f, src
	}
	asmFile, asmSrc := parse("stubs_amd64.go")
	goFile, goSrc := parse("stubs_noasm.go")
	src := func(b []byte, n ast.Node) string {
		return string(b[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
	}
	goFuncs := map[string]*ast.FuncDecl{}
	for _, d := range goFile.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok {
			goFuncs[fd.Name.Name] = fd
		}
	}
	n := 0
	for _, d := range asmFile.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body != nil || strings.HasPrefix(fd.Name.Name, "fmaLoop") {
			continue
		}
		n++
		name := fd.Name.Name
		twin, ok := goFuncs[name]
		if !ok {
			t.Errorf("%s: no pure-Go twin in stubs_noasm.go", name)
			continue
		}
		if a, g := src(asmSrc, fd.Type), src(goSrc, twin.Type); a != g {
			t.Errorf("%s: signatures differ:\n%s\n%s", name, a, g)
		}
		ref := refLoop(fd.Doc.Text())
		if ref == "" {
			t.Errorf("%s: doc comment has no reference loop", name)
			continue
		}
		if g := refLoop(twin.Doc.Text()); g != ref {
			t.Errorf("%s: reference loops differ:\n%s\n---\n%s", name, ref, g)
		}
		var body bytes.Buffer
		for _, st := range twin.Body.List {
			if err := format.Node(&body, fset, st); err != nil {
				t.Fatal(err)
			}
			body.WriteByte('\n')
		}
		want, err := format.Source([]byte("package p\nfunc f() {\n" + ref + "\n}\n"))
		if err != nil {
			t.Fatalf("%s: reference loop does not parse: %v", name, err)
		}
		got, _ := format.Source([]byte("package p\nfunc f() {\n" + body.String() + "}\n"))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: pure-Go body is not its reference loop:\n%s\n---\n%s", name, got, want)
		}
	}
	if n < 7 {
		t.Errorf("found %d assembly declarations, want at least 7", n)
	}
}
