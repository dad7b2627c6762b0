package sweep

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/plotutil"

	"github.com/a2qtoolkit/a2q/plot"
)

// Plot file names written by WritePlots.
const (
	ScorePlot      = "score_vs_p.png"
	ParetoPlot     = "score_vs_lut.png"
	SparsityPlot   = "sparsity_vs_p.png"
	ScoreSpeedPlot = "score_vs_speed.png"
)

// series groups results by quantizer, method and bit width, in canonical
// order. Series of one quantizer and bit width share a colour (colour, the
// index of that pair in order); the method sets the dash pattern and the
// marker shape.
type series struct {
	quant  string
	method Method
	colour int
	rs     []Result
}

func group(results []Result) []series {
	var out []series
	at := map[string]int{}
	colours := map[string]int{}
	for _, r := range results {
		k := seriesKey(r)
		i, ok := at[k]
		if !ok {
			qb := fmt.Sprintf("%s W%dA%d", r.Quant, r.WeightBits, r.ActBits)
			c, ok := colours[qb]
			if !ok {
				c = len(colours)
				colours[qb] = c
			}
			i = len(out)
			at[k] = i
			out = append(out, series{quant: r.Quant, method: r.method(), colour: c})
		}
		out[i].rs = append(out[i].rs, r)
	}
	return out
}

// label names a series in legends: "A2Q+ W4A4 QAT", "baseline W8A8 RTN".
func (s series) label() string {
	q := strings.ToUpper(s.quant)
	if s.quant == "baseline" {
		q = "baseline"
	}
	r := s.rs[0]
	return fmt.Sprintf("%s W%dA%d %s", q, r.WeightBits, r.ActBits, strings.ToUpper(string(s.method)))
}

// style returns the series' plot style (by method) and colour (by
// quantizer and bit width).
func (s series) style() (int, color.Color) {
	return methodRank(s.method), plotutil.Color(s.colour)
}

// accX is the P a result is drawn at: its target for A2Q and A2Q+, its
// certified P for the baseline (whose target is the data-type bound).
func accX(r Result) float64 {
	if r.Quant == "baseline" {
		return float64(r.CertifiedAccBits)
	}
	return float64(r.AccBits)
}

// speedX is the integer-inference speed a result is drawn at, NaN (not
// drawn) when it has none.
func speedX(r Result) float64 {
	if r.InferImagesPerSec == nil {
		return math.NaN()
	}
	return *r.InferImagesPerSec
}

// Charts returns the four charts of a sweep: score against P (one line per
// quantizer, method and bit width, a colour per quantizer and bit width and
// a dash pattern and marker per method, so that post-training methods are
// drawn beside QAT; the baseline as markers at its certified P; the float
// score as a reference line), score against the LUT estimate with
// the Pareto front, hidden-layer sparsity against P, and score against
// integer-inference speed (Result.InferImagesPerSec; a line per series
// through its P values in order, the points without a speed left out, the
// legend in the empty slow and inaccurate corner).
func Charts(results []Result) ([]plot.Chart, error) {
	if len(results) == 0 {
		return nil, errNoResults
	}
	ylabel := "test accuracy"
	if results[0].TestPSNR != nil {
		ylabel = "test PSNR (dB)"
	}
	models := map[string]bool{}
	var names []string
	for _, r := range results {
		if !models[r.Model] {
			models[r.Model] = true
			names = append(names, r.Model)
		}
	}
	title := strings.Join(names, ", ")
	score := plot.Chart{Title: title + ": score against accumulator width", XLabel: "accumulator bits P (baseline: certified P)",
		YLabel: ylabel, IntegerX: true}
	pareto := plot.Chart{Title: title + ": score against estimated LUTs (FINN model)", XLabel: "estimated LUTs, all layers",
		YLabel: ylabel}
	sparsity := plot.Chart{Title: title + ": sparsity of the hidden layers", XLabel: "accumulator bits P (baseline: certified P)",
		YLabel: "fraction of zero weights", IntegerX: true}
	speed := plot.Chart{Title: title + ": score against integer-inference speed",
		XLabel: fmt.Sprintf("images/s, integer engine's chosen plan (one thread, batch %d)", InferBatch), YLabel: ylabel,
		LegendLeft: true}
	for _, s := range group(results) {
		var ps, sc, sp, lut, ips []float64
		for _, r := range s.rs {
			ps = append(ps, accX(r))
			sc = append(sc, r.Score())
			sp = append(sp, r.Sparsity)
			lut = append(lut, r.LUTEstimate)
			ips = append(ips, speedX(r))
		}
		markers := s.quant == "baseline"
		st, col := s.style()
		score.Series = append(score.Series, plot.Series{Label: s.label(), X: ps, Y: sc, Markers: markers, Style: st, Color: col})
		sparsity.Series = append(sparsity.Series, plot.Series{Label: s.label(), X: ps, Y: sp, Markers: markers, Style: st, Color: col})
		pareto.Series = append(pareto.Series, plot.Series{Label: s.label(), X: lut, Y: sc, Markers: true, Style: st, Color: col})
		speed.Series = append(speed.Series, plot.Series{Label: s.label(), X: ips, Y: sc, Markers: markers, Style: st, Color: col})
	}
	seen := map[float64]bool{}
	for _, r := range results {
		if !seen[r.FloatScore] {
			seen[r.FloatScore] = true
			ref := plot.Ref{Label: fmt.Sprintf("float (%.4g)", r.FloatScore), Y: r.FloatScore}
			score.Refs, pareto.Refs, speed.Refs = append(score.Refs, ref), append(pareto.Refs, ref), append(speed.Refs, ref)
		}
	}
	var fx, fy []float64
	for _, i := range Pareto(results) {
		fx = append(fx, results[i].LUTEstimate)
		fy = append(fy, results[i].Score())
	}
	pareto.Series = append(pareto.Series, plot.Series{Label: "Pareto front", X: fx, Y: fy, Style: len(methods), Color: color.Black})
	return []plot.Chart{score, pareto, sparsity, speed}, nil
}

// WritePlots writes the charts of Charts to DIR/score_vs_p.png,
// DIR/score_vs_lut.png, DIR/sparsity_vs_p.png and DIR/score_vs_speed.png.
func WritePlots(dir string, results []Result) error {
	cs, err := Charts(results)
	if err != nil {
		return err
	}
	for i, name := range []string{ScorePlot, ParetoPlot, SparsityPlot, ScoreSpeedPlot} {
		if err := cs[i].Save(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	return nil
}
