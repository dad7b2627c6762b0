// Command hwmeasure synthesises one layer's dot-product unit at several accumulator widths
// and prints what Yosys reports beside FINN's analytical estimate, so the effect of a narrow
// accumulator on real hardware can be measured and reproduced.
//
// The weights are random but A2Q-like: per output channel, a Laplace-distributed float vector
// is scaled to the L1 budget T_A2Q(P, N, s) of the narrowest P and rounded toward zero, so
// ||q||_1 ≤ T and the narrowest accumulator is certified (checked by simulation with inputs
// that reach every channel's extremes).
//
//	go run ./hw/internal/hwmeasure -k 288 -ch 64 -simd 8 -p 16,32 -families xilinx-nodsp,ice40
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/a2qtoolkit/a2q/hw"
)

type row struct {
	Family   string  `json:"family"`
	AccBits  int     `json:"acc_bits"`
	LUT      int     `json:"lut"`
	FF       int     `json:"ff"`
	Carry    int     `json:"carry"`
	DSP      int     `json:"dsp"`
	BRAM     int     `json:"bram"`
	LUTRAM   int     `json:"lutram"`
	Cells    int     `json:"cells"`
	Seconds  float64 `json:"seconds"`
	FINNLUT  float64 `json:"finn_lut_estimate"`
	SimPass  int     `json:"sim_passed"`
	SimFail  int     `json:"sim_failed"`
	Sparsity float64 `json:"sparsity"`
	L1Max    int64   `json:"l1_max"`
}

func main() {
	var (
		k        = flag.Int("k", 288, "dot-product length K")
		ch       = flag.Int("ch", 64, "output channels")
		simd     = flag.Int("simd", 8, "SIMD lanes")
		m        = flag.Int("m", 8, "weight bits M")
		n        = flag.Int("n", 8, "input bits N")
		signed   = flag.Bool("signed", false, "signed inputs")
		outBits  = flag.Int("b", 0, "output bits B of a thresholding stage (0: accumulator only)")
		ps       = flag.String("p", "16,32", "accumulator widths, comma-separated; the first sets the L1 budget")
		fams     = flag.String("families", "xilinx-nodsp,ice40", "Yosys families, comma-separated")
		seed     = flag.Uint64("seed", 1, "random seed")
		out      = flag.String("out", "", "work directory (default: a temporary one)")
		asJSON   = flag.Bool("json", false, "print JSON")
		timeout  = flag.Duration("timeout", 30*time.Minute, "limit per synthesis run")
		simulate = flag.Bool("sim", true, "simulate each width with iverilog first")
	)
	flag.Parse()
	if err := run(*k, *ch, *simd, *m, *n, *outBits, *signed, *ps, *fams, *seed, *out, *asJSON, *timeout, *simulate); err != nil {
		fmt.Fprintln(os.Stderr, "hwmeasure:", err)
		os.Exit(1)
	}
}

func run(k, ch, simd, m, n, b int, signed bool, ps, fams string, seed uint64, out string, asJSON bool, timeout time.Duration, sim bool) error {
	var widths []int
	for _, s := range strings.Split(ps, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-p: %w", err)
		}
		widths = append(widths, p)
	}
	s := 0
	if signed {
		s = 1
	}
	budget := (math.Exp2(float64(widths[0]-1)) - 1) * math.Exp2(float64(s-n)) // T_A2Q(P, N, s)
	rng := rand.New(rand.NewPCG(seed, 0xa2))
	weights, sparsity, l1max := a2qWeights(rng, ch, k, m, budget)
	if out == "" {
		dir, err := os.MkdirTemp("", "hwmeasure")
		if err != nil {
			return err
		}
		out = dir
	}
	fmt.Fprintf(os.Stderr, "K=%d channels=%d SIMD=%d M=%d N=%d B=%d: T=%.3f, max ||q||_1=%d, sparsity %.3f; work in %s\n",
		k, ch, simd, m, n, b, budget, l1max, sparsity, out)
	var rows []row
	for _, p := range widths {
		u := hw.Unit{Name: fmt.Sprintf("dot_p%d", p), Weights: weights, OutChannels: ch, K: k,
			WeightBits: m, InputBits: n, InputSigned: signed, AccBits: p, SIMD: simd}
		if b > 0 {
			u.OutputBits = b
			u.Thresholds = uniformThresholds(u)
		}
		dir := filepath.Join(out, u.Name)
		inputs := extremes(u)
		if _, err := hw.WriteFiles(dir, u, inputs); err != nil {
			return err
		}
		var sr hw.SimResult
		if sim {
			var err error
			sr, err = hw.Simulate(context.Background(), dir, u.Name+".v", u.Name+"_tb.v")
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "P=%d simulation: %d passed, %d failed\n", p, sr.Passed, sr.Failed)
		}
		est, err := hw.EstimateLUT(hw.MVU{Name: u.Name, MW: k, MH: ch, PE: 1, SIMD: simd, WeightBits: m,
			InputBits: n, OutputBits: b, AccBits: p})
		if err != nil {
			return err
		}
		for _, fam := range strings.Split(fams, ",") {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			res, err := hw.Synthesize(ctx, dir, u.Name, fam)
			cancel()
			if err != nil {
				return err
			}
			r := row{Family: fam, AccBits: p, LUT: res.LUT, FF: res.FF, Carry: res.Carry, DSP: res.DSP,
				BRAM: res.BRAM, LUTRAM: res.LUTRAM, Cells: res.Cells, Seconds: res.Duration.Seconds(),
				FINNLUT: est.LUT, SimPass: sr.Passed, SimFail: sr.Failed, Sparsity: sparsity, L1Max: l1max}
			fmt.Fprintf(os.Stderr, "%+v\n", r)
			rows = append(rows, r)
		}
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Println("| family | P | LUT | FF | carry | DSP | BRAM | LUTRAM | cells | yosys s | FINN LUT est. (PE=1, weights in BRAM) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %.1f | %.0f |\n", r.Family, r.AccBits, r.LUT, r.FF,
			r.Carry, r.DSP, r.BRAM, r.LUTRAM, r.Cells, r.Seconds, r.FINNLUT)
	}
	return nil
}

// a2qWeights draws per-channel Laplace weights and scales each channel by the largest factor
// whose round-toward-zero integers (A2Q's RTZ, clipped to the narrow M-bit range) keep
// ||q||_1 within budget, as A2Q training drives channels to their budget.
func a2qWeights(rng *rand.Rand, ch, k, m int, budget float64) (w []int32, sparsity float64, l1max int64) {
	w = make([]int32, ch*k)
	hi := float64(int(1)<<(m-1) - 1)
	rtz := func(v []float64, s float64, dst []int32) int64 {
		var l1 int64
		for i, x := range v {
			q := math.Max(-hi, math.Min(hi, math.Trunc(x*s)))
			if dst != nil {
				dst[i] = int32(q)
			}
			l1 += int64(math.Abs(q))
		}
		return l1
	}
	zeros := 0
	for c := range ch {
		v := make([]float64, k)
		for i := range v {
			v[i] = rng.ExpFloat64() * float64(1-2*rng.IntN(2))
		}
		lo, up := 0.0, 1.0
		for float64(rtz(v, up, nil)) <= budget {
			up *= 2
		}
		for range 60 { // bisection on the scale
			mid := (lo + up) / 2
			if float64(rtz(v, mid, nil)) <= budget {
				lo = mid
			} else {
				up = mid
			}
		}
		l1max = max(l1max, rtz(v, lo, w[c*k:(c+1)*k]))
		for _, q := range w[c*k : (c+1)*k] {
			if q == 0 {
				zeros++
			}
		}
	}
	return w, float64(zeros) / float64(len(w)), l1max
}

// extremes returns, per channel, the input vectors that reach its largest and smallest sums.
func extremes(u hw.Unit) [][]int32 {
	lo, hi := int32(0), int32(1)<<u.InputBits-1
	if u.InputSigned {
		lo, hi = -(int32(1) << (u.InputBits - 1)), int32(1)<<(u.InputBits-1)-1
	}
	var out [][]int32
	for c := range u.OutChannels {
		up, down := make([]int32, u.K), make([]int32, u.K)
		for k, w := range u.Weights[c*u.K : (c+1)*u.K] {
			if w > 0 {
				up[k], down[k] = hi, lo
			} else {
				up[k], down[k] = lo, hi
			}
		}
		out = append(out, up, down)
	}
	return out
}

// uniformThresholds splits each channel's reachable accumulator range into 2^B equal steps,
// as a uniform requantiser folded into FINN thresholds would.
func uniformThresholds(u hw.Unit) []int64 {
	nt := 1<<u.OutputBits - 1
	lo, hi := int64(0), int64(1)<<u.InputBits-1
	if u.InputSigned {
		lo, hi = -(int64(1) << (u.InputBits - 1)), int64(1)<<(u.InputBits-1)-1
	}
	var out []int64
	for c := range u.OutChannels {
		var pos, neg int64
		for _, w := range u.Weights[c*u.K : (c+1)*u.K] {
			if w > 0 {
				pos += int64(w)
			} else {
				neg -= int64(w)
			}
		}
		amax, amin := hi*pos-lo*neg, lo*pos-hi*neg
		for i := 1; i <= nt; i++ {
			out = append(out, amin+(amax-amin)*int64(i)/int64(nt+1))
		}
	}
	return out
}
