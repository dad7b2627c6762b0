package sweep

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/a2qtoolkit/a2q/fileio"
)

// CSVHeader lists the columns of results.csv, in order.
var CSVHeader = []string{"id", "model", "data", "quant", "method", "weight_bits", "act_bits", "acc_bits", "certified_acc_bits", "certified",
	"test_accuracy", "test_psnr", "float_score", "share_of_float", "sparsity", "compression_rate",
	"lut_estimate", "lut_estimate_p32", "epochs", "calib_size", "seconds", "infer_images_per_sec", "infer_speedup_vs_dense"}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func fmtOpt(v *float64) string {
	if v == nil {
		return ""
	}
	return fmtFloat(*v)
}

// row returns r as CSV fields in CSVHeader order; missing values are empty.
func (r Result) row() []string {
	return []string{r.ID, r.Model, r.Data, r.Quant, string(r.method()), strconv.Itoa(r.WeightBits), strconv.Itoa(r.ActBits), strconv.Itoa(r.AccBits),
		strconv.Itoa(r.CertifiedAccBits), strconv.FormatBool(r.Certified),
		fmtOpt(r.TestAccuracy), fmtOpt(r.TestPSNR), fmtFloat(r.FloatScore), fmtFloat(r.ShareOfFloat), fmtFloat(r.Sparsity),
		fmtOpt(r.CompressionRate), strconv.FormatFloat(r.LUTEstimate, 'f', 0, 64), strconv.FormatFloat(r.LUTEstimateP32, 'f', 0, 64),
		strconv.Itoa(r.Epochs), strconv.Itoa(r.CalibSize), strconv.FormatFloat(r.Seconds, 'f', 1, 64),
		fmtOpt(r.InferImagesPerSec), fmtOpt(r.InferSpeedupVsDense)}
}

// method returns r's method, QAT for results from before methods.
func (r Result) method() Method {
	if r.Method == "" {
		return QAT
	}
	return Method(r.Method)
}

// EncodeJSON returns results as results.json holds them: an indented JSON
// array of Result objects.
func EncodeJSON(results []Result) ([]byte, error) {
	if results == nil {
		results = []Result{}
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// EncodeCSV returns results as results.csv holds them: CSVHeader, then one
// row per result.
func EncodeCSV(results []Result) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(CSVHeader); err != nil {
		return nil, err
	}
	for _, r := range results {
		if err := w.Write(r.row()); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// WriteResults writes DIR/results.json and DIR/results.csv atomically.
func WriteResults(dir string, results []Result) error {
	js, err := EncodeJSON(results)
	if err != nil {
		return err
	}
	cs, err := EncodeCSV(results)
	if err != nil {
		return err
	}
	if err := fileio.WriteAtomic(filepath.Join(dir, "results.json"), js); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := fileio.WriteAtomic(filepath.Join(dir, "results.csv"), cs); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// ReadResults reads the result file of every point under DIR/points, in
// canonical order. Points without a result file (unfinished) are left out.
func ReadResults(dir string) ([]Result, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "points"))
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var rs []Result
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		r, ok, err := loadResult(dir, e.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			if r.ID != e.Name() {
				return nil, fmt.Errorf("sweep: %s: holds point %q", resultPath(dir, e.Name()), r.ID)
			}
			rs = append(rs, r)
		}
	}
	sortResults(rs)
	return rs, nil
}

// Merge collects the finished points of the sweep in dir (written by Run or
// by RunPoint in separate processes) into results.json, results.csv and
// the plots, and returns them.
func Merge(dir string) ([]Result, error) {
	rs, err := ReadResults(dir)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("sweep: %s: no finished points", filepath.Join(dir, "points"))
	}
	if err := WriteResults(dir, rs); err != nil {
		return nil, err
	}
	if err := WritePlots(dir, rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// Lowest returns, for each quantizer, method and bit width, the lowest
// target P whose score keeps at least share of the float score (for
// example 0.99), or 0 when no point does. Keys are like "a2q+ W4A4" for
// QAT and "a2q+ W4A4 gptq" for a post-training method. The baseline's P is
// its certified P.
func Lowest(results []Result, share float64) map[string]int {
	out := map[string]int{}
	for _, r := range results {
		k := seriesKey(r)
		if _, ok := out[k]; !ok {
			out[k] = 0
		}
		p := r.AccBits
		if r.Quant == "baseline" {
			p = r.CertifiedAccBits
		}
		if r.ShareOfFloat >= share && (out[k] == 0 || p < out[k]) {
			out[k] = p
		}
	}
	return out
}

// seriesKey names the series of r: quantizer, bit widths and, after
// training, method.
func seriesKey(r Result) string {
	k := fmt.Sprintf("%s W%dA%d", r.Quant, r.WeightBits, r.ActBits)
	if m := r.method(); m.PostTraining() {
		k += " " + string(m)
	}
	return k
}

// Pareto returns the indices of the results on the accuracy–cost Pareto
// front: no other result, of any quantizer or method, has a
// higher-or-equal score at a lower-or-equal LUT estimate with one of them
// strict. Indices are in increasing cost.
func Pareto(results []Result) []int {
	idx := make([]int, 0, len(results))
	for i, r := range results {
		if !math.IsNaN(r.Score()) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := results[idx[a]], results[idx[b]]
		if ra.LUTEstimate != rb.LUTEstimate {
			return ra.LUTEstimate < rb.LUTEstimate
		}
		return ra.Score() > rb.Score()
	})
	var front []int
	best := math.Inf(-1)
	for _, i := range idx {
		if s := results[i].Score(); s > best {
			front = append(front, i)
			best = s
		}
	}
	return front
}

var errNoResults = errors.New("sweep: no results to plot")

// WriteMarkdown writes results as a Markdown table: quantizer, method,
// bits, target and certified P, score, share of float, sparsity,
// compression rate, LUT estimates, epochs of fine-tuning (0 for a
// post-training method) and integer-inference speed with its ratio to the
// dense plan.
func WriteMarkdown(w io.Writer, results []Result) error {
	score := "accuracy"
	if len(results) > 0 && results[0].TestPSNR != nil {
		score = "PSNR (dB)"
	}
	fmt.Fprintf(w, "| quantizer | method | W/A bits | target P | certified P | %s | share of float | sparsity | compression (M/H(q)) | LUTs | LUTs at P = 32 | epochs | images/s (vs dense) |\n", score)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		cr := "—"
		if r.CompressionRate != nil {
			cr = fmt.Sprintf("%.2f×", *r.CompressionRate)
		}
		sc := fmt.Sprintf("%.4f", r.Score())
		if r.TestPSNR != nil {
			sc = fmt.Sprintf("%.2f", r.Score())
		}
		target := strconv.Itoa(r.AccBits)
		if r.Quant == "baseline" {
			target += " (data type)"
		}
		speed := "—"
		if r.InferImagesPerSec != nil && r.InferSpeedupVsDense != nil {
			speed = fmt.Sprintf("%.0f (%.2f×)", *r.InferImagesPerSec, *r.InferSpeedupVsDense)
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %d/%d | %s | %d | %s | %.1f %% | %.3f | %s | %.0f | %.0f | %d | %s |\n",
			r.Quant, r.method(), r.WeightBits, r.ActBits, target, r.CertifiedAccBits, sc, 100*r.ShareOfFloat, r.Sparsity, cr,
			r.LUTEstimate, r.LUTEstimateP32, r.Epochs, speed); err != nil {
			return err
		}
	}
	return nil
}
