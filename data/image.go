package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register JPEG for image.Decode
	_ "image/png"  // register PNG for image.Decode
	"math"
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

// decodeImage decodes a PNG or JPEG image into RGB planes, or into the luma
// plane when luma is set. Grey images give three equal planes in RGB mode.
// Luma values are rounded to the nearest multiple of 1/255, as an 8-bit
// image would store them.
func decodeImage(b []byte, name string, luma bool) (*planes, error) {
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	r := img.Bounds()
	h, w := r.Dy(), r.Dx()
	if h == 0 || w == 0 {
		return nil, fmt.Errorf("data: %s: empty image", name)
	}
	rgb := make([]uint8, 3*h*w) // interleaved 8-bit RGB
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
	if luma {
		p := &planes{c: 1, h: h, w: w, pix: make([]float32, h*w)}
		for i := range p.pix {
			v := lumaR*float64(rgb[3*i]) + lumaG*float64(rgb[3*i+1]) + lumaB*float64(rgb[3*i+2])
			p.pix[i] = byteToUnit[uint8(math.Round(v))]
		}
		return p, nil
	}
	p := &planes{c: 3, h: h, w: w, pix: make([]float32, 3*h*w)}
	for i := range h * w {
		for c := range 3 {
			p.pix[c*h*w+i] = byteToUnit[rgb[3*i+c]]
		}
	}
	return p, nil
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
