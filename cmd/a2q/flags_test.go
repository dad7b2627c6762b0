package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadNumericFlags: a learning rate that is not a positive finite
// number, a negative weight decay and bit widths out of range are bad
// usage (exit 2), refused at the flag, which the message names, before
// any output directory is created.
func TestBadNumericFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		cmd  string
		flag string // the flag the message must name
		args []string
	}{
		{"train", "--weight-decay", []string{"--weight-decay", "-5"}},
		{"train", "--weight-decay", []string{"--weight-decay", "NaN"}},
		{"train", "--weight-decay", []string{"--weight-decay", "Inf"}},
		{"train", "--lr", []string{"--lr", "NaN"}},
		{"train", "--lr", []string{"--lr", "-1"}},
		{"train", "--lr", []string{"--lr", "0"}},
		{"train", "--lr", []string{"--lr", "Inf"}},
		{"train", "--lr", []string{"--lr", "-Inf"}},
		{"train", "--float-lr", []string{"--float-lr", "NaN"}},
		{"train", "--float-lr", []string{"--float-lr", "0"}},
		{"train", "--float-lr", []string{"--float-lr", "-1"}},
		{"train", "--float-lr", []string{"--float-lr", "+Inf"}},
		{"train", "--float-epochs", []string{"--float-epochs", "-5"}},
		{"train", "--weight-bits", []string{"--weight-bits", "0"}},
		{"train", "--weight-bits", []string{"--weight-bits", "17"}},
		{"train", "--act-bits", []string{"--act-bits", "0"}},
		{"train", "--edge-bits", []string{"--edge-bits", "1"}},
		{"train", "--epochs", []string{"--epochs", "-1"}},
		{"train", "--batch", []string{"--batch", "0"}},
		{"train", "--threads", []string{"--threads", "0"}},
		{"train", "--schedule", []string{"--schedule", "linear"}},
		{"train", "--average", []string{"--average", "-1"}},
		{"train", "--average", []string{"--average", "1"}}, // more than --epochs 0
		{"sweep", "--lr", []string{"--lr", "NaN"}},
		{"sweep", "--lr", []string{"--lr", "Inf"}},
		{"sweep", "--lr", []string{"--lr", "0"}},
		{"sweep", "--fine-tune-lr", []string{"--fine-tune-lr", "NaN"}},
		{"sweep", "--fine-tune-lr", []string{"--fine-tune-lr", "-1"}},
		{"sweep", "--fine-tune-lr", []string{"--fine-tune-lr", "Inf"}},
		// Bad inputs found after the flags: still no directory left behind.
		{"train", "--model", []string{"--model", "bogus"}},
		{"train", "--model", []string{"--model", "missing.onnx"}},
		{"train", "--data", []string{"--data", "/nonexistent"}},
		{"train", "--init-from", []string{"--init-from", "/nonexistent.ckpt"}},
		{"train", "--edge-quant", []string{"--edge-quant", "float"}},
		{"train", "--tile", []string{"--tile", "0"}},
		{"train", "--edge-tile", []string{"--edge-tile", "-2"}},
		// The CNN's one hidden layer, conv2, sums K = 288 terms.
		{"train", "--tile", []string{"--tile", "288"}},
	}
	for i, c := range cases {
		out := filepath.Join(dir, c.cmd+"-"+strings.TrimLeft(c.flag, "-")+"-"+string(rune('a'+i)))
		args := append([]string{c.cmd, "--epochs", "0", "--out", out}, c.args...)
		if c.flag == "--epochs" {
			args = append([]string{c.cmd, "--out", out}, c.args...)
		}
		code, _, stderr := runArgs(t, args...)
		if code != exitUsage || !(strings.Contains(stderr, c.flag+" ") || strings.Contains(stderr, c.flag+":")) {
			t.Errorf("%s %v: exit %d (want %d), stderr %q (want it to name %s)", c.cmd, c.args, code, exitUsage, stderr, c.flag)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s %v: the output directory was created (%v)", c.cmd, c.args, err)
		}
	}
}

// TestStrayArguments: every command refuses positional arguments it does
// not take (exit 2, naming them), before it reads or writes anything.
func TestStrayArguments(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ck := filepath.Join(dir, "model.ckpt") // never read: the usage error comes first
	cases := [][]string{
		{"train", "--epochs", "0", "--out", out, "stray"},
		{"train", "stray", "--epochs", "0", "--out", out},
		{"sweep", "--out", out, "stray"},
		{"sweep", "--merge", "--out", out, "stray"},
		{"bench", "gemm", "stray"},
		{"bench", "train", "stray"},
		{"bench", "infer", "stray"},
		{"inspect", ck, "stray"},
		{"inspect", "--json", ck, "stray"},
		{"eval", ck, "stray"},
		{"verify", ck, "stray"},
		{"export", ck, "stray", "-o", filepath.Join(dir, "x.onnx")},
		{"hw", ck, "stray"},
		{"inspect", filepath.Join(dir, "m.onnx"), "stray"},
		{"eval", filepath.Join(dir, "m.onnx"), "stray"},
	}
	for _, args := range cases {
		code, _, stderr := runArgs(t, args...)
		if code != exitUsage || !strings.Contains(stderr, `"stray"`) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want it to name \"stray\")", args, code, exitUsage, stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: created %s", args, out)
		}
	}
}
