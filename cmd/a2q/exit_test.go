package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/a2qtoolkit/a2q/train"
)

// TestExitStatus checks the classification of the errors commands return.
func TestExitStatus(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"failed check", checkFailed{errors.New("conv2 not certified")}, exitCheck},
		{"bad flag", usagef("--quant %q: want float, baseline, a2q or a2q+", "int3"), exitUsage},
		{"missing input", usageError{fmt.Errorf("--init-from: %w", &os.PathError{Op: "open", Path: "x.ckpt", Err: syscall.ENOENT})}, exitUsage},
		{"malformed input", usageError{fmt.Errorf("x.ckpt: %w", errors.New("bad header"))}, exitUsage},
		{"unmarked", errors.New("something failed"), exitRunFailure},
		{"diverged", fmt.Errorf("epoch 2, step 17: %w", train.ErrNonFinite), exitRunFailure},
		{"interrupted", fmt.Errorf("epoch 3: %w", context.Canceled), exitRunFailure},
		{"disk full", fmt.Errorf("writing model.ckpt: %w", &os.PathError{Op: "write", Path: "model.ckpt", Err: syscall.ENOSPC}), exitRunFailure},
		{"disk full, blamed on a flag", usageError{fmt.Errorf("--save: %w", syscall.ENOSPC)}, exitRunFailure},
		{"directory not creatable, blamed on a flag", usageError{fmt.Errorf("--out: %w", &os.PathError{Op: "mkdir", Path: "f/out", Err: syscall.ENOTDIR})}, exitRunFailure},
		{"temporary file not creatable", usageError{fmt.Errorf("-o: %w", &os.PathError{Op: "createtemp", Path: "d/.x.onnx.tmp*", Err: syscall.EACCES})}, exitRunFailure},
	}
	for _, c := range cases {
		if got := exitStatus(c.err); got != c.want {
			t.Errorf("%s: exitStatus(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
}

// TestExitStatusRuns runs commands that fail in each way and checks the
// status they exit with.
func TestExitStatusRuns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("a regular file"), 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		args   []string
		code   int
		stderr string
	}{
		{"bad flag", context.Background(), []string{"train", "--no-such-flag"}, exitUsage, "no-such-flag"},
		{"help", context.Background(), []string{"train", "-h"}, exitOK, "usage"},
		{"unknown model to bench", context.Background(), []string{"bench", "train", "--model", "vgg"}, exitUsage, "vgg"},
		{"--out under a regular file", context.Background(),
			[]string{"train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", filepath.Join(file, "out")}, exitRunFailure, "--out"},
		{"interrupted", cancelled, []string{"train", "--epochs", "1", "--out", filepath.Join(dir, "interrupted")}, exitRunFailure, "cancel"},
	}
	for _, c := range cases {
		var out, errb strings.Builder
		code := run(c.ctx, c.args, &env{stdout: &out, stderr: &errb})
		if code != c.code || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want it to mention %q)", c.name, code, c.code, errb.String(), c.stderr)
		}
	}
}
