package tensor

// DepthToSpaceDCR rearranges N×H×W×(C·r·r) into N×(H·r)×(W·r)×C like
// PixelShuffle, but in ONNX DepthToSpace's DCR channel order: input channel
// (i·r + j)·C + c goes to output pixel (h·r+i, w·r+j), channel c. Each
// (i, j) block of C channels moves as one run. With inverse set it performs
// the opposite gather (the adjoint), adding into x from y.
func DepthToSpaceDCR[T uint8 | int32 | float32](n, h, w, c, r int, x, y []T, inverse bool) {
	cin := c * r * r
	wr := w * r
	for b := 0; b < n; b++ {
		for hh := 0; hh < h; hh++ {
			for ww := 0; ww < w; ww++ {
				xi := x[((b*h+hh)*w+ww)*cin:][:cin]
				for i := 0; i < r; i++ {
					row := y[((b*h*r+hh*r+i)*wr+ww*r)*c:][:r*c]
					src := xi[i*r*c:][:r*c]
					if inverse {
						for k, v := range row {
							src[k] += v
						}
					} else {
						copy(row, src)
					}
				}
			}
		}
	}
}
