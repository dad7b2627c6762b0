// Package bench measures a2q's kernels, training and inference throughput
// for `a2q bench`. Results are rates measured in one run on one machine:
// every figure comes with a reference measured in the same run (gonum's
// Sgemm for the float32 GEMM, the machine's FMA peak, 32-bit accumulation for
// the integer kernels), and the compared paths alternate call by call so that
// load from other processes hits both alike. Ratios are meaningful; absolute
// numbers vary with the machine and its load.
//
// Functions take a context.Context and a minimum measuring time, and return
// plain structs tagged for the `--json` output of the command.
package bench
