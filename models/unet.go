package models

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/graph"
)

// unetWidths are the U-Net's channel widths by level, from the input's
// resolution down to the bottleneck; each level below the first halves
// the resolution.
var unetWidths = []int{16, 32, 64}

// unetGraph is a U-Net (Ronneberger et al. 2015) for super-resolution,
// built like the zoo's ESPCN: every convolution 3×3 with a bias,
// followed by a ReLU. The encoder has a level per width of unetWidths,
// two convolutions each, with 2×2 max pooling between levels; the decoder
// climbs back up by nearest-neighbour resize convolutions (upscaling by
// 2, then a convolution to the level's width: Brevitas's
// QuantNearestNeighborConvolution, which avoids the checkerboard
// artefacts of transposed convolutions), concatenates the encoder's
// output at that level (the skip) before the upscaled features, and
// applies two convolutions. A 3×3 convolution of those features and the
// image itself (concatenated, as in the zoo's ESPCN) to C·r² channels and
// a pixel shuffle by r give the image. Like ESPCN, its activation
// quantizers calibrate on the maximum.
//
// There are no batch norms: every path from the image to the output
// would go through one, and training-mode batch statistics over a batch
// of small crops take away the batch's mean brightness, which the output
// must reproduce.
//
// Any side of at least four pixels (two poolings) works: a pooling of an
// odd side first pads it by one zero row or column at the bottom or right
// (the values are ReLU outputs, so this is ceiling-mode max pooling), and
// where the upscaled side is then one longer than the skip's, the resize
// convolution pads one row or column less at the bottom or right, so that
// its output has the skip's size.
func unetGraph(c Config) (*graph.Graph, error) {
	if c.Scale < 2 {
		return nil, fmt.Errorf("needs an upscaling factor of at least 2, got %d", c.Scale)
	}
	pools := len(unetWidths) - 1
	if least := 1 << pools; c.InH < least || c.InW < least {
		return nil, fmt.Errorf("input %dx%d: %d poolings by 2 need at least %dx%d pixels", c.InH, c.InW, pools, least, least)
	}
	type level struct {
		skip string // the encoder's output at this level
		h, w int
	}
	levels := make([]level, len(unetWidths))
	z := newZoo(c)
	h, w, in := c.InH, c.InW, c.InC
	for i, width := range unetWidths {
		name := fmt.Sprintf("enc%d", i+1)
		if i == len(unetWidths)-1 {
			name = "mid"
		}
		if i > 0 {
			if h%2 != 0 || w%2 != 0 {
				z.add(graph.Node{Name: fmt.Sprintf("pool%d.pad", i), Op: graph.Pad, Pads: []int{0, 0, h % 2, w % 2}})
			}
			z.add(graph.Node{Name: fmt.Sprintf("pool%d", i), Op: graph.MaxPool, Kernel: 2})
			h, w = (h+1)/2, (w+1)/2
		}
		z.convReLU(name+".conv1", in, width, 1)
		levels[i] = level{skip: z.convReLU(name+".conv2", width, width, 1), h: h, w: w}
		in = width
	}
	for i := pools - 1; i >= 0; i-- {
		name, width, l := fmt.Sprintf("dec%d", i+1), unetWidths[i], levels[i]
		z.add(graph.Node{Name: name + ".up", Op: graph.Resize, Factor: 2})
		// The upscaled side is the skip's, or one more where the skip's is odd.
		dh, dw := 2*levels[i+1].h-l.h, 2*levels[i+1].w-l.w
		pad := 1
		if dh != 0 || dw != 0 {
			z.add(graph.Node{Name: name + ".upconv.pad", Op: graph.Pad, Pads: []int{1, 1, 1 - dh, 1 - dw}})
			pad = 0
		}
		up := z.convReLU(name+".upconv", in, width, pad)
		z.add(graph.Node{Name: name + ".cat", Op: graph.Concat, Inputs: []string{l.skip, up}})
		z.convReLU(name+".conv1", 2*width, width, 1)
		z.convReLU(name+".conv2", width, width, 1)
		in = width
	}
	z.add(graph.Node{Name: "skip", Op: graph.Concat, Inputs: []string{z.last, "input"}})
	z.conv("head", in+c.InC, c.InC*c.Scale*c.Scale, 3, 1, 1, 1, true)
	z.add(graph.Node{Name: "shuffle", Op: graph.DepthToSpace, Factor: c.Scale})
	return z.g, nil
}

// convReLU appends a 3×3 convolution with bias, padding pad, and its ReLU
// "NAME.relu".
func (z *zoo) convReLU(name string, in, out, pad int) string {
	z.conv(name, in, out, 3, 1, pad, 1, true)
	return z.add(graph.Node{Name: name + ".relu", Op: graph.ReLU})
}
