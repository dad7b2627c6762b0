package main

// The rules for the files a2q reads and writes, end to end: inputs that are
// not regular files, outputs that are devices, named pipes or links, the
// output directory's lock, and interrupted runs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/fileio"
)

// helperArgsEnv carries the arguments of a2q run by TestA2QHelper, one per
// line.
const helperArgsEnv = "A2Q_TEST_HELPER_ARGS"

// helperMemory bounds the address space of TestA2QHelper.
const helperMemory = 4 << 30

// TestA2QHelper runs a2q in a subprocess of the test binary, as main does;
// it is started by a2qProcess.
func TestA2QHelper(t *testing.T) {
	args := os.Getenv(helperArgsEnv)
	if args == "" {
		t.Skip("runs a2q in a subprocess for other tests")
	}
	// A reader that never ends fails in seconds rather than filling the
	// machine's memory.
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: helperMemory, Max: helperMemory}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signalContext()
	defer stop()
	os.Exit(run(ctx, strings.Split(args, "\n"), &env{stdout: os.Stdout, stderr: os.Stderr}))
}

// a2qProcess returns the command that runs a2q with args in a subprocess.
func a2qProcess(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestA2QHelper$")
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join(args, "\n"))
	return cmd
}

// runProcess runs a2q with args in a subprocess that is killed if it has not
// returned within limit, and returns its exit status and stderr.
func runProcess(t *testing.T, limit time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := a2qProcess(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("a2q %s did not return within %v (killed)", strings.Join(args, " "), limit)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// head returns the start of s, for an error message.
func head(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// TestNonRegularInputs gives the commands a device, named pipes and a
// directory as their model or data file: each must refuse it promptly
// (exit 2, naming the path) instead of reading forever or waiting for a
// writer.
func TestNonRegularInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.ckpt")
	fifoONNX := filepath.Join(dir, "model.onnx")
	cifar := filepath.Join(dir, "cifar")
	if err := os.Mkdir(cifar, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, fifoONNX, filepath.Join(cifar, "data_batch_1.bin")} {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cifar, "test_batch.bin"), make([]byte, 3073), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var cases [][]string
	for _, in := range []string{"/dev/zero", fifo, fifoONNX, dir} {
		for _, cmd := range [][]string{{"inspect"}, {"eval"}, {"verify"}, {"export", "-o", filepath.Join(out, "x.onnx")}, {"hw"}} {
			cases = append(cases, append([]string{cmd[0], in}, cmd[1:]...))
		}
		cases = append(cases, []string{"train", "--init-from", in, "--epochs", "0", "--out", out})
	}
	cases = append(cases, []string{"train", "--model", fifoONNX, "--epochs", "0", "--out", out},
		[]string{"train", "--data", cifar, "--epochs", "0", "--out", out})
	for _, args := range cases {
		t.Run(strings.ReplaceAll(strings.Join(args, " "), dir, "DIR"), func(t *testing.T) {
			t.Parallel()
			code, stderr := runProcess(t, time.Minute, args...)
			named := args[1]
			for i, a := range args {
				if a == "--init-from" || a == "--model" || a == "--data" {
					named = args[i+1]
				}
			}
			if code != exitUsage || !strings.Contains(stderr, named) || !strings.Contains(stderr, "not a regular file") && !strings.Contains(stderr, "is a directory") {
				t.Errorf("exit %d (want %d), stderr %q (want it to name %s and say it is not a regular file)", code, exitUsage, head(stderr), named)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(out, "x.onnx")); err == nil {
		t.Errorf("an export of a non-regular file wrote its output")
	}
}

// TestOutputsNotClobbered writes outputs to devices, named pipes and links:
// a device or a pipe is refused (exit 2, naming it) and stays what it was;
// a link is written through and stays a link.
func TestOutputsNotClobbered(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model.ckpt")
	calibratedCheckpoint(t, ckpt)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	isDevice := func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.Mode()&os.ModeDevice != 0 }
	isFifo := func(p string) bool { fi, err := os.Lstat(p); return err == nil && fi.Mode()&os.ModeNamedPipe != 0 }
	refused := []struct {
		name  string
		args  []string
		path  string
		still func(string) bool
	}{
		{"verify --save device", []string{"verify", ckpt, "--limit", "10", "--save", os.DevNull}, os.DevNull, isDevice},
		{"verify --save pipe", []string{"verify", ckpt, "--limit", "10", "--save", fifo}, fifo, isFifo},
		{"export -o device", []string{"export", ckpt, "-o", os.DevNull}, os.DevNull, isDevice},
		{"export -o pipe", []string{"export", ckpt, "-o", fifo}, fifo, isFifo},
		{"hw --plot device", []string{"hw", ckpt, "--plot", os.DevNull}, os.DevNull, isDevice},
		{"hw --plot pipe", []string{"hw", ckpt, "--plot", fifo}, fifo, isFifo},
	}
	for _, c := range refused {
		code, _, stderr := runArgs(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.path) || !strings.Contains(stderr, "not a regular file") {
			t.Errorf("%s: exit %d (want %d), stderr %q (want it to name %s)", c.name, code, exitUsage, stderr, c.path)
		}
		if !c.still(c.path) {
			t.Errorf("%s: %s was replaced", c.name, c.path)
		}
	}

	// Links: the target is written, the link kept.
	linked := []struct {
		name   string
		args   []string
		link   string // created as a link to link + ".target"
		prefix string // what the written target starts with
	}{
		{"export -o link", []string{"export", ckpt, "-o", filepath.Join(dir, "link.onnx")}, filepath.Join(dir, "link.onnx"), "\x08"},
		{"verify --save link", []string{"verify", ckpt, "--limit", "10", "--save", filepath.Join(dir, "link.a2qi")}, filepath.Join(dir, "link.a2qi"), ""},
		{"hw --plot link", []string{"hw", ckpt, "--plot", filepath.Join(dir, "link.png")}, filepath.Join(dir, "link.png"), "\x89PNG"},
		{"train --out with report.json a link", []string{"train", "--quant", "a2q+", "--acc-bits", "16", "--epochs", "0", "--out", filepath.Join(dir, "trained")},
			filepath.Join(dir, "trained", "report.json"), "{"},
	}
	for _, c := range linked {
		if err := os.MkdirAll(filepath.Dir(c.link), 0o755); err != nil {
			t.Fatal(err)
		}
		target := c.link + ".target"
		if err := os.Symlink(filepath.Base(target), c.link); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runArgs(t, c.args...); code != exitOK {
			t.Errorf("%s: exit %d: %s", c.name, code, stderr)
			continue
		}
		if fi, err := os.Lstat(c.link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: the link %s was replaced (%v)", c.name, c.link, err)
		}
		b, err := os.ReadFile(target)
		if err != nil || len(b) == 0 || !bytes.HasPrefix(b, []byte(c.prefix)) {
			t.Errorf("%s: the link's target %s holds %d bytes (%v), want them to start with %q", c.name, target, len(b), err, c.prefix)
		}
	}
}

// TestOutputDirLocked runs train and sweep on a directory another run
// holds: each fails at once (exit 2) naming the holder, and works once the
// holder is gone, including a holder killed with SIGKILL; the temporary
// files a killed run left are removed.
func TestOutputDirLocked(t *testing.T) {
	dir := t.TempDir()
	trainDir, sweepDir := filepath.Join(dir, "train"), filepath.Join(dir, "sweep")
	trainArgs := []string{"train", "--model", "mlp", "--from-scratch", "--epochs", "0", "--out", trainDir}
	sweepArgs := []string{"sweep", "--model", "mlp", "--quant", "a2q+", "--bits", "4", "--acc-bits", "16",
		"--epochs", "0", "--float-epochs", "0", "--train-limit", "200", "--test-limit", "100", "--out", sweepDir}
	for _, args := range [][]string{trainArgs, sweepArgs} {
		out := args[len(args)-1]
		unlock, err := fileio.Lock(out)
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runArgs(t, args...)
		want := fmt.Sprintf("%s is in use by pid %d", out, os.Getpid())
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%s on a held directory: exit %d (want %d), stderr %q (want it to say %q)", args[0], code, exitUsage, head(stderr), want)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runArgs(t, args...); code != exitOK {
			t.Errorf("%s after the holder ended: exit %d: %s", args[0], code, stderr)
		}
	}
	// hw --synth holds its --work directory.
	work := filepath.Join(dir, "work")
	unlock, err := fileio.Lock(work)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runArgs(t, "hw", filepath.Join(trainDir, "model.ckpt"), "--synth", "--work", work)
	if want := fmt.Sprintf("%s is in use by pid %d", work, os.Getpid()); code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("hw --synth --work on a held directory: exit %d (want %d), stderr %q (want it to say %q)", code, exitUsage, head(stderr), want)
	}
	unlock()

	// A holder killed with SIGKILL mid-run.
	killed := filepath.Join(dir, "killed")
	long := append([]string(nil), trainArgs...)
	long[5], long[7] = "100", killed
	cmd := a2qProcess(context.Background(), long...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForHolder(t, killed, cmd.Process.Pid)
	if code, _, stderr := runArgs(t, "train", "--model", "mlp", "--from-scratch", "--epochs", "0", "--out", killed); code != exitUsage || !strings.Contains(stderr, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("train while another process holds the directory: exit %d, stderr %q", code, stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	orphan := filepath.Join(killed, ".model.ckpt.tmp123456789")
	if err := os.WriteFile(orphan, []byte("half a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runArgs(t, "train", "--model", "mlp", "--from-scratch", "--epochs", "0", "--out", killed)
	if code != exitOK {
		t.Fatalf("train after the holder was killed: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("the orphan %s is still there (%v)", orphan, err)
	}
	if !strings.Contains(stderr, filepath.Base(orphan)) {
		t.Errorf("train did not say it removed %s: %q", filepath.Base(orphan), stderr)
	}
}

// waitForHolder waits until process pid holds dir's lock.
func waitForHolder(t *testing.T, dir string, pid int) {
	t.Helper()
	want := fmt.Sprintf("pid %d ", pid)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, fileio.LockName)); err == nil && strings.HasPrefix(string(b), want) {
			return
		}
	}
	t.Fatalf("process %d did not lock %s within a minute", pid, dir)
}

// TestTerminated stops a training with SIGTERM: it must stop as Ctrl-C
// stops it, exit 3 and say that rerunning the command resumes.
func TestTerminated(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := a2qProcess(ctx, "train", "--model", "mlp", "--from-scratch", "--epochs", "100", "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForHolder(t, out, cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("train did not stop within two minutes of SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitRunFailure || !strings.Contains(stderr.String(), "run the same command again to resume") {
		t.Errorf("train stopped by SIGTERM: exit %d (want %d), stderr %q", code, exitRunFailure, head(stderr.String()))
	}
}
