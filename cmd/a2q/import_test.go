package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportedNetwork runs the commands on a network PyTorch exported:
// eval of the ONNX file, A2Q+ training from its weights (on the embedded
// data), eval and verify of the checkpoint, which carries the graph.
func TestImportedNetwork(t *testing.T) {
	dir := t.TempDir()
	net := filepath.Join("..", "..", "onnx", "testdata", "cnn_bn.onnx")
	code, stdout, stderr := runArgs(t, "eval", net, "--json")
	if code != 0 {
		t.Fatalf("eval %s: exit %d: %s", net, code, stderr)
	}
	var fr struct {
		Model        string   `json:"model"`
		TestAccuracy *float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &fr); err != nil {
		t.Fatal(err)
	}
	// The embedded subset is Fashion-MNIST: the imported float network must
	// recognise it about as well as the full test set (0.8745 there).
	if fr.Model != "cnn_bn" || fr.TestAccuracy == nil || *fr.TestAccuracy < 0.8 {
		t.Fatalf("eval of the float ONNX file: %s", stdout)
	}
	out := filepath.Join(dir, "a2q+")
	code, stdout, stderr = runArgs(t, "train", "--model", net, "--quant", "a2q+", "--acc-bits", "16", "--epochs", "1",
		"--out", out, "--json")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var rep struct {
		Certified    bool     `json:"certified"`
		TestAccuracy *float64 `json:"test_accuracy"`
		Layers       []struct {
			Name      string `json:"name"`
			Target    int    `json:"acc_bits_target"`
			Certified bool   `json:"certified"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Certified || len(rep.Layers) != 3 || rep.Layers[1].Name != "f.2.0" || rep.Layers[1].Target != 16 || !rep.Layers[1].Certified {
		t.Fatalf("report: %s", stdout)
	}
	if *rep.TestAccuracy < 0.8 {
		t.Errorf("A2Q+ fine-tuned from the float network: accuracy %.4f, float %.4f", *rep.TestAccuracy, *fr.TestAccuracy)
	}
	ckpt := filepath.Join(out, "model.ckpt")
	if code, stdout, stderr = runArgs(t, "eval", ckpt, "--json"); code != 0 || !strings.Contains(stdout, `"model": "cnn_bn"`) {
		t.Fatalf("eval of the checkpoint: exit %d: %s %s", code, stdout, stderr)
	}
	if code, stdout, stderr = runArgs(t, "verify", ckpt, "--json"); code != 0 {
		t.Fatalf("verify: exit %d: %s %s", code, stdout, stderr)
	}
	var v struct {
		Overflows *int64 `json:"overflows"`
		Match     *bool  `json:"integer_matches_fake_quant"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Overflows == nil || *v.Overflows != 0 || v.Match == nil || !*v.Match {
		t.Errorf("verify: %s", stdout)
	}
}

// TestImportErrors: a network the importer refuses is bad input (exit 2)
// naming the node; so is a QONNX file where a float network is needed.
func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", bad}, "bad.onnx"},
		{[]string{"train", "--model", bad, "--out", filepath.Join(dir, "o")}, "bad.onnx"},
		{[]string{"export", filepath.Join("..", "..", "qonnx", "testdata", "bsd300x3-espcn_subpixel_quant_model.onnx"), "-o", filepath.Join(dir, "x.onnx")}, "QONNX"},
		{[]string{"train", "--model", filepath.Join("..", "..", "onnx", "testdata", "cnn_bn.onnx"), "--init-from", bad, "--out", filepath.Join(dir, "o")}, "--init-from"},
	} {
		code, _, stderr := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// TestInspectFloatNetwork: inspect shows what a2q makes of a float ONNX
// network before any training: the graph, shapes and the layers' roles.
func TestInspectFloatNetwork(t *testing.T) {
	code, stdout, stderr := runArgs(t, "inspect", filepath.Join("..", "..", "onnx", "testdata", "resnet8_bn.onnx"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r graphReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, n := range r.Nodes {
		roles[n.Role]++
	}
	// resnet8: a stem, 8 convolutions in three blocks, a classifier.
	if r.Task != "classify" || roles["first"] != 1 || roles["hidden"] != 8 || roles["last"] != 1 || r.Parameters < 70000 {
		t.Errorf("report: task %s, roles %v, %d parameters", r.Task, roles, r.Parameters)
	}
}
