package hw

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a2qtoolkit/a2q/fileio"
)

// ErrToolMissing is returned when an external EDA tool is not installed. DebianPackage
// names the package that provides it; nothing is ever installed automatically.
type ErrToolMissing struct {
	Tool, DebianPackage string
}

func (e ErrToolMissing) Error() string {
	return fmt.Sprintf("hw: %s not found in PATH: install the Debian package %s (apt-get install -y %s)",
		e.Tool, e.DebianPackage, e.DebianPackage)
}

// lookTool finds tool in PATH or returns ErrToolMissing.
func lookTool(tool, pkg string) (string, error) {
	path, err := exec.LookPath(tool)
	if err != nil {
		return "", ErrToolMissing{Tool: tool, DebianPackage: pkg}
	}
	return path, nil
}

// family describes one Yosys synthesis flow and how to count its primitives.
type family struct {
	script   string // synthesis command; %s is the top module
	classify func(cell string) resource
}

type resource int

const (
	resOther resource = iota
	resLUT
	resFF
	resCarry
	resDSP
	resBRAM
	resLUTRAM
)

var families = map[string]family{
	"xilinx":       {"synth_xilinx -flatten -noiopad -top %s", classifyXilinx},
	"xilinx-nodsp": {"synth_xilinx -flatten -noiopad -nodsp -top %s", classifyXilinx},
	"ice40":        {"synth_ice40 -top %s", classifyICE40},
	"ecp5":         {"synth_ecp5 -top %s", classifyECP5},
	"ecp5-nodsp":   {"synth_ecp5 -nodsp -top %s", classifyECP5},
	"gowin":        {"synth_gowin -top %s", classifyGowin},
}

// Families lists the family names Synthesize accepts, sorted.
func Families() []string {
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	xilinxLUT    = regexp.MustCompile(`^LUT[1-6](_2)?$`)
	xilinxFF     = regexp.MustCompile(`^FD[CPRS]E(_1)?$|^FD[CPRS]?$`)
	xilinxLUTRAM = regexp.MustCompile(`^RAM(16|32|64|128|256)[XM]|^SRL`)
)

func classifyXilinx(c string) resource {
	switch {
	case xilinxLUT.MatchString(c):
		return resLUT
	case xilinxFF.MatchString(c):
		return resFF
	case strings.HasPrefix(c, "CARRY"):
		return resCarry
	case strings.HasPrefix(c, "DSP48"):
		return resDSP
	case strings.HasPrefix(c, "RAMB"):
		return resBRAM
	case xilinxLUTRAM.MatchString(c):
		return resLUTRAM
	}
	return resOther
}

func classifyICE40(c string) resource {
	switch {
	case c == "SB_LUT4":
		return resLUT
	case strings.HasPrefix(c, "SB_DFF"):
		return resFF
	case c == "SB_CARRY":
		return resCarry
	case c == "SB_MAC16":
		return resDSP
	case strings.HasPrefix(c, "SB_RAM"), strings.HasPrefix(c, "SB_SPRAM"):
		return resBRAM
	}
	return resOther
}

func classifyECP5(c string) resource {
	switch {
	case c == "LUT4":
		return resLUT
	case c == "TRELLIS_FF":
		return resFF
	case c == "CCU2C":
		return resCarry
	case strings.HasPrefix(c, "MULT18"), strings.HasPrefix(c, "ALU54"):
		return resDSP
	case c == "DP16KD", c == "PDPW16KD":
		return resBRAM
	case strings.HasPrefix(c, "TRELLIS_DPR"):
		return resLUTRAM
	}
	return resOther
}

var gowinLUT = regexp.MustCompile(`^LUT[1-4]$`)

func classifyGowin(c string) resource {
	switch {
	case gowinLUT.MatchString(c):
		return resLUT
	case strings.HasPrefix(c, "DFF"):
		return resFF
	case c == "ALU":
		return resCarry
	case strings.HasPrefix(c, "MULT"):
		return resDSP
	case c == "SP", c == "SPX9", c == "DP", c == "DPX9", c == "SDP", c == "SDPX9", c == "pROM", c == "pROMX9":
		return resBRAM
	case strings.HasPrefix(c, "RAM16"):
		return resLUTRAM
	}
	return resOther
}

// SynthResult is the resource count Yosys reports for one synthesised design.
type SynthResult struct {
	Family, Top string
	// LUT counts look-up tables (LUT1..LUT6 on Xilinx, LUT4 elsewhere); FF flip-flops.
	LUT, FF int
	// Carry counts carry-chain cells (CARRY4, SB_CARRY, CCU2C, ALU), DSP multiplier
	// blocks, BRAM block RAMs and LUTRAM distributed-RAM or shift-register cells.
	Carry, DSP, BRAM, LUTRAM int
	// Cells is the total cell count and CellsByType the full table from Yosys's stat.
	Cells       int
	CellsByType map[string]int
	// Duration is the wall time of the Yosys run; Log the path of its full log.
	Duration time.Duration
	Log      string
}

// Synthesize runs Yosys on every Verilog file (*.v) in dir except testbenches (*_tb.v),
// with top as the top module, for a family from Families():
//
//	xilinx        synth_xilinx (7-series; multipliers may use DSP48E1)
//	xilinx-nodsp  synth_xilinx -nodsp (multipliers in LUTs, as FINN's model with MultOnDSP=false)
//	ice40         synth_ice40 (SB_LUT4; no DSP inference by default)
//	ecp5          synth_ecp5, ecp5-nodsp with -nodsp
//	gowin         synth_gowin (experimental in Yosys)
//
// It writes the script, log and statistics into dir (synth_<family>.ys, .log, .stat) and
// parses the cell counts. A missing yosys gives ErrToolMissing.
func Synthesize(ctx context.Context, dir, top, family string) (SynthResult, error) {
	fam, ok := families[family]
	if !ok {
		return SynthResult{}, fmt.Errorf("hw: unknown synthesis family %q (have %s)", family, strings.Join(Families(), ", "))
	}
	if !verilogIdent.MatchString(top) {
		return SynthResult{}, fmt.Errorf("hw: top module %q is not a Verilog identifier", top)
	}
	yosys, err := lookTool("yosys", "yosys")
	if err != nil {
		return SynthResult{}, err
	}
	sources, err := designFiles(dir)
	if err != nil {
		return SynthResult{}, err
	}
	base := "synth_" + family
	statFile := base + ".stat"
	var script strings.Builder
	for _, f := range sources {
		fmt.Fprintf(&script, "read_verilog %s\n", quoteYosys(f))
	}
	fmt.Fprintf(&script, fam.script+"\n", top)
	fmt.Fprintf(&script, "tee -q -o %s stat\n", statFile)
	scriptFile := base + ".ys"
	if err := fileio.WriteAtomic(filepath.Join(dir, scriptFile), []byte(script.String())); err != nil {
		return SynthResult{}, fmt.Errorf("hw: writing synthesis script: %w", err)
	}
	logFile := filepath.Join(dir, base+".log")
	_ = os.Remove(filepath.Join(dir, statFile))
	cmd := exec.CommandContext(ctx, yosys, "-q", "-l", base+".log", "-s", scriptFile)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	dur := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return SynthResult{}, fmt.Errorf("hw: yosys %s on %s: %w", family, dir, ctx.Err())
		}
		return SynthResult{}, fmt.Errorf("hw: yosys %s on %s failed: %w\n%s", family, dir, err, tail(stderr.String()+readTail(logFile), 20))
	}
	stat, err := os.ReadFile(filepath.Join(dir, statFile))
	if err != nil {
		return SynthResult{}, fmt.Errorf("hw: yosys wrote no statistics: %w", err)
	}
	res, err := parseStat(stat, top)
	if err != nil {
		return SynthResult{}, fmt.Errorf("hw: %s: %w", filepath.Join(dir, statFile), err)
	}
	res.Family, res.Top, res.Duration, res.Log = family, top, dur, logFile
	for cell, n := range res.CellsByType {
		switch fam.classify(cell) {
		case resLUT:
			res.LUT += n
		case resFF:
			res.FF += n
		case resCarry:
			res.Carry += n
		case resDSP:
			res.DSP += n
		case resBRAM:
			res.BRAM += n
		case resLUTRAM:
			res.LUTRAM += n
		}
	}
	return res, nil
}

// designFiles lists the synthesisable sources of dir.
func designFiles(dir string) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(dir, "*.v"))
	if err != nil {
		return nil, fmt.Errorf("hw: listing %s: %w", dir, err)
	}
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, "_tb.v") {
			out = append(out, filepath.Base(f))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("hw: no Verilog design files (*.v other than *_tb.v) in %s", dir)
	}
	return out, nil
}

func quoteYosys(f string) string {
	if strings.ContainsAny(f, " \t\"") {
		return strconv.Quote(f)
	}
	return f
}

var (
	statModule = regexp.MustCompile(`^=== (\S+) ===$`)
	statCells  = regexp.MustCompile(`^\s*Number of cells:\s+(\d+)$`)
	statCell   = regexp.MustCompile(`^\s+(\S+)\s+(\d+)$`)
)

// parseStat reads the cell table of module top from Yosys's stat output.
func parseStat(stat []byte, top string) (SynthResult, error) {
	res := SynthResult{CellsByType: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(stat))
	inTop, inCells, found := false, false, false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if m := statModule.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			inTop = m[1] == top || m[1] == `\`+top
			inCells = false
			continue
		}
		if !inTop {
			continue
		}
		if m := statCells.FindStringSubmatch(line); m != nil {
			res.Cells, _ = strconv.Atoi(m[1])
			inCells, found = true, true
			continue
		}
		if inCells {
			m := statCell.FindStringSubmatch(line)
			if m == nil {
				inCells = false
				continue
			}
			n, _ := strconv.Atoi(m[2])
			res.CellsByType[strings.TrimPrefix(m[1], `\`)] += n
		}
	}
	if !found {
		return SynthResult{}, fmt.Errorf("no cell statistics for module %s", top)
	}
	return res, nil
}

// SimResult is the outcome of running a self-checking testbench.
type SimResult struct {
	// Passed and Failed are the counts from the testbench's last "COUNTS passed=<n>
	// failed=<m>" line.
	Passed, Failed int
	// Output is everything the simulation printed.
	Output string
	// Duration is the wall time of compiling and running the simulation.
	Duration time.Duration
}

var countsLine = regexp.MustCompile(`(?m)^COUNTS passed=(\d+) failed=(\d+)\s*$`)

// Simulate compiles files (paths relative to dir, or absolute) with Icarus Verilog
// (iverilog -g2005, into dir/sim.vvp) and runs the result with vvp in dir. The testbench must print a
// "COUNTS passed=<n> failed=<m>" line, as WriteTestbench's do; a run that prints none is an
// error. A missing iverilog or vvp gives ErrToolMissing (Debian package iverilog).
func Simulate(ctx context.Context, dir string, files ...string) (SimResult, error) {
	if len(files) == 0 {
		return SimResult{}, errors.New("hw: Simulate needs at least one Verilog file")
	}
	iverilog, err := lookTool("iverilog", "iverilog")
	if err != nil {
		return SimResult{}, err
	}
	vvp, err := lookTool("vvp", "iverilog")
	if err != nil {
		return SimResult{}, err
	}
	t0 := time.Now()
	compile := exec.CommandContext(ctx, iverilog, append([]string{"-g2005", "-o", "sim.vvp"}, files...)...)
	compile.Dir = dir
	if out, err := compile.CombinedOutput(); err != nil {
		return SimResult{}, fmt.Errorf("hw: iverilog %s in %s: %w\n%s", strings.Join(files, " "), dir, err, tail(string(out), 20))
	}
	run := exec.CommandContext(ctx, vvp, "-n", "sim.vvp")
	run.Dir = dir
	out, err := run.CombinedOutput()
	res := SimResult{Output: string(out), Duration: time.Since(t0)}
	if err != nil {
		return res, fmt.Errorf("hw: vvp in %s: %w\n%s", dir, err, tail(res.Output, 20))
	}
	m := countsLine.FindAllStringSubmatch(res.Output, -1)
	if m == nil {
		return res, fmt.Errorf("hw: simulation in %s printed no COUNTS line\n%s", dir, tail(res.Output, 20))
	}
	last := m[len(m)-1]
	res.Passed, _ = strconv.Atoi(last[1])
	res.Failed, _ = strconv.Atoi(last[2])
	return res, nil
}

// WriteFiles writes u's module to dir/<Name>.v and, when inputs is not empty, its testbench
// to dir/<Name>_tb.v, creating dir if needed. It returns the paths written.
func WriteFiles(dir string, u Unit, inputs [][]int32) ([]string, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("hw: %w", err)
	}
	var written []string
	write := func(name string, gen func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return err
		}
		if err := fileio.WriteAtomic(path, b.Bytes()); err != nil {
			return fmt.Errorf("hw: %w", err)
		}
		written = append(written, path)
		return nil
	}
	if err := write(u.Name+".v", func(w io.Writer) error { return WriteVerilog(w, u) }); err != nil {
		return nil, err
	}
	if len(inputs) > 0 {
		if err := write(u.Name+"_tb.v", func(w io.Writer) error { return WriteTestbench(w, u, inputs) }); err != nil {
			return nil, err
		}
	}
	return written, nil
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
