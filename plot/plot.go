// Package plot draws a2q's evaluation charts (score against accumulator
// width, score against hardware cost, sparsity against accumulator width) as
// PNG images with gonum.org/v1/plot.
//
// A [Chart] is plain data: named series of (x, y) points, drawn as lines
// with markers or as markers alone, and optional horizontal reference lines
// (a float model's score, say). Series are drawn in order with the colours,
// marker shapes and dash patterns of gonum's plotutil, so the same series
// index looks the same in every chart of a report. Points whose x or y is
// NaN or infinite are left out (a missing score is not drawn as zero).
//
// Invalid charts (no series, X and Y of different lengths, a non-positive
// size) return errors naming the chart and series; nothing here panics on
// user data.
package plot

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/a2qtoolkit/a2q/fileio"
)

// Series is one named set of points.
type Series struct {
	Label string
	X, Y  []float64
	// Markers draws the points without joining them.
	Markers bool
	// Style selects the colour, marker shape and dash pattern; series with
	// the same Style look alike. Negative means the series' index.
	Style int
	// Color, when set, replaces the Style's colour (e.g. black for a
	// summary line drawn over the data).
	Color color.Color
}

// Ref is a horizontal reference line at Y.
type Ref struct {
	Label string
	Y     float64
}

// Chart describes one PNG chart.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	Refs                  []Ref
	// IntegerX puts a tick at every integer x (accumulator widths).
	IntegerX bool
	// LegendLeft puts the legend in the lower left corner instead of the
	// lower right.
	LegendLeft bool
	// Width and Height are the image size in pixels; 0 selects 800×560.
	Width, Height int
}

// DPI is the resolution used to turn a chart's size in pixels into
// gonum/plot's lengths.
const DPI = 96

func (c Chart) size() (w, h int) {
	w, h = c.Width, c.Height
	if w == 0 {
		w = 800
	}
	if h == 0 {
		h = 560
	}
	return w, h
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validate checks the chart's shape.
func (c Chart) validate() error {
	if w, h := c.size(); w <= 0 || h <= 0 {
		return fmt.Errorf("plot: chart %q: size %dx%d is not positive", c.Title, w, h)
	}
	if len(c.Series) == 0 && len(c.Refs) == 0 {
		return fmt.Errorf("plot: chart %q: nothing to draw", c.Title)
	}
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: chart %q: series %q has %d x values and %d y values", c.Title, s.Label, len(s.X), len(s.Y))
		}
	}
	return nil
}

// build assembles the gonum plot.
func (c Chart) build() (*gplot.Plot, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	p := gplot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Legend.Top = false
	p.Legend.Left = c.LegendLeft
	p.Add(plotter.NewGrid())
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, s := range c.Series {
		var xys plotter.XYs
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) {
				xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
				xmin, xmax = min(xmin, s.X[j]), max(xmax, s.X[j])
			}
		}
		if len(xys) == 0 {
			continue
		}
		style := s.Style
		if style < 0 {
			style = i
		}
		col := plotutil.Color(style)
		if s.Color != nil {
			col = s.Color
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: chart %q: series %q: %w", c.Title, s.Label, err)
		}
		sc.GlyphStyle.Color = col
		sc.GlyphStyle.Shape = plotutil.Shape(style)
		sc.GlyphStyle.Radius = vg.Points(3.5)
		if s.Markers {
			p.Add(sc)
			p.Legend.Add(s.Label, sc)
			continue
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: chart %q: series %q: %w", c.Title, s.Label, err)
		}
		ln.LineStyle.Color = col
		ln.LineStyle.Width = vg.Points(1.5)
		ln.LineStyle.Dashes = plotutil.Dashes(style)
		p.Add(ln, sc)
		p.Legend.Add(s.Label, ln, sc)
	}
	for i, r := range c.Refs {
		if !finite(r.Y) {
			continue
		}
		y := r.Y
		f := plotter.NewFunction(func(float64) float64 { return y })
		f.LineStyle.Color = refColors[i%len(refColors)]
		f.LineStyle.Width = vg.Points(1)
		f.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(f)
		p.Legend.Add(r.Label, f)
		p.Y.Min, p.Y.Max = min(p.Y.Min, y), max(p.Y.Max, y)
	}
	if xmin <= xmax {
		pad := 0.04 * (xmax - xmin)
		if pad == 0 {
			pad = 0.5
		}
		p.X.Min, p.X.Max = xmin-pad, xmax+pad
	}
	if c.IntegerX && xmin <= xmax {
		p.X.Tick.Marker = integerTicks{}
	}
	return p, nil
}

// refColors are the colours of reference lines: greys, apart from the
// series' palette.
var refColors = []color.Color{color.Gray{Y: 0x60}, color.Gray{Y: 0x90}, color.Gray{Y: 0xb0}}

// integerTicks labels every integer within the axis range when they are
// few, and every other integer otherwise.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []gplot.Tick {
	step := 1
	if hi-lo > 24 {
		step = int(math.Ceil((hi - lo) / 16))
	}
	var ts []gplot.Tick
	for v := int(math.Ceil(lo)); float64(v) <= hi; v++ {
		t := gplot.Tick{Value: float64(v)}
		if v%step == 0 {
			t.Label = fmt.Sprint(v)
		}
		ts = append(ts, t)
	}
	return ts
}

// WritePNG renders the chart as a PNG image to w.
func (c Chart) WritePNG(w io.Writer) error {
	p, err := c.build()
	if err != nil {
		return err
	}
	pw, ph := c.size()
	wt, err := p.WriterTo(vg.Length(pw)*vg.Inch/DPI, vg.Length(ph)*vg.Inch/DPI, "png")
	if err != nil {
		return fmt.Errorf("plot: chart %q: %w", c.Title, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("plot: chart %q: %w", c.Title, err)
	}
	return nil
}

// Save renders the chart to the PNG file path, written atomically (package
// fileio), so a reader never sees half an image.
func (c Chart) Save(path string) error {
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		return err
	}
	if err := fileio.WriteAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
