// Package autodiff is a2q's reverse-mode automatic differentiation: a Tape
// records the operations of one training step as they run and Backward
// replays them in reverse, accumulating gradients.
//
// The set of operations is small and each has one hand-written gradient,
// checked against central finite differences in the tests (see GradCheck):
// Linear, Conv2d (stride, padding, groups), ConvTranspose2d (stride,
// padding, output padding, groups), BatchNorm, ReLU, LeakyReLU, Clip (and
// so ReLU6), Sigmoid, max/average pooling with optional symmetric padding
// (MaxPoolPad, AvgPoolPad), global-average pooling, constant spatial Pad,
// ResizeNearest (integer scales), Add, Scale, Reshape, PixelShuffle and
// DepthToSpace (CRD and DCR), Concat, and the softmax cross-entropy and
// mean-squared-error losses. Custom lets a caller
// define an operation with its own backward function, which is how the
// quantizers in package quant attach straight-through gradients.
//
// Memory. Values and gradients created by a step come from the tape's
// buffer pool and stay valid until Reset, which returns them for the next
// step: a training loop allocates almost nothing after the first batch.
// Parameters enter a step through Leaf, whose gradient accumulates into the
// parameter's own gradient tensor.
//
// Layout follows package tensor: images are NHWC, convolution weights
// [Cout, KH, KW, Cin/groups], linear weights [out, in].
package autodiff
