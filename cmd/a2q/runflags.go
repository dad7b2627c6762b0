package main

import (
	"flag"
	"runtime"

	"github.com/a2qtoolkit/a2q/intgemm"
)

// runFlags are the flags of the commands that run a model on test images:
// --limit, --threads and, where the integer engine runs, --mode.
type runFlags struct {
	limit, threads *int
	mode           *string // nil: the command has no --mode
}

// addRunFlags registers the flags on fs with the command's own wording of
// --limit and --threads.
func addRunFlags(fs *flag.FlagSet, limitUsage, threadsUsage string, withMode bool) *runFlags {
	r := &runFlags{limit: fs.Int("limit", 0, limitUsage), threads: fs.Int("threads", runtime.NumCPU(), threadsUsage)}
	if withMode {
		r.mode = fs.String("mode", "wrap", "accumulator overflow behaviour: exact (count only), wrap (two's complement) or saturate")
	}
	return r
}

// check validates the flags and returns the accumulator mode (wrap for a
// command without --mode).
func (r *runFlags) check() (intgemm.Mode, error) {
	if *r.limit < 0 || *r.threads < 1 {
		return 0, usagef("--limit must be non-negative and --threads positive")
	}
	if r.mode == nil {
		return intgemm.Wrap, nil
	}
	mode, err := intgemm.ParseMode(*r.mode)
	if err != nil {
		return 0, usagef("--mode: %v", err)
	}
	return mode, nil
}
