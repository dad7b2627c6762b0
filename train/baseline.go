package train

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/metrics"
)

// SRBaselines returns the mean PSNR in dB, as Evaluate computes it, of two
// upscalers that learn nothing on the super-resolution set s: flat, an
// image of each input's mean brightness (the analogue of chance level: a
// model below it has not learnt to use its input), and bicubic, bicubic
// interpolation of each input (data.ResizeBicubic).
func SRBaselines(s *data.Set) (flat, bicubic float64, err error) {
	if s.Y == nil || s.N == 0 {
		return 0, 0, fmt.Errorf("SR baselines: %q is not a non-empty super-resolution set", s.Name)
	}
	if s.TC != s.C || s.TH < s.H || s.TW < s.W {
		return 0, 0, fmt.Errorf("SR baselines: targets %d×%d×%d do not upscale inputs %d×%d×%d", s.TC, s.TH, s.TW, s.C, s.H, s.W)
	}
	in, out := s.H*s.W, s.TH*s.TW
	pred := make([]float32, s.TargetSize())
	for i := 0; i < s.N; i++ {
		x, y := s.Example(i), s.Target(i)
		var mean float64
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(len(x))
		for j := range pred {
			pred[j] = float32(mean)
		}
		flat += metrics.ImagePSNR(pred, y)
		for c := 0; c < s.C; c++ {
			data.ResizeBicubic(pred[c*out:(c+1)*out], s.TH, s.TW, x[c*in:(c+1)*in], s.H, s.W)
		}
		bicubic += metrics.ImagePSNR(pred, y)
	}
	n := float64(s.N)
	return flat / n, bicubic / n, nil
}
