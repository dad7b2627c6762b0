package data

import "fmt"

// Downscaled returns a super-resolution set made from the images of s:
// each input is its image averaged over f×f blocks (PyTorch's
// interpolate(mode="area") for an integer factor), each target the image
// itself. The image sides must be multiples of f. Labels are dropped.
func Downscaled(s *Set, f int) (*Set, error) {
	if f < 2 || s.H%f != 0 || s.W%f != 0 {
		return nil, fmt.Errorf("data: set %q: cannot downscale %dx%d images by %d", s.Name, s.H, s.W, f)
	}
	h, w := s.H/f, s.W/f
	d := &Set{Name: fmt.Sprintf("%s/%d", s.Name, f), N: s.N, C: s.C, H: h, W: w,
		X: make([]float32, s.N*s.C*h*w), Y: s.X, TC: s.C, TH: s.H, TW: s.W}
	inv := 1 / float32(f*f)
	for i := 0; i < s.N*s.C; i++ {
		src, dst := s.X[i*s.H*s.W:][:s.H*s.W], d.X[i*h*w:][:h*w]
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var sum float32
				for dy := 0; dy < f; dy++ {
					for dx := 0; dx < f; dx++ {
						sum += src[(y*f+dy)*s.W+x*f+dx]
					}
				}
				dst[y*w+x] = sum * inv
			}
		}
	}
	return d, nil
}
