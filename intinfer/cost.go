package intinfer

import (
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/intgemm"
)

// The cost model that picks a layer's kernel in the fused pipeline. It
// predicts the time one chunk of images spends in the parts that differ
// between the kernels, from the layer's shape and its weights; the
// requantisation and pools after the layer are the same for all and left
// out. The constants are nanoseconds on one core, calibrated on the
// machines the project is measured on (BenchmarkCostModel prints each
// prediction beside the measured time); only their ratios matter.

// kernelCosts are the calibrated unit costs of one CPU kind.
type kernelCosts struct {
	// mac is a dense multiply-add, by kernel ("dense16", "dense32",
	// "dense32-vnni"), counted over the padded rows the kernels run.
	mac map[string]float64
	// col is a patch byte copied by the im2col.
	col float64
	// add is one non-zero weight applied to 16 positions (a vector load
	// and add); mul one value group's multiplication over 16 positions;
	// ch one output channel's fixed work over 16 positions (clearing,
	// storing, widening to int32).
	add, mul, ch float64
	// plane is one activation moved into the byte planes.
	plane float64
	// margin is the share of the dense kernel's predicted time the sparse
	// kernel's must stay under to be chosen: below 1 by more than the
	// model's error on the CPU kind.
	margin float64
}

// cpuKind is a kind of CPU the cost model is calibrated on.
type cpuKind int

const (
	// kindAVX2 is a CPU with AVX2 and no AVX-512 VNNI (calibrated on an
	// AMD EPYC Zen 3).
	kindAVX2 cpuKind = iota
	// kindVNNI is one with AVX-512 VNNI (calibrated on an AMD EPYC Zen 5).
	kindVNNI
	// kindZen4VNNI is an AMD core of family 25 with AVX-512 VNNI (Zen 4,
	// calibrated on an EPYC), which runs 512-bit operations as two 256-bit
	// halves: a VNNI multiply-add costs about twice what it does on the
	// Zen 5, the sparse kernel's 16-bit steps about the same.
	kindZen4VNNI
	// kindIntelVNNI is an Intel core with AVX-512 VNNI (calibrated on a
	// Xeon of the Emerald Rapids generation), where the sparse kernel's
	// fixed work per output channel (its stores) weighs about three times
	// as much against a VNNI multiply-add as on the Zen 5.
	kindIntelVNNI
)

// runningKind returns the kind of the running CPU.
func runningKind() cpuKind {
	switch {
	case !intgemm.HasVNNI():
		return kindAVX2
	case intgemm.CPUVendor() == "GenuineIntel":
		return kindIntelVNNI
	case intgemm.CPUVendor() == "AuthenticAMD" && intgemm.CPUFamily() == 25:
		return kindZen4VNNI
	}
	return kindVNNI
}

// costsFor returns the unit costs of a CPU kind's vector kernels, or of the
// pure-Go ones when goKernels is set.
func costsFor(goKernels bool, kind cpuKind) kernelCosts {
	// Calibrated with BenchmarkCostModel on conv2 of the reference CNN,
	// dense and sparse at 60-99 % zeros, on each kind. The Zen 5 dense32
	// figure (a plan the choice never weighs there: the dense kernel of a
	// certified layer is VNNI's) is scaled from the Zen 3 one, and so is
	// the Intel one from the Zen 5's. The Zen 5 and Intel sparse costs are
	// those of the AVX-512 kernel on byte planes; the Zen 3 ones were
	// measured with int16 planes and an older AVX2 kernel, and err towards
	// the dense kernel. The Intel set is fitted to the ratio of the sparse
	// to the dense time in the same run (that shared machine's speed varied
	// by up to 2× between runs), its scale to the median dense time. The
	// Zen 4 set was fitted with the sparse kernel pooling in its registers
	// (sparse_pool.go in intgemm), which BenchmarkCostModel times against
	// the dense kernel without its pool: the sparse side's saving is left
	// out, in the dense kernel's favour. Its dense32 is scaled from the
	// Zen 5 one by the dense16 ratio.
	var c kernelCosts
	switch kind {
	case kindAVX2:
		c = kernelCosts{
			mac:    map[string]float64{"dense16": 0.0098, "dense32": 0.019},
			col:    0.05,
			add:    0.37,
			mul:    0.5,
			ch:     4.4,
			plane:  0.09,
			margin: 0.9,
		}
	case kindVNNI:
		c = kernelCosts{
			mac:    map[string]float64{"dense16": 0.0053, "dense32": 0.010, "dense32-vnni": 0.00224},
			col:    0.025,
			add:    0.13,
			mul:    0.1,
			ch:     0.70,
			plane:  0.045,
			margin: 0.95,
		}
	case kindZen4VNNI:
		c = kernelCosts{
			mac:    map[string]float64{"dense16": 0.0057, "dense32": 0.0108, "dense32-vnni": 0.00457},
			col:    0.025,
			add:    0.14,
			mul:    0.1,
			ch:     0.81,
			plane:  0.045,
			margin: 0.95,
		}
	case kindIntelVNNI:
		c = kernelCosts{
			mac:    map[string]float64{"dense16": 0.0111, "dense32": 0.019, "dense32-vnni": 0.00425},
			col:    0.0475,
			add:    0.24,
			mul:    0.26,
			ch:     4.0,
			plane:  0.0855,
			margin: 0.9,
		}
	}
	if !goKernels {
		return c
	}
	// The pure-Go kernels, about an order of magnitude slower per step.
	for k := range c.mac {
		c.mac[k] *= 12
	}
	c.add, c.mul, c.ch, c.plane = 3, 4, 40, 1
	return c
}

// runningCosts returns the unit costs of the kernels that run now: sp's
// implementation (vector or pure Go) on this CPU kind.
func runningCosts(sp *intgemm.Sparse) kernelCosts {
	return costsFor(strings.HasPrefix(sp.Impl(), "go-"), runningKind())
}

// denseCost predicts the dense kernel's time on a chunk of nb images.
func (c kernelCosts) denseCost(st *fastStage, kernel string, nb int) float64 {
	g := &st.g
	rows := float64(nb * g.OH * g.OW)
	t := rows * float64(st.lda) * float64(roundUp(st.lr.l.OutC, 16)) * c.mac[kernel]
	if !st.direct {
		t += rows * float64(st.lda) * c.col
	}
	return t
}

// sparseCost predicts the sparse kernel's time on a chunk of nb images.
func (c kernelCosts) sparseCost(st *fastStage, sr *sparseRun, nb int) float64 {
	_, np := sr.perImage(nb, &st.g, sr.kern.Block())
	vecs := float64(np) / 16
	return vecs*(float64(sr.kern.NonZeros())*c.add+float64(sr.kern.Multiplies())*c.mul+float64(st.lr.l.OutC)*c.ch) +
		float64(nb*st.g.H*st.g.W*st.g.C)*c.plane
}

// chooseKernel decides whether st runs on the sparse kernel sr (nil when
// the layer cannot), for chunks of nb images, under path; it returns the
// decision and its reason.
func chooseKernel(st *fastStage, sr *sparseRun, fit error, nb int, path Path) (bool, string) {
	lr := st.lr
	dense := denseKernel(lr)
	if path != PathPreferred && path != PathSparse {
		return false, fmt.Sprintf("dense kernels forced (path %v)", path)
	}
	if fit != nil {
		return false, "sparse kernel not available: " + fit.Error()
	}
	if path == PathSparse {
		return true, "sparse kernel forced"
	}
	c := runningCosts(sr.kern)
	ts, td := c.sparseCost(st, sr, nb), c.denseCost(st, dense, nb)
	why := fmt.Sprintf("cost model: sparse16 %.1f µs, %s %.1f µs per image (%.1f %% zeros)",
		ts/float64(nb)/1e3, dense, td/float64(nb)/1e3, 100*lr.info.Sparsity)
	// The sparse kernel must win by a margin larger than the model's
	// error, or the layer stays on the dense kernel.
	return ts < c.margin*td, why
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }
