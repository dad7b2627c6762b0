// Package tensor provides a2q's float32 tensors and the CPU kernels the
// training engine is built from: im2col convolution lowering (stride,
// padding, groups), pooling, and a goroutine splitter that keeps work on as
// many threads as the caller asks for and no more.
//
// Conventions. A Tensor is a shape and a dense row-major []float32. Images
// are NHWC: batch, height, width, channels, with channels innermost, so
// that one pixel's channels are contiguous. Convolution weights are
// [Cout, KH, KW, Cin/groups]: each output channel's dot-product vector of
// K = KH·KW·Cin/groups weights is one contiguous row, which is what the
// per-channel quantizers and accumulator bounds work on. Matrix products go
// through package gemm.
//
// Kernels panic with a message naming the operation and the shapes when
// called with mismatched shapes: that is a programmer error, not bad data.
package tensor
