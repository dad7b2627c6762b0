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
// progress goes to stderr. Exit status is 0 on success, 1 when a check
// fails (an uncertified layer, an overflow) and 2 on bad usage or input.
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
	{"eval", "evaluate a checkpoint on a data set", runEval},
	{"inspect", "print the per-layer accumulator certificate of a checkpoint or QONNX file", runInspect},
	{"verify", "run a checkpoint as integers with P-bit accumulators; check bit-exactness and overflows", runVerify},
	{"export", "write a checkpoint as a QONNX model for FINN (export CKPT --format qonnx -o FILE.onnx)", runExport},
	{"bench", "measure GEMM, training and inference throughput (bench gemm|train|infer)", runBench},
	{"hw", "LUT cost of a checkpoint's layers at their certified accumulator widths and at 32 (--synth: Yosys, Icarus)", runHW},
	{"sweep", "train a grid of quantizers × bit widths × accumulator widths P; tables and plots (sweep --help)", runSweep},
}

// usageError is bad usage or bad input: exit status 2.
type usageError struct{ error }

// checkFailed is a failed check (uncertified layer, overflow): exit status 1.
type checkFailed struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr}))
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(e.stderr, "a2q %s: %v\n", c.name, err)
		var cf checkFailed
		if errors.As(err, &cf) {
			return 1
		}
		return 2
	}
	fmt.Fprintf(e.stderr, "a2q: unknown command %q\n", args[0])
	printUsage(e.stderr)
	return 2
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

// parse parses flags, allowing them before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
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

// parseOne is parse for commands that take exactly one file (what names
// it in the usage error: "checkpoint", "file").
func parseOne(fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("want one %s, got %d arguments", what, len(pos))
	}
	return pos[0], nil
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
