package tensor

import (
	"slices"
	"testing"
)

// TestLayouts checks NCHWToNHWC on a small image by its definition and
// NHWCToNCHW as its inverse, for one and several channels.
func TestLayouts(t *testing.T) {
	for _, c := range []int{1, 3} {
		const n, h, w = 2, 2, 3
		src := make([]float32, n*c*h*w)
		for i := range src {
			src[i] = float32(i)
		}
		nhwc := make([]float32, len(src))
		NCHWToNHWC(nhwc, src, n, c, h, w)
		for b := 0; b < n; b++ {
			for ch := 0; ch < c; ch++ {
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						if got, want := nhwc[((b*h+y)*w+x)*c+ch], src[((b*c+ch)*h+y)*w+x]; got != want {
							t.Fatalf("c = %d: NHWC[%d,%d,%d,%d] = %v, want %v", c, b, y, x, ch, got, want)
						}
					}
				}
			}
		}
		back := make([]float32, len(src))
		NHWCToNCHW(back, nhwc, n, c, h, w)
		if !slices.Equal(back, src) {
			t.Errorf("c = %d: NHWCToNCHW(NCHWToNHWC(x)) ≠ x", c)
		}
	}
}
