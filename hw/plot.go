package hw

import (
	"fmt"
	"image/color"
	"io"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePlotPNG draws c as a grouped bar chart (PNG, 9×5 inches: 864×480 pixels at 96 dpi) to w: per
// layer, the LUT estimate at the certified width and at ReferenceAccBits, and, for layers
// synthesised, Yosys's LUT counts at both widths; title heads the chart.
func (c *ModelCost) WritePlotPNG(w io.Writer, title string) error {
	if len(c.Layers) == 0 {
		return fmt.Errorf("hw: plot %q: no layers", title)
	}
	p := gplot.New()
	p.Title.Text = title
	p.Y.Label.Text = "LUTs"
	p.Legend.Top = true
	names := make([]string, len(c.Layers))
	est, est32 := make(plotter.Values, len(c.Layers)), make(plotter.Values, len(c.Layers))
	syn, syn32 := make(plotter.Values, len(c.Layers)), make(plotter.Values, len(c.Layers))
	synth := false
	for i, l := range c.Layers {
		names[i] = fmt.Sprintf("%s (P=%d)", l.Name, l.AccBits)
		est[i], est32[i] = l.LUTEstimate, l.LUTEstimateP32
		if l.LUTSynth != nil && l.LUTSynthP32 != nil {
			syn[i], syn32[i] = float64(*l.LUTSynth), float64(*l.LUTSynthP32)
			synth = true
		}
	}
	groups := []struct {
		label string
		v     plotter.Values
		col   color.RGBA
	}{
		{"FINN estimate, certified P", est, color.RGBA{R: 31, G: 119, B: 180, A: 255}},
		{"FINN estimate, P = 32", est32, color.RGBA{R: 174, G: 199, B: 232, A: 255}},
	}
	if synth {
		groups = append(groups,
			struct {
				label string
				v     plotter.Values
				col   color.RGBA
			}{"Yosys LUTs, certified P", syn, color.RGBA{R: 255, G: 127, B: 14, A: 255}},
			struct {
				label string
				v     plotter.Values
				col   color.RGBA
			}{"Yosys LUTs, P = 32", syn32, color.RGBA{R: 255, G: 187, B: 120, A: 255}})
	}
	width := vg.Points(160 / float64(len(groups)))
	for i, g := range groups {
		bars, err := plotter.NewBarChart(g.v, width)
		if err != nil {
			return fmt.Errorf("hw: plot %q: %w", title, err)
		}
		bars.Color = g.col
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(groups)-1)/2)
		p.Add(bars)
		p.Legend.Add(g.label, bars)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, p.Y.Max*1.15 // room for the legend
	p.Y.Tick.Marker = gplot.TickerFunc(func(lo, hi float64) []gplot.Tick {
		ts := gplot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = fmt.Sprintf("%.0f", ts[i].Value)
			}
		}
		return ts
	})
	wt, err := p.WriterTo(9*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("hw: plot %q: %w", title, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("hw: plot %q: %w", title, err)
	}
	return nil
}
