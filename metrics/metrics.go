// Package metrics computes the figures of merit reported for quantized
// networks: weight sparsity, weight entropy and the estimated compression
// rate, classification accuracy, PSNR, and the share of float performance.
//
// Formulas, for integer weights q_1..q_n and targets t, predictions p:
//
//	Sparsity        = #{i : q_i = 0} / n
//	Entropy H(q)    = −Σ_v f_v·log2 f_v, f_v = #{i : q_i = v} / n   (bits per weight)
//	CompressionRate = M / H(q)   (M-bit weights under ideal entropy coding)
//	PSNR            = 10·log10(peak² / MSE), MSE = (1/n)·Σ (p_i − t_i)²   (dB)
//	Accuracy        = #{i : pred_i = label_i} / n
//	ShareOfFloat    = quantised metric / float metric
//
// Conventions: the entropy of no weights is 0 and their sparsity is 0; a
// compression rate with H = 0 (every weight equal, e.g. a dead layer) is
// +Inf, and a PSNR with MSE = 0 is +Inf; callers writing JSON must map
// infinities and NaN to null, as encoding/json rejects them. Accuracy and
// PSNR of empty inputs are NaN (undefined). Slices of different lengths and
// a non-positive peak or bit width are programmer errors and panic.
//
// Sums are taken in float64 in a fixed order (histograms by increasing
// value), so that results are reproducible bit for bit.
package metrics

import (
	"fmt"
	"math"
	"slices"
)

// Histogram counts integer weights, so that sparsity and entropy can be
// computed over several layers (the constrained layers of a model) without
// concatenating them. The zero value is an empty histogram ready to use.
type Histogram struct {
	counts map[int32]int64
	total  int64
}

// Add counts the weights of q.
func (h *Histogram) Add(q []int32) {
	if h.counts == nil {
		h.counts = make(map[int32]int64)
	}
	for _, v := range q {
		h.counts[v]++
	}
	h.total += int64(len(q))
}

// Total returns the number of weights counted.
func (h *Histogram) Total() int64 { return h.total }

// Count returns the number of weights equal to v.
func (h *Histogram) Count(v int32) int64 { return h.counts[v] }

// Sparsity returns the fraction of zero weights (0 when empty).
func (h *Histogram) Sparsity() float64 {
	if h.total == 0 {
		return 0
	}
	return float64(h.counts[0]) / float64(h.total)
}

// Entropy returns the Shannon entropy, in bits per weight, of the empirical
// distribution of the weights counted (0 when empty).
func (h *Histogram) Entropy() float64 {
	if h.total == 0 {
		return 0
	}
	values := make([]int32, 0, len(h.counts))
	for v := range h.counts {
		values = append(values, v)
	}
	slices.Sort(values)
	n := float64(h.total)
	var e float64
	for _, v := range values {
		p := float64(h.counts[v]) / n
		e -= p * math.Log2(p)
	}
	return max(e, 0) // −0 → 0
}

// CompressionRate returns M / H: the estimated compression of M-bit weights
// under ideal entropy coding. It is +Inf when H = 0. It panics if m < 1.
func (h *Histogram) CompressionRate(m int) float64 {
	if m < 1 {
		panic(fmt.Sprintf("metrics: CompressionRate of %d-bit weights", m))
	}
	e := h.Entropy()
	if e == 0 {
		return math.Inf(1)
	}
	return float64(m) / e
}

// histogram returns the histogram of q.
func histogram(q []int32) *Histogram {
	var h Histogram
	h.Add(q)
	return &h
}

// Sparsity returns the fraction of zeros in q (0 for an empty q).
func Sparsity(q []int32) float64 {
	if len(q) == 0 {
		return 0
	}
	zeros := 0
	for _, v := range q {
		if v == 0 {
			zeros++
		}
	}
	return float64(zeros) / float64(len(q))
}

// Entropy returns the Shannon entropy, in bits per symbol, of the empirical
// distribution of q: −Σ_v f_v·log2 f_v (0 for an empty q).
func Entropy(q []int32) float64 { return histogram(q).Entropy() }

// CompressionRate returns M / H(q), the estimated compression rate of
// m-bit weights q under ideal entropy coding. When H(q) = 0 (all weights
// equal, or none) it returns +Inf. It panics if m < 1.
func CompressionRate(q []int32, m int) float64 { return histogram(q).CompressionRate(m) }

// PSNR returns the peak signal-to-noise ratio in dB of pred against target,
// two images with values in [0, peak]: 10·log10(peak² / MSE). It is +Inf
// for identical images and NaN for empty ones. It panics if the lengths
// differ or peak is not positive.
func PSNR(pred, target []float32, peak float64) float64 {
	return psnr(pred, target, peak, false)
}

// ImagePSNR is the PSNR of a network's predicted image against its target,
// both with values in [0, 1]: the prediction is clamped to [0, 1] first, as
// it would be when stored as an image.
func ImagePSNR(pred, target []float32) float64 {
	return psnr(pred, target, 1, true)
}

func psnr(pred, target []float32, peak float64, clamp bool) float64 {
	if len(pred) != len(target) {
		panic(fmt.Sprintf("metrics: PSNR of %d and %d values", len(pred), len(target)))
	}
	if !(peak > 0) {
		panic(fmt.Sprintf("metrics: PSNR with peak %v", peak))
	}
	if len(pred) == 0 {
		return math.NaN()
	}
	var sum float64
	for i, p := range pred {
		if clamp {
			p = min(max(p, 0), 1)
		}
		d := float64(p) - float64(target[i])
		sum += d * d
	}
	mse := sum / float64(len(pred))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(peak*peak/mse)
}

// Accuracy returns the fraction of predictions equal to their labels (NaN
// for empty inputs). It panics if the lengths differ.
func Accuracy(pred, labels []int) float64 {
	if len(pred) != len(labels) {
		panic(fmt.Sprintf("metrics: Accuracy of %d predictions and %d labels", len(pred), len(labels)))
	}
	if len(pred) == 0 {
		return math.NaN()
	}
	hits := 0
	for i, p := range pred {
		if p == labels[i] {
			hits++
		}
	}
	return float64(hits) / float64(len(pred))
}

// Argmax returns the index of the largest of the scores v (the first one on
// ties): the predicted class of a logit vector. It panics on an empty v.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v[1:] {
		if x > v[best] {
			best = i + 1
		}
	}
	return best
}

// ShareOfFloat returns q / f, the share of the float model's performance f
// (top-1 accuracy, PSNR) kept by the quantised model's performance q. A
// zero f gives ±Inf or NaN, as IEEE division does.
func ShareOfFloat(q, f float64) float64 { return q / f }
