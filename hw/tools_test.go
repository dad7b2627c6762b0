package hw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/a2qtoolkit/a2q/thresh"
)

// skipWithout skips the test when err says a tool is missing, naming the Debian package.
func skipWithout(t *testing.T, err error) {
	t.Helper()
	var missing ErrToolMissing
	if errors.As(err, &missing) {
		t.Skipf("%s not installed: apt-get install -y %s", missing.Tool, missing.DebianPackage)
	}
}

func requireTool(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed: apt-get install -y %s", tool, pkg)
	}
}

// exactAccBits is the exact bound of docs/MATH.md, computed here independently of the generator:
// each weight meets the input extreme that grows the sum.
func exactAccBits(u Unit) int {
	mu, nu := intRange(u.InputBits, u.InputSigned)
	var accMax, accMin int64
	for c := range u.OutChannels {
		var pos, neg int64
		for _, w := range u.Weights[c*u.K : (c+1)*u.K] {
			if w > 0 {
				pos += int64(w)
			} else {
				neg -= int64(w)
			}
		}
		accMax = max(accMax, nu*pos+(-mu)*neg)
		accMin = min(accMin, -((-mu)*pos + nu*neg))
	}
	r := max(-accMin, accMax+1) // need 2^(P-1) ≥ r
	return bits.Len64(uint64(r-1)) + 1
}

// randomUnit draws sparse weights and returns the unit with P set to its exact bound.
func randomUnit(rng *rand.Rand, name string, oc, k, m, n, simd int, signed bool) Unit {
	u := Unit{Name: name, OutChannels: oc, K: k, WeightBits: m, InputBits: n, InputSigned: signed, SIMD: simd}
	u.Weights = make([]int32, oc*k)
	hi := int(1)<<(m-1) - 1
	for i := range u.Weights {
		if rng.IntN(3) != 0 {
			u.Weights[i] = int32(rng.IntN(2*hi+1) - hi)
		}
	}
	u.AccBits = exactAccBits(u)
	return u
}

// extremeInputs returns vectors that reach every channel's largest and smallest sums (so a
// P one bit narrower than the exact bound must overflow), plus random ones.
func extremeInputs(rng *rand.Rand, u Unit, random int) [][]int32 {
	lo, hi := intRange(u.InputBits, u.InputSigned)
	var out [][]int32
	for c := range u.OutChannels {
		up, down := make([]int32, u.K), make([]int32, u.K)
		for k, w := range u.Weights[c*u.K : (c+1)*u.K] {
			if w > 0 {
				up[k], down[k] = int32(hi), int32(lo)
			} else {
				up[k], down[k] = int32(lo), int32(hi)
			}
		}
		out = append(out, up, down)
	}
	for range random {
		x := make([]int32, u.K)
		for k := range x {
			x[k] = int32(lo + rng.Int64N(hi-lo+1))
		}
		out = append(out, x)
	}
	return out
}

// simulate writes u with a testbench for inputs into a fresh directory and runs it.
func simulate(t *testing.T, u Unit, inputs [][]int32) SimResult {
	t.Helper()
	dir := t.TempDir()
	if _, err := WriteFiles(dir, u, inputs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Simulate(ctx, dir, u.Name+".v", u.Name+"_tb.v")
	skipWithout(t, err)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// randomThresholds draws 2^B − 1 sorted thresholds per channel within the P-bit range,
// mostly inside the range the channel's sums reach.
func randomThresholds(rng *rand.Rand, u Unit) []int64 {
	nt := 1<<u.OutputBits - 1
	lo, hi := intRange(u.AccBits, true)
	span := min(hi, int64(1)<<(u.WeightBits+u.InputBits+2))
	out := make([]int64, 0, u.OutChannels*nt)
	for range u.OutChannels {
		ts := make([]int64, nt)
		for i := range ts {
			ts[i] = max(lo, -span+rng.Int64N(2*span+1))
		}
		slices.Sort(ts)
		out = append(out, ts...)
	}
	return out
}

func valueSet(m map[[2]int]int64) map[int64]bool {
	s := map[int64]bool{}
	for _, v := range m {
		s[v] = true
	}
	return s
}

// outputLines parses the "<tag> vector channel value" lines of a simulation.
func outputLines(t *testing.T, out, tag string) map[[2]int]int64 {
	t.Helper()
	got := map[[2]int]int64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var v, c int
		var acc int64
		if n, _ := fmt.Sscanf(sc.Text(), tag+" %d %d %d", &v, &c, &acc); n == 3 {
			got[[2]int{v, c}] = acc
		}
	}
	return got
}

func TestSimulationMatchesGo(t *testing.T) {
	requireTool(t, "iverilog", "iverilog")
	tests := []struct {
		name         string
		oc, k, m, n  int
		simd         int
		signed       bool
		narrower     int // bits below the exact bound
		wantOverflow bool
		seed1        uint64
		outputBits   int // thresholding stage when > 0
	}{
		{name: "certified unsigned W8A8", oc: 2, k: 8, m: 8, n: 8, simd: 2, seed1: 1},
		{name: "certified signed W4A4", oc: 3, k: 12, m: 4, n: 4, simd: 4, signed: true, seed1: 2},
		{name: "one lane", oc: 2, k: 5, m: 6, n: 3, simd: 1, seed1: 3},
		{name: "odd lane count", oc: 2, k: 9, m: 5, n: 7, simd: 3, signed: true, seed1: 4},
		{name: "all lanes at once", oc: 4, k: 6, m: 8, n: 8, simd: 6, seed1: 5},
		{name: "P one bit too narrow", oc: 2, k: 8, m: 8, n: 8, simd: 2, narrower: 1, wantOverflow: true, seed1: 6},
		{name: "P far too narrow, signed", oc: 2, k: 8, m: 8, n: 8, simd: 4, signed: true, narrower: 6, wantOverflow: true, seed1: 7},
		{name: "thresholds B=2", oc: 3, k: 8, m: 8, n: 8, simd: 2, seed1: 8, outputBits: 2},
		{name: "thresholds B=4, signed", oc: 2, k: 12, m: 4, n: 4, simd: 3, signed: true, seed1: 9, outputBits: 4},
		{name: "thresholds B=3, P too narrow", oc: 2, k: 8, m: 8, n: 8, simd: 8, narrower: 2, wantOverflow: true, seed1: 10, outputBits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed1, 99))
			u := randomUnit(rng, "dot", tt.oc, tt.k, tt.m, tt.n, tt.simd, tt.signed)
			certified := u.AccBits
			u.AccBits -= tt.narrower
			if tt.outputBits > 0 {
				u.OutputBits = tt.outputBits
				u.Thresholds = randomThresholds(rng, u)
			}
			inputs := extremeInputs(rng, u, 3)
			res := simulate(t, u, inputs)
			checks := len(inputs) * u.OutChannels
			if tt.outputBits > 0 {
				checks *= 2
			}
			if res.Failed != 0 || res.Passed != checks {
				t.Fatalf("P=%d: testbench passed %d, failed %d of %d\n%s", u.AccBits, res.Passed, res.Failed,
					checks, res.Output)
			}
			// Independently of the testbench's own check, every printed accumulator must
			// equal Go's int64 result, wrapped to P bits.
			got := outputLines(t, res.Output, "ACC")
			acts := outputLines(t, res.Output, "ACT")
			if tt.outputBits > 0 && len(acts) != len(inputs)*u.OutChannels {
				t.Fatalf("simulation printed %d activations, want %d", len(acts), len(inputs)*u.OutChannels)
			}
			if len(got) != len(inputs)*u.OutChannels {
				t.Fatalf("simulation printed %d accumulators, want %d", len(got), len(inputs)*u.OutChannels)
			}
			overflowed := 0
			for v, x := range inputs {
				exact, wrapped, err := Expected(u, x)
				if err != nil {
					t.Fatal(err)
				}
				for c := range exact {
					if got[[2]int{v, c}] != wrapped[c] {
						t.Errorf("vector %d channel %d: hardware %d, Go %d (exact %d)", v, c, got[[2]int{v, c}], wrapped[c], exact[c])
					}
					if exact[c] != wrapped[c] {
						overflowed++
					}
					if tt.outputBits > 0 {
						nt := 1<<tt.outputBits - 1
						want := thresh.Count(wrapped[c], u.Thresholds[c*nt:(c+1)*nt])
						if acts[[2]int{v, c}] != int64(want) {
							t.Errorf("vector %d channel %d: activation %d, Go %d", v, c, acts[[2]int{v, c}], want)
						}
					}
				}
			}
			if distinct := len(valueSet(acts)); tt.outputBits > 0 && distinct < 2 {
				t.Errorf("all activations equal: the thresholds test nothing")
			}
			if tt.wantOverflow && overflowed == 0 {
				t.Errorf("P=%d (certified %d) never wrapped: the test cannot show overflow", u.AccBits, certified)
			}
			if !tt.wantOverflow && overflowed != 0 {
				t.Errorf("certified P=%d wrapped %d accumulators", u.AccBits, overflowed)
			}
		})
	}
}

func TestSimulationDetectsWrongHardware(t *testing.T) {
	requireTool(t, "iverilog", "iverilog")
	u := tinyUnit()
	dir := t.TempDir()
	if _, err := WriteFiles(dir, u, nil); err != nil {
		t.Fatal(err)
	}
	// The testbench expects one weight to differ from the module's ROM.
	v := u
	v.Weights = append([]int32(nil), u.Weights...)
	v.Weights[3]++
	f, err := os.Create(dir + "/dot_tb.v")
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]int32{{1, 2, 3, 4, 5, 6, 7, 8}, {0, 0, 0, 0, 1, 1, 1, 1}}
	if err := WriteTestbench(f, v, inputs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res, err := Simulate(context.Background(), dir, "dot.v", "dot_tb.v")
	skipWithout(t, err)
	if err != nil {
		t.Fatal(err)
	}
	// Input 0 meets the changed weight (x[3] = 4); input 1 does not.
	if res.Failed != 1 || res.Passed != 3 || !strings.Contains(res.Output, "TESTBENCH FAIL") {
		t.Errorf("passed %d, failed %d; want 3 and 1 with a FAIL line\n%s", res.Passed, res.Failed, res.Output)
	}
}

func TestVerilatorLint(t *testing.T) {
	requireTool(t, "verilator", "verilator")
	rng := rand.New(rand.NewPCG(8, 8))
	for _, u := range []Unit{
		tinyUnit(),
		randomUnit(rng, "lint_signed", 3, 12, 4, 4, 4, true),
		randomUnit(rng, "lint_one", 1, 3, 3, 2, 1, false),
		func() Unit {
			u := randomUnit(rng, "lint_thr", 3, 8, 8, 8, 4, false)
			u.OutputBits = 3
			u.Thresholds = randomThresholds(rng, u)
			return u
		}(),
	} {
		dir := t.TempDir()
		if _, err := WriteFiles(dir, u, nil); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("verilator", "--lint-only", "-Wall", dir+"/"+u.Name+".v").CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Errorf("verilator --lint-only -Wall on %s: %v\n%s", u.Name, err, out)
		}
	}
}

func TestSynthesize(t *testing.T) {
	requireTool(t, "yosys", "yosys")
	// ice40 is the fastest flow: it carries the P comparison; xilinx runs once.
	tests := []struct {
		family string
		p      int
	}{
		{"ice40", 16},
		{"ice40", 32},
		{"xilinx-nodsp", 16},
	}
	ff := map[string]map[int]int{}
	for _, tt := range tests {
		u := tinyUnit()
		u.AccBits = tt.p
		u.Name = fmt.Sprintf("dot_p%d", tt.p)
		dir := t.TempDir()
		if _, err := WriteFiles(dir, u, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // generous: CI machines may be shared
		res, err := Synthesize(ctx, dir, u.Name, tt.family)
		cancel()
		skipWithout(t, err)
		if err != nil {
			t.Fatal(err)
		}
		// The accumulator register alone is P flip-flops; nothing is mapped to DSPs or BRAM.
		if res.LUT == 0 || res.FF < tt.p || res.Cells < res.LUT+res.FF || res.DSP != 0 || res.BRAM != 0 {
			t.Errorf("%s P=%d: implausible counts %+v", tt.family, tt.p, res)
		}
		if ff[tt.family] == nil {
			ff[tt.family] = map[int]int{}
		}
		ff[tt.family][tt.p] = res.FF
	}
	if d := ff["ice40"][32] - ff["ice40"][16]; d < 16 {
		t.Errorf("ice40: P=32 has %d more flip-flops than P=16, want at least 16", d)
	}
}

func TestSynthesizeErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Synthesize(context.Background(), dir, "dot", "virtex2"); err == nil || !strings.Contains(err.Error(), "xilinx") {
		t.Errorf("unknown family: err = %v, want one listing the families", err)
	}
	if _, err := Synthesize(context.Background(), dir, "1x", "ice40"); err == nil {
		t.Error("bad top name accepted")
	}
	t.Setenv("PATH", t.TempDir())
	_, err := Synthesize(context.Background(), dir, "dot", "ice40")
	var missing ErrToolMissing
	if !errors.As(err, &missing) || missing.DebianPackage != "yosys" || !strings.Contains(err.Error(), "apt-get install -y yosys") {
		t.Errorf("Synthesize without yosys: err = %v, want ErrToolMissing naming yosys", err)
	}
	_, err = Simulate(context.Background(), dir, "dot.v")
	if !errors.As(err, &missing) || missing.DebianPackage != "iverilog" {
		t.Errorf("Simulate without iverilog: err = %v, want ErrToolMissing naming iverilog", err)
	}
}

// statXilinx is the shape of Yosys 0.23's stat output after synth_xilinx.
const statXilinx = `
3. Printing statistics.

=== dot ===

   Number of wires:                 93
   Number of wire bits:            416
   Number of public wires:          34
   Number of public wire bits:     202
   Number of memories:               0
   Number of memory bits:            0
   Number of processes:              0
   Number of cells:                121
     BUFG                            1
     CARRY4                          4
     DSP48E1                         2
     FDRE                           26
     FDSE                            1
     LUT2                           25
     LUT3                           20
     LUT6_2                          2
     MUXF7                           3
     RAMB18E1                        1
     SRL16E                          2

`

func TestParseStat(t *testing.T) {
	res, err := parseStat([]byte(statXilinx), "dot")
	if err != nil {
		t.Fatal(err)
	}
	if res.Cells != 121 || res.CellsByType["FDRE"] != 26 || res.CellsByType["SRL16E"] != 2 || len(res.CellsByType) != 11 {
		t.Errorf("parseStat = %+v", res)
	}
	counts := map[resource]int{}
	for c, n := range res.CellsByType {
		counts[classifyXilinx(c)] += n
	}
	want := map[resource]int{resLUT: 47, resFF: 27, resCarry: 4, resDSP: 2, resBRAM: 1, resLUTRAM: 2, resOther: 4}
	for r, n := range want {
		if counts[r] != n {
			t.Errorf("class %d: %d cells, want %d", r, counts[r], n)
		}
	}
	if _, err := parseStat([]byte(statXilinx), "other"); err == nil {
		t.Error("parseStat found statistics for a module that is not there")
	}
}
