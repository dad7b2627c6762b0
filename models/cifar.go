package models

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/quant"
)

func init() {
	builders["mobilenet"] = builder{Classify, buildMobileNet}
	builders["resnet"] = builder{Classify, buildResNet}
}

// convBN appends a convolution (no bias: the batch norm has one), batch
// norm and, with relu, a ReLU.
func (b *build) convBN(name string, in, out, k, stride, groups int, cfg quant.LayerConfig, relu bool) error {
	l, err := quant.NewConv(name, in, out, k, autodiff.ConvOptions{Stride: stride, Pad: k / 2, Groups: groups}, false, cfg, false, b.rng)
	if err != nil {
		return err
	}
	b.add(l, nn.NewBatchNorm(name+".bn", out))
	if relu {
		b.add(nn.ReLU{})
	}
	return nil
}

// buildMobileNet is a MobileNet-style network for small colour images:
// a 3×3 convolution to 32 channels, then depthwise-separable blocks
// (3×3 depthwise, 1×1 pointwise, each with batch norm and ReLU) widening to
// 256 channels with two stride-2 stages, global average pooling and a
// linear classifier. Every depthwise and pointwise convolution is a
// constrained hidden layer.
func buildMobileNet(b *build) error {
	c := b.cfg
	if c.Classes < 2 {
		return fmt.Errorf("needs at least 2 classes, got %d", c.Classes)
	}
	if err := b.convBN("conv1", c.InC, 32, 3, 1, 1, c.First, true); err != nil {
		return err
	}
	in := 32
	for i, s := range []struct{ out, stride int }{{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}} {
		if err := b.convBN(fmt.Sprintf("block%d.dw", i+1), in, in, 3, s.stride, in, c.Hidden, true); err != nil {
			return err
		}
		if err := b.convBN(fmt.Sprintf("block%d.pw", i+1), in, s.out, 1, 1, 1, c.Hidden, true); err != nil {
			return err
		}
		in = s.out
	}
	b.add(nn.GlobalAvgPool{})
	return b.linear("fc", in, c.Classes, c.Last, false)
}

// buildResNet is a small ResNet for 32×32 colour images: a 3×3 stem to 16
// channels, three stages of one basic block each (16, 32 and 64 channels,
// the last two with stride 2 and a 1×1 projection shortcut), global average
// pooling and a linear classifier.
func buildResNet(b *build) error {
	c := b.cfg
	if c.Classes < 2 {
		return fmt.Errorf("needs at least 2 classes, got %d", c.Classes)
	}
	if err := b.convBN("conv1", c.InC, 16, 3, 1, 1, c.First, true); err != nil {
		return err
	}
	in := 16
	for i, s := range []struct{ out, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		name := fmt.Sprintf("layer%d", i+1)
		body := &build{cfg: c, rng: b.rng}
		if err := body.convBN(name+".conv1", in, s.out, 3, s.stride, 1, c.Hidden, true); err != nil {
			return err
		}
		if err := body.convBN(name+".conv2", s.out, s.out, 3, 1, 1, c.Hidden, false); err != nil {
			return err
		}
		block := &nn.Residual{Body: body.net}
		b.ls = append(b.ls, body.ls...)
		if s.stride != 1 || in != s.out {
			short := &build{cfg: c, rng: b.rng}
			if err := short.convBN(name+".shortcut", in, s.out, 1, s.stride, 1, c.Hidden, false); err != nil {
				return err
			}
			block.Shortcut = short.net
			b.ls = append(b.ls, short.ls...)
		}
		b.net = append(b.net, block, nn.ReLU{})
		in = s.out
	}
	b.add(nn.GlobalAvgPool{})
	return b.linear("fc", in, c.Classes, c.Last, false)
}
