package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// stageCert is the part of a certificate that describes its stages.
type stageCert struct {
	Name          string `json:"name"`
	K             int    `json:"k"`
	AccBitsExact  int    `json:"acc_bits_exact"`
	AccBitsTarget int    `json:"acc_bits_target"`
	Tile          int    `json:"tile"`
	AccBitsInner  int    `json:"acc_bits_inner"`
	AccBitsOuter  int    `json:"acc_bits_outer"`
	Certified     bool   `json:"certified"`
}

// inspectStages runs inspect --json on file with extra flags and returns
// the certificates by layer name.
func inspectStages(t *testing.T, file string, flags ...string) map[string]stageCert {
	t.Helper()
	code, stdout, stderr := runArgs(t, append([]string{"inspect", file, "--json"}, flags...)...)
	if code != 0 {
		t.Fatalf("inspect %s %v: exit %d: %s", file, flags, code, stderr)
	}
	var r struct {
		Layers []stageCert `json:"layers"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("inspect %s --json: %v\n%s", file, err, stdout)
	}
	m := make(map[string]stageCert)
	for _, c := range r.Layers {
		m[c.Name] = c
	}
	return m
}

// tiledModel trains nothing (A2Q+ at P = 16, tiles of tile terms) into
// a directory beside ckpt and returns the checkpoint's path.
func tiledModel(t *testing.T, ckpt string, tile int) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(ckpt), "tiled")
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--acc-bits", "16", "--tile", itoa(tile), "--epochs", "0", "--out", dir); code != 0 {
		t.Fatalf("train --tile: exit %d: %s", code, stderr)
	}
	return filepath.Join(dir, "model.ckpt")
}

// TestInspectTiled trains nothing (A2Q+ at P = 16), once in one stage and
// once with the hidden layer in tiles of 64 terms, exports
// it as QONNX and checks that inspect reports the same tile, inner and
// outer widths for the checkpoint and for the export; that --tile 64 on
// the untiled checkpoint and on its export agree too; that --acc-bits is
// then the inner P; and that --tile refuses 0 and negative sizes.
func TestInspectTiled(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runArgs(t, "train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", dir); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	ckpt := filepath.Join(dir, "model.ckpt")
	const tile = 64 // conv2: K = 288, 5 tiles
	tiled := tiledModel(t, ckpt, tile)
	onnx, tiledONNX := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "tiled.onnx")
	for _, f := range [][2]string{{ckpt, onnx}, {tiled, tiledONNX}} {
		if code, _, stderr := runArgs(t, "export", f[0], "-o", f[1], "--calibrate"); code != 0 {
			t.Fatalf("export %s: exit %d: %s", f[0], code, stderr)
		}
	}

	want := inspectStages(t, tiled)
	conv2 := want["conv2"]
	if conv2.Tile != tile || conv2.AccBitsInner < 2 || conv2.AccBitsInner > conv2.AccBitsExact || conv2.AccBitsOuter < conv2.AccBitsExact {
		t.Fatalf("tiled checkpoint's conv2: %+v", conv2)
	}
	if want["conv1"].Tile != 0 || want["fc"].Tile != 0 {
		t.Errorf("edge layers tiled: %+v, %+v", want["conv1"], want["fc"])
	}
	// The tiled checkpoint's quantizer budgets each tile, so its integers
	// differ from the untiled one's: each is compared with its own export.
	asTiled := inspectStages(t, ckpt, "--tile", "64")
	for _, got := range []struct {
		what  string
		certs map[string]stageCert
		want  map[string]stageCert
	}{
		{"the tiled export", inspectStages(t, tiledONNX), want},
		{"the export with --tile", inspectStages(t, onnx, "--tile", "64"), asTiled},
	} {
		for name, w := range got.want {
			// A QONNX file has no target without --acc-bits.
			g := got.certs[name]
			g.AccBitsTarget, g.Certified = w.AccBitsTarget, w.Certified
			if g != w {
				t.Errorf("%s, layer %s: %+v, checkpoint %+v", got.what, name, g, w)
			}
		}
	}
	if c := asTiled["conv2"]; c.Tile != tile || c.AccBitsInner > c.AccBitsExact {
		t.Errorf("the checkpoint with --tile, conv2: %+v", c)
	}
	// Untiled, the stages are absent.
	if c := inspectStages(t, ckpt)["conv2"]; c.Tile != 0 || c.AccBitsInner != 0 || c.AccBitsOuter != 0 {
		t.Errorf("untiled conv2: %+v", c)
	}

	// --acc-bits is the inner accumulators' P.
	for _, f := range []string{tiled, tiledONNX, ckpt, onnx} {
		inner := conv2.AccBitsInner
		if f == ckpt || f == onnx {
			inner = asTiled["conv2"].AccBitsInner
		}
		for _, p := range []int{inner - 1, inner} {
			args := []string{"inspect", f, "--acc-bits", itoa(p)}
			if f == ckpt || f == onnx {
				args = append(args, "--tile", "64")
			}
			code, stdout, stderr := runArgs(t, args...)
			if want := map[bool]int{true: 0, false: 1}[p >= inner]; code != want {
				t.Errorf("%v: exit %d, want %d (P_I = %d): %s", args, code, want, inner, stderr)
			}
			if !strings.Contains(stdout, "conv2: P_I "+itoa(inner)) || !strings.Contains(stdout, "tile 64 (5 tiles)") {
				t.Errorf("%v: the text lacks conv2's stages:\n%s", args, stdout)
			}
		}
	}

	for _, f := range []string{ckpt, onnx, filepath.Join("..", "..", "qonnx", "testdata", "mnist-conv_model.onnx")} {
		for _, v := range []string{"0", "-3"} {
			code, _, stderr := runArgs(t, "inspect", f, "--tile", v)
			if code != 2 || !strings.Contains(stderr, "--tile") {
				t.Errorf("inspect %s --tile %s: exit %d, stderr %q", f, v, code, stderr)
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
