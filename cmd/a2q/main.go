// Command a2q trains quantized neural networks whose integer dot products
// provably never overflow a P-bit accumulator, certifies them layer by
// layer, and measures the engine.
//
// Usage:
//
//	a2q <command> [flags] [args]
//
// Commands:
//
//	train    train a model (float, baseline, a2q or a2q+) and write DIR/model.ckpt and DIR/report.json
//	eval     evaluate a checkpoint on a data set
//	inspect  print the per-layer accumulator certificate of a checkpoint or QONNX file
//	verify   run a checkpoint as integers with P-bit accumulators: bit-exactness, overflows
//	export   write a checkpoint as a QONNX model for FINN
//	hw       FINN's LUT estimate per layer at the certified P and at 32; synthesis and simulation
//	sweep    train a grid of quantizers × bit widths × P; tables and plots
//	bench    measure GEMM, training and integer-inference throughput
//
// Every command takes --json and then prints one JSON document on stdout;
// progress goes to stderr.
//
// Exit status:
//
//	0  success
//	1  a check failed (an uncertified layer, an overflow, a mismatch)
//	2  bad usage or bad input (an unknown flag, a missing or malformed file)
//	3  the run failed for another reason (a file that cannot be written,
//	   a full disk, training that diverged, an interrupt)
//
// The contract is docs/CLI.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/a2qtoolkit/a2q/fileio"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) error
}

// env is what a command writes to.
type env struct {
	stdout, stderr io.Writer
}

var commands = []command{
	{"train", "train a model and write DIR/model.ckpt and DIR/report.json", runTrain},
	{"quantize", "quantize a float model after training within a P-bit accumulator (quantize MODEL --method rtn|gptq|gpfq --acc-bits P --out DIR)", runQuantize},
	{"eval", "evaluate a checkpoint on a data set", runEval},
	{"inspect", "print the per-layer accumulator certificate of a checkpoint or QONNX file", runInspect},
	{"verify", "run a checkpoint as integers with P-bit accumulators; check bit-exactness and overflows", runVerify},
	{"export", "write a checkpoint as a QONNX model for FINN (export CKPT --format qonnx -o FILE.onnx)", runExport},
	{"bench", "measure GEMM, training and inference throughput (bench gemm|train|infer)", runBench},
	{"hw", "LUT cost of a checkpoint's layers at their certified accumulator widths and at 32 (--synth: Yosys, Icarus)", runHW},
	{"sweep", "train a grid of quantizers × bit widths × accumulator widths P; tables and plots (sweep --help)", runSweep},
}

// resumeHint says where an interrupted run of command cmd resumes, or ""
// for a command that does not resume.
func resumeHint(cmd string) string {
	switch cmd {
	case "train":
		return "after the last completed epoch"
	case "sweep":
		return "(finished points are kept, the point in progress resumes after its last completed epoch)"
	}
	return ""
}

// Exit statuses; see the package comment.
const (
	exitOK         = 0
	exitCheck      = 1
	exitUsage      = 2
	exitRunFailure = 3
)

// usageError is bad usage or bad input: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// checkFailed is a failed check (uncertified layer, overflow): exit status 1.
type checkFailed struct{ error }

func (e checkFailed) Unwrap() error { return e.error }

// exitStatus classifies the error a command returned. A failed check is
// 1. An interrupt, or a failure to write (creating a directory or a
// temporary file, writing, syncing or renaming; a full, read-only or
// failing disk), is a run failure, 3, even when the command blamed the
// flag that named the path. An output directory another run holds is bad
// usage, 2: wait, or use another directory. Other errors marked as usage
// are 2, and everything else is a run failure.
func exitStatus(err error) int {
	var cf checkFailed
	if errors.As(err, &cf) {
		return exitCheck
	}
	if le := (*fileio.LockedError)(nil); errors.As(err, &le) {
		return exitUsage
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || failedWrite(err) {
		return exitRunFailure
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRunFailure
}

// failedWrite reports whether err comes from writing to the file system.
func failedWrite(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var pe *os.PathError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Op {
	case "mkdir", "mkdirtemp", "createtemp", "write", "sync", "rename", "truncate":
		return true
	}
	return false
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signalContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr}))
}

// signalContext returns the context of a command, cancelled by Ctrl-C
// (SIGINT) or SIGTERM (kill, a batch scheduler's time limit): either stops
// a run between steps, with the last checkpoint kept.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "a2q %s: %v\n", c.name, err)
		if resume := resumeHint(c.name); resume != "" && errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "a2q %s: interrupted; run the same command again to resume %s\n", c.name, resume)
		}
		return exitStatus(err)
	}
	fmt.Fprintf(e.stderr, "a2q: unknown command %q\n", args[0])
	printUsage(e.stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: a2q <command> [flags] [args]\n\ncommands:")
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'a2q <command> -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: a2q %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses the flags of a command that takes no positional argument,
// allowing nothing but flags: a stray argument is bad usage.
func parse(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument(s) %q: this command takes flags only", pos)
	}
	return nil
}

// parseOne is parse for commands that take exactly one file (what names
// it in the usage error: "checkpoint", "file").
func parseOne(fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", usagef("want one %s, got none", what)
	case 1:
		return pos[0], nil
	}
	return "", usagef("want one %s, got %d arguments %q", what, len(pos), pos)
}

// parseArgs parses flags, allowing them before and after positional
// arguments, and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
