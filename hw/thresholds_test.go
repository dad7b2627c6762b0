package hw

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/tensor"
)

// TestThresholdsMatchEngine checks that the RTL units of the README's models (the zoo's CNN
// and MLP on 28×28 images, A2Q+ W8A8 hidden layers at P = 16, edges at their defaults,
// deterministic initialisation, activation quantizers calibrated on seeded images) hold the
// thresholds the bit-exact integer engine runs, channel by channel, at each layer's
// certified width and at ReferenceAccBits.
func TestThresholdsMatchEngine(t *testing.T) {
	for _, name := range []string{"cnn", "mlp"} {
		t.Run(name, func(t *testing.T) {
			cfg := models.Config{Model: name, InC: 1, InH: 28, InW: 28, Classes: 10, Seed: 1,
				Hidden: quant.LayerConfig{Mode: quant.A2QPlus, WeightBits: 8, ActBits: 8, AccBits: 16},
				First:  models.DefaultEdge(quant.A2QPlus), Last: models.DefaultEdge(quant.A2QPlus)}
			m, err := models.Build(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			x := tensor.New(8, 28, 28, 1)
			for i := range x.Data {
				x.Data[i] = rng.Float32()
			}
			if _, err := CaptureInputs(m, x, 1); err != nil { // calibrates the quantizers
				t.Fatal(err)
			}
			im, err := intinfer.FromModel(m)
			if err != nil {
				t.Fatal(err)
			}
			mc, err := EstimateModel(m, DefaultPECap, DefaultSIMDCap)
			if err != nil {
				t.Fatal(err)
			}
			ls := im.Layers()
			if len(ls) != len(mc.Layers) {
				t.Fatalf("engine has %d layers, estimate %d", len(ls), len(mc.Layers))
			}
			compared := 0
			for i, el := range ls[:len(ls)-1] {
				lc := mc.Layers[i]
				if el.Name != lc.Name || len(el.Thresholds) == 0 {
					t.Fatalf("layer %d: engine %s with %d thresholds, estimate %s", i, el.Name, len(el.Thresholds), lc.Name)
				}
				for _, p := range []int{lc.AccBits, ReferenceAccBits} {
					u, err := LayerUnit(m, lc.Name, p, lc.Unit.SIMD, true)
					if err != nil {
						t.Fatal(err)
					}
					if u.OutputBits != el.OutBits || len(u.Thresholds) != len(el.Thresholds) {
						t.Fatalf("%s at P = %d: B = %d with %d thresholds, engine B = %d with %d",
							lc.Name, p, u.OutputBits, len(u.Thresholds), el.OutBits, len(el.Thresholds))
					}
					pmin, pmax := intRange(p, true)
					nt := 1<<el.OutBits - 1
					for c := range el.OutC {
						want := slices.Clone(el.Thresholds[c*nt : (c+1)*nt])
						for j, v := range want {
							want[j] = min(max(v, pmin), pmax) // the engine's, on P-bit comparators
						}
						if got := u.Thresholds[c*nt : (c+1)*nt]; !slices.Equal(got, want) {
							t.Fatalf("%s at P = %d, channel %d: RTL thresholds differ from the engine's%s",
								lc.Name, p, c, firstDiff(got, want))
						}
						compared++
					}
				}
			}
			t.Logf("%s: %d channels' thresholds equal the engine's", name, compared)
		})
	}
}

func firstDiff(got, want []int64) string {
	for j := range got {
		if got[j] != want[j] {
			return fmt.Sprintf(" (threshold %d: %d, engine %d)", j, got[j], want[j])
		}
	}
	return ""
}
