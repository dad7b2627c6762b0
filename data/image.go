package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register JPEG for image.Decode
	_ "image/png"  // register PNG for image.Decode
	"math"
	"strings"
)

// plane image: C planes of H×W values in [0, 1].
type planes struct {
	c, h, w int
	pix     []float32
}

// BT.601 luma weights, full range (JFIF), as PIL's convert("YCbCr") and Go's
// color.RGBToYCbCr use.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// maxImagePixels is the largest image, in pixels, that the photograph
// loaders decode; a larger one (or a corrupt header claiming one) is an
// error naming the file rather than an allocation that could exhaust
// memory.
const maxImagePixels = 100_000_000

// rgbImage is an 8-bit RGB image, interleaved, row-major.
type rgbImage struct {
	h, w int
	pix  []uint8 // 3*h*w
}

// decodeImage decodes a PNG or JPEG image, shrinks it to at most maxSide
// pixels on its longer side ([reduceFactor], [reduceRGB]) but never below
// minSide on its shorter side, and returns it as RGB planes, or as the luma
// plane when luma is set. Grey images give three equal planes in RGB mode.
// Luma values are rounded to the nearest multiple of 1/255, as an 8-bit
// image would store them. An image smaller than minSide on a side is an
// error. Errors name the file.
func decodeImage(b []byte, name string, luma bool, maxSide, minSide int) (*planes, error) {
	m, err := decodeRGB(b, name)
	if err != nil {
		return nil, err
	}
	if m.h < minSide || m.w < minSide {
		return nil, fmt.Errorf("data: %s: image is %d×%d, smaller than the %d×%d crop", name, m.w, m.h, minSide, minSide)
	}
	f := reduceFactor(m.h, m.w, maxSide)
	for f > 1 && min(m.h, m.w)/f < minSide {
		f--
	}
	if f > 1 {
		m = reduceRGB(m, f)
	}
	return m.planes(luma), nil
}

// decodeRGB decodes a PNG or JPEG image into 8-bit RGB. Alpha is dropped
// (the colour is composited over black). The image's size is read from its
// header first: an empty image or one of more than maxImagePixels is an
// error.
func decodeRGB(b []byte, name string) (*rgbImage, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a readable PNG or JPEG image: %w", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("data: %s: empty %s image (%d×%d)", name, strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("data: %s: %s image of %d×%d pixels, more than the %d-megapixel limit", name, strings.ToUpper(format), cfg.Width, cfg.Height, maxImagePixels/1_000_000)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a readable %s image: %w", name, strings.ToUpper(format), err)
	}
	r := img.Bounds()
	h, w := r.Dy(), r.Dx()
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("data: %s: empty image", name)
	}
	rgb := make([]uint8, 3*h*w)
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				o := 3 * (y*w + x)
				rgb[o], rgb[o+1], rgb[o+2] = v, v, v
			}
		}
	case *image.RGBA:
		// Opaque images decode as RGBA; alpha is dropped (premultiplied).
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				o := 3 * (y*w + x)
				rgb[o], rgb[o+1], rgb[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yi, ci := m.YOffset(x+r.Min.X, y+r.Min.Y), m.COffset(x+r.Min.X, y+r.Min.Y)
				o := 3 * (y*w + x)
				rgb[o], rgb[o+1], rgb[o+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
	default:
		// Paletted, NRGBA, 16-bit and other images: composite over black.
		for y := range h {
			for x := range w {
				cr, cg, cb, _ := img.At(x+r.Min.X, y+r.Min.Y).RGBA()
				o := 3 * (y*w + x)
				rgb[o], rgb[o+1], rgb[o+2] = uint8(cr>>8), uint8(cg>>8), uint8(cb>>8)
			}
		}
	}
	return &rgbImage{h: h, w: w, pix: rgb}, nil
}

// reduceFactor returns the smallest integer factor f ≥ 1 such that the
// longer side of an h×w image divided by f is at most maxSide (1 when
// maxSide is not positive).
func reduceFactor(h, w, maxSide int) int {
	if maxSide <= 0 {
		return 1
	}
	return max(1, (max(h, w)+maxSide-1)/maxSide)
}

// reduceRGB shrinks m by the integer factor f: each output pixel is the
// mean of an f×f block of input pixels, rounded to 8 bits (PIL's
// Image.reduce, PyTorch's interpolate(mode="area")). The last h mod f rows
// and w mod f columns are dropped. Averaging whole blocks removes the
// noise and the 8×8-block artefacts of a JPEG photograph far better than
// an interpolating filter.
func reduceRGB(m *rgbImage, f int) *rgbImage {
	h, w := m.h/f, m.w/f
	out := &rgbImage{h: h, w: w, pix: make([]uint8, 3*h*w)}
	sums := make([]uint32, 3*w)
	half := uint32(f * f / 2)
	for y := range h {
		clear(sums)
		for dy := range f {
			row := m.pix[3*(y*f+dy)*m.w:]
			for x := range w {
				s := sums[3*x : 3*x+3]
				for dx := range f {
					p := row[3*(x*f+dx) : 3*(x*f+dx)+3]
					s[0] += uint32(p[0])
					s[1] += uint32(p[1])
					s[2] += uint32(p[2])
				}
			}
		}
		dst := out.pix[3*y*w : 3*(y+1)*w]
		for i, s := range sums {
			dst[i] = uint8((s + half) / uint32(f*f))
		}
	}
	return out
}

// planes converts m to RGB planes in [0, 1], or to its 8-bit luma plane.
func (m *rgbImage) planes(luma bool) *planes {
	h, w, rgb := m.h, m.w, m.pix
	if luma {
		p := &planes{c: 1, h: h, w: w, pix: make([]float32, h*w)}
		for i := range p.pix {
			v := lumaR*float64(rgb[3*i]) + lumaG*float64(rgb[3*i+1]) + lumaB*float64(rgb[3*i+2])
			p.pix[i] = byteToUnit[uint8(math.Round(v))]
		}
		return p
	}
	p := &planes{c: 3, h: h, w: w, pix: make([]float32, 3*h*w)}
	for i := range h * w {
		for c := range 3 {
			p.pix[c*h*w+i] = byteToUnit[rgb[3*i+c]]
		}
	}
	return p
}

// crop copies the size×size window at (y0, x0) of every plane into dst
// (C×size×size).
func (p *planes) crop(dst []float32, y0, x0, size int) {
	for c := range p.c {
		for y := range size {
			src := p.pix[c*p.h*p.w+(y0+y)*p.w+x0:]
			copy(dst[(c*size+y)*size:(c*size+y+1)*size], src[:size])
		}
	}
}
