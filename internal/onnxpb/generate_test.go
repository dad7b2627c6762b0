package onnxpb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestGenerated regenerates onnx.pb.go into a temporary directory and fails
// when the committed copy differs (a stale copy after an edit of onnx.proto or
// a change of the protobuf module version).
func TestGenerated(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("onnxpb: protoc not found (install the Debian package protobuf-compiler); generated code not checked")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("onnxpb: go command not found; generated code not checked")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "gen.sh", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "onnx.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("onnx.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	got, want = dropProtocVersion(got), dropProtocVersion(want)
	if !bytes.Equal(got, want) {
		t.Fatalf("onnx.pb.go is stale: run `go generate ./internal/onnxpb` and commit the result")
	}
}

// dropProtocVersion removes the "// \tprotoc vX" header line, the only line
// that depends on the installed protoc rather than on onnx.proto and go.mod.
func dropProtocVersion(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	out := lines[:0]
	for _, l := range lines {
		if bytes.HasPrefix(l, []byte("// \tprotoc ")) {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

func TestRoundTrip(t *testing.T) {
	m := &ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(11)}},
		Graph: &GraphProto{
			Name: proto.String("g"),
			Node: []*NodeProto{{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}}},
			Initializer: []*TensorProto{{
				Name: proto.String("w"), Dims: []int64{2},
				DataType:  proto.Int32(int32(TensorProto_FLOAT)),
				FloatData: []float32{1.5, -2},
			}},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back ModelProto
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, &back) {
		t.Fatalf("round trip changed the model:\n%v\n%v", m, &back)
	}
	if got := back.GetGraph().GetInitializer()[0].GetFloatData()[1]; got != -2 {
		t.Fatalf("float_data[1] = %v, want -2", got)
	}
}
