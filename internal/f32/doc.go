// Package f32 holds the float32 vector kernels of the float engine: the
// elementwise and row-wise loops around its matrix products (bias add,
// ReLU, column sums, 2×2 max pooling, the A2Q+ requantisation, the
// activation quantizer) and the depthwise convolutions and batch norms
// that have no matrix product.
//
// They are written by hand because Go does not vectorise loops and no
// maintained library provides these fused kernels with bit-exact Go
// twins. Every kernel has a pure-Go twin that defines its result and runs
// everywhere; on amd64 with AVX2 an assembly version runs instead, which
// gives bit-identical results for every input: signed zeros, infinities,
// denormals and NaN payloads included (no fused multiply-adds; a NaN keeps
// its payload and is quietened as in Go, or gets the bits the builtin min
// and max give it). The one freedom is Go's own:
// where two NaNs with different payloads meet in one addition or product,
// the result is the first operand's, and which operand is first the Go
// compiler chooses per loop; the assembly takes the left operand of the Go
// source (m in m += v). Build with the noasm tag to use the twins only.
//
// The kernels check their slice lengths and panic on a mismatch (a
// programmer error); they do not allocate.
package f32
