package hw

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"regexp"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/thresh"
)

// Unit is one layer's dot-product engine for RTL generation: OutChannels dot products of
// length K between signed WeightBits-bit integer weights and InputBits-bit inputs, SIMD
// products per clock cycle, summed in an AccBits-bit two's-complement accumulator.
type Unit struct {
	// Name is the Verilog module name (an identifier); the testbench is Name+"_tb".
	Name string
	// Weights holds the integer weights, row-major OutChannels×K: channel c, element k at c·K+k.
	Weights []int32
	// OutChannels and K are the matrix height and the dot-product length.
	OutChannels, K int
	// WeightBits M (signed) and InputBits N; InputSigned selects signed or unsigned inputs.
	WeightBits, InputBits int
	InputSigned           bool
	// AccBits P is the accumulator width; SIMD the number of lanes (must divide K).
	AccBits, SIMD int
	// OutputBits B and Thresholds, when Thresholds is not empty, add FINN's thresholding
	// stage: channel c's 2^B − 1 thresholds are Thresholds[c·(2^B−1):(c+1)·(2^B−1)], each in
	// the P-bit range, and its B-bit output is the number of them at or below the accumulator
	// (thresh.Count). Without thresholds the unit outputs the accumulator only.
	OutputBits int
	Thresholds []int64
}

// numThresholds is 2^B − 1, the thresholds per channel.
func (u Unit) numThresholds() int { return 1<<u.OutputBits - 1 }

var verilogIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports whether u describes a unit that can be generated, naming the bad field.
func (u Unit) Validate() error {
	switch {
	case !verilogIdent.MatchString(u.Name):
		return fmt.Errorf("hw: unit name %q is not a Verilog identifier", u.Name)
	case u.OutChannels < 1 || u.K < 1:
		return fmt.Errorf("hw: unit %s: OutChannels=%d and K=%d must be positive", u.Name, u.OutChannels, u.K)
	case len(u.Weights) != u.OutChannels*u.K:
		return fmt.Errorf("hw: unit %s: %d weights, want OutChannels·K = %d", u.Name, len(u.Weights), u.OutChannels*u.K)
	case u.WeightBits < 1 || u.WeightBits > MaxOperandBits:
		return fmt.Errorf("hw: unit %s: weight bits %d out of range [1, %d]", u.Name, u.WeightBits, MaxOperandBits)
	case u.InputBits < 1 || u.InputBits > MaxOperandBits:
		return fmt.Errorf("hw: unit %s: input bits %d out of range [1, %d]", u.Name, u.InputBits, MaxOperandBits)
	case accum.CheckAccBits(u.AccBits) != nil:
		return fmt.Errorf("hw: unit %s: %w", u.Name, accum.CheckAccBits(u.AccBits))
	case u.SIMD < 1 || u.K%u.SIMD != 0:
		return fmt.Errorf("hw: unit %s: SIMD=%d must be a positive divisor of K=%d", u.Name, u.SIMD, u.K)
	}
	if len(u.Thresholds) > 0 {
		if u.OutputBits < 1 || u.OutputBits > 8 {
			return fmt.Errorf("hw: unit %s: output bits %d out of range [1, 8] for a thresholding stage", u.Name, u.OutputBits)
		}
		if want := u.OutChannels * u.numThresholds(); len(u.Thresholds) != want {
			return fmt.Errorf("hw: unit %s: %d thresholds, want OutChannels·(2^%d−1) = %d", u.Name, len(u.Thresholds), u.OutputBits, want)
		}
		lo, hi := intRange(u.AccBits, true)
		for i, t := range u.Thresholds {
			if t < lo || t > hi {
				return fmt.Errorf("hw: unit %s: threshold [channel %d, %d] = %d outside the %d-bit accumulator range [%d, %d]",
					u.Name, i/u.numThresholds(), i%u.numThresholds(), t, u.AccBits, lo, hi)
			}
		}
	} else if u.OutputBits != 0 {
		return fmt.Errorf("hw: unit %s: output bits %d given without thresholds", u.Name, u.OutputBits)
	}
	lo, hi := intRange(u.WeightBits, true)
	for i, w := range u.Weights {
		if int64(w) < lo || int64(w) > hi {
			return fmt.Errorf("hw: unit %s: weight [channel %d, k %d] = %d outside the %d-bit signed range [%d, %d]",
				u.Name, i/u.K, i%u.K, w, u.WeightBits, lo, hi)
		}
	}
	return nil
}

// intRange is the range of a bits-wide integer.
func intRange(bits int, signed bool) (lo, hi int64) {
	if signed {
		return -(int64(1) << (bits - 1)), int64(1)<<(bits-1) - 1
	}
	return 0, int64(1)<<bits - 1
}

// Wrap reduces v modulo 2^bits into the two's-complement range of a bits-wide signed
// integer, which is what a bits-wide hardware accumulator holds. bits must be in [1, 64].
func Wrap(v int64, bits int) int64 {
	if bits >= 64 {
		return v
	}
	s := uint(64 - bits)
	return v << s >> s
}

// Expected computes the dot products of input x (length K) with every channel of u: exact in
// int64, and as a u.AccBits-bit accumulator holds them (wrapped modulo 2^P; equal to exact
// when P is wide enough). It checks x against the input range.
func Expected(u Unit, x []int32) (exact, wrapped []int64, err error) {
	if err := u.Validate(); err != nil {
		return nil, nil, err
	}
	if err := u.checkInput(x, 0); err != nil {
		return nil, nil, err
	}
	exact = make([]int64, u.OutChannels)
	wrapped = make([]int64, u.OutChannels)
	for c := range u.OutChannels {
		var s int64
		for k, w := range u.Weights[c*u.K : (c+1)*u.K] {
			s += int64(w) * int64(x[k])
		}
		exact[c] = s
		wrapped[c] = Wrap(s, u.AccBits)
	}
	return exact, wrapped, nil
}

func (u Unit) checkInput(x []int32, vec int) error {
	if len(x) != u.K {
		return fmt.Errorf("hw: unit %s: input vector %d has %d elements, want K = %d", u.Name, vec, len(x), u.K)
	}
	lo, hi := intRange(u.InputBits, u.InputSigned)
	for k, v := range x {
		if int64(v) < lo || int64(v) > hi {
			return fmt.Errorf("hw: unit %s: input vector %d element %d = %d outside the %d-bit %s range [%d, %d]",
				u.Name, vec, k, v, u.InputBits, signedness(u.InputSigned), lo, hi)
		}
	}
	return nil
}

func signedness(signed bool) string {
	if signed {
		return "signed"
	}
	return "unsigned"
}

// geometry holds the derived widths of the generated datapath.
type geometry struct {
	chunks     int // K/SIMD cycles per output channel
	chBits     int // channel counter width
	ckBits     int // chunk counter width
	xBits      int // width of an input operand after extension (N, or N+1 for unsigned)
	prodBits   int // product width, at most P
	treeLevels int // ceil(log2 SIMD)
}

func (u Unit) geometry() geometry {
	g := geometry{chunks: u.K / u.SIMD}
	g.chBits = max(1, clog2(u.OutChannels))
	g.ckBits = max(1, clog2(g.chunks))
	g.xBits = u.InputBits
	if !u.InputSigned {
		g.xBits++
	}
	g.prodBits = min(u.WeightBits+g.xBits, u.AccBits)
	g.treeLevels = clog2(u.SIMD)
	return g
}

// levelBits is the width of adder-tree level l: the natural growth of one bit per level,
// capped at P (arithmetic modulo 2^P needs no more).
func (u Unit) levelBits(g geometry, l int) int { return min(g.prodBits+l, u.AccBits) }

// clog2 is ceil(log2 n) for n ≥ 1.
func clog2(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// errWriter carries the first write error, so generators can print freely and check once.
type errWriter struct {
	w   *bufio.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *errWriter) flush() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

// pack places lane values (each reduced to width bits) side by side, lane j at bits
// [j·width, (j+1)·width), and returns the packed value as a sized Verilog hex literal.
func pack(vals []int32, width int) string {
	v := make([]int64, len(vals))
	for i, x := range vals {
		v[i] = int64(x)
	}
	return pack64(v, width)
}

// pack64 is pack for 64-bit values and widths up to 64.
func pack64(vals []int64, width int) string {
	var acc, lane big.Int
	mask := uint64(1)<<uint(width) - 1 // all ones when width is 64
	for j := len(vals) - 1; j >= 0; j-- {
		acc.Lsh(&acc, uint(width))
		lane.SetUint64(uint64(vals[j]) & mask)
		acc.Or(&acc, &lane)
	}
	return fmt.Sprintf("%d'h%s", width*len(vals), acc.Text(16))
}

// WriteVerilog writes a synthesizable Verilog-2005 module named u.Name computing u's dot
// products. Its ports:
//
//	clk, rst        clock; synchronous active-high reset
//	start           one-cycle pulse while idle: compute all channels for one input vector
//	x_addr          output: index of the SIMD-element chunk of the input the unit reads now
//	x_chunk         input: that chunk, lane j in bits [j·N, (j+1)·N), valid in the same cycle
//	out_valid       one-cycle strobe: out_acc holds channel out_ch's P-bit dot product
//	out_ch, out_acc channel index and signed accumulator value
//	busy            high while channels are being issued
//	act_valid, act_ch, act_out  with thresholds only: the B-bit activation of channel
//	                act_ch, one cycle after its out_valid
//
// Each cycle one chunk of weights is read from a ROM (a case statement holding the non-zero
// chunks) and SIMD products of a signed M-bit weight and an N-bit input (zero-extended by one
// bit when unsigned) feed a balanced adder tree whose levels grow one bit each, up to P, and
// a P-bit accumulator register; K/SIMD cycles per channel, channels in order, two cycles of
// latency. All arithmetic is modulo 2^P, as a P-bit accumulator is. With thresholds, a
// per-channel ROM of 2^B − 1 P-bit thresholds feeds as many signed comparators whose count is
// the activation (FINN's thresholding), so this stage too grows with P.
func WriteVerilog(w io.Writer, u Unit) error {
	if err := u.Validate(); err != nil {
		return err
	}
	g := u.geometry()
	e := &errWriter{w: bufio.NewWriter(w)}
	m, n, p, simd := u.WeightBits, u.InputBits, u.AccBits, u.SIMD

	e.printf("// %s: dot-product unit generated by the a2q toolkit (package hw).\n", u.Name)
	e.printf("// %d output channels of K=%d; %d-bit signed weights, %d-bit %s inputs,\n",
		u.OutChannels, u.K, m, n, signedness(u.InputSigned))
	e.printf("// %d lanes per cycle, %d-bit accumulator (arithmetic modulo 2^%d).\n", simd, p, p)
	e.printf("`timescale 1ns/1ps\n`default_nettype none\n")
	e.printf("module %s (\n", u.Name)
	e.printf("    input  wire clk,\n    input  wire rst,\n    input  wire start,\n")
	e.printf("    output wire [%d:0] x_addr,\n", g.ckBits-1)
	e.printf("    input  wire [%d:0] x_chunk,\n", simd*n-1)
	e.printf("    output reg  out_valid,\n")
	e.printf("    output reg  [%d:0] out_ch,\n", g.chBits-1)
	e.printf("    output wire signed [%d:0] out_acc,\n", p-1)
	if u.hasThresholds() {
		e.printf("    output reg  busy,\n")
		e.printf("    output reg  act_valid,\n")
		e.printf("    output reg  [%d:0] act_ch,\n", g.chBits-1)
		e.printf("    output reg  [%d:0] act_out\n);\n", u.OutputBits-1)
	} else {
		e.printf("    output reg  busy\n);\n")
	}
	e.printf("    // M = %d, N = %d, P = %d, SIMD = %d, K = %d, OUT_CH = %d, CHUNKS = K/SIMD = %d\n\n",
		m, n, p, simd, u.K, u.OutChannels, g.chunks)

	// Control: walk channels and chunks.
	e.printf("    reg [%d:0] ch;\n    reg [%d:0] chunk;\n", g.chBits-1, g.ckBits-1)
	e.printf("    wire last_chunk = chunk == %d'd%d;\n", g.ckBits, g.chunks-1)
	e.printf("    assign x_addr = chunk;\n")
	e.printf("    always @(posedge clk) begin\n")
	e.printf("        if (rst) begin\n            busy <= 1'b0; ch <= 0; chunk <= 0;\n")
	e.printf("        end else if (!busy) begin\n")
	e.printf("            if (start) begin busy <= 1'b1; ch <= 0; chunk <= 0; end\n")
	e.printf("        end else if (last_chunk) begin\n")
	e.printf("            chunk <= 0;\n")
	e.printf("            if (ch == %d'd%d) busy <= 1'b0; else ch <= ch + 1'b1;\n", g.chBits, u.OutChannels-1)
	e.printf("        end else begin\n            chunk <= chunk + 1'b1;\n        end\n    end\n\n")

	// Stage 1: weight ROM and input register.
	e.printf("    // Stage 1: weight ROM (non-zero chunks only) and input register.\n")
	e.printf("    reg [%d:0] w1;\n    reg [%d:0] x1;\n", simd*m-1, simd*n-1)
	e.printf("    reg v1, first1, last1;\n    reg [%d:0] ch1;\n", g.chBits-1)
	e.printf("    always @(posedge clk) begin\n")
	e.printf("        v1 <= busy & ~rst; first1 <= chunk == %d'd0; last1 <= last_chunk; ch1 <= ch; x1 <= x_chunk;\n", g.ckBits)
	e.printf("        case ({ch, chunk})\n")
	addrBits := g.chBits + g.ckBits
	for c := range u.OutChannels {
		for k := range g.chunks {
			vals := u.Weights[c*u.K+k*simd : c*u.K+(k+1)*simd]
			if allZero(vals) {
				continue
			}
			e.printf("        %d'd%d: w1 <= %s;\n", addrBits, c<<g.ckBits|k, pack(vals, m))
		}
	}
	e.printf("        default: w1 <= %d'd0;\n        endcase\n    end\n\n", simd*m)

	// Stage 2: multipliers, adder tree, accumulator.
	e.printf("    // Stage 2: %d multipliers, adder tree, %d-bit accumulator.\n", simd, p)
	for j := range simd {
		e.printf("    wire signed [%d:0] w_%d = w1[%d +: %d];\n", m-1, j, j*m, m)
		if u.InputSigned {
			e.printf("    wire signed [%d:0] x_%d = x1[%d +: %d];\n", g.xBits-1, j, j*n, n)
		} else {
			e.printf("    wire signed [%d:0] x_%d = {1'b0, x1[%d +: %d]};\n", g.xBits-1, j, j*n, n)
		}
		e.printf("    wire signed [%d:0] t0_%d = w_%d * x_%d;\n", g.prodBits-1, j, j, j)
	}
	width := simd
	for l := 1; l <= g.treeLevels; l++ {
		lb := u.levelBits(g, l)
		next := (width + 1) / 2
		for i := range next {
			if 2*i+1 < width {
				e.printf("    wire signed [%d:0] t%d_%d = t%d_%d + t%d_%d;\n", lb-1, l, i, l-1, 2*i, l-1, 2*i+1)
			} else {
				e.printf("    wire signed [%d:0] t%d_%d = t%d_%d;\n", lb-1, l, i, l-1, 2*i)
			}
		}
		width = next
	}
	e.printf("    wire signed [%d:0] sum = t%d_0; // sign-extended to P bits\n", p-1, g.treeLevels)
	e.printf("    reg signed [%d:0] acc;\n", p-1)
	e.printf("    assign out_acc = acc;\n")
	e.printf("    always @(posedge clk) begin\n")
	e.printf("        if (rst) begin\n            out_valid <= 1'b0; out_ch <= 0; acc <= 0;\n")
	e.printf("        end else begin\n")
	e.printf("            out_valid <= v1 & last1;\n            out_ch <= ch1;\n")
	e.printf("            if (v1) acc <= first1 ? sum : acc + sum;\n")
	e.printf("        end\n    end\n")
	if u.hasThresholds() {
		u.writeThresholdStage(e, g)
	}
	e.printf("endmodule\n`default_nettype wire\n")
	return e.flush()
}

func (u Unit) hasThresholds() bool { return len(u.Thresholds) > 0 }

// writeThresholdStage emits FINN's thresholding: a per-channel ROM of 2^B − 1 P-bit
// thresholds, as many signed comparators against the accumulator, and a count of the ones
// that hold, registered as the B-bit activation one cycle after out_valid.
func (u Unit) writeThresholdStage(e *errWriter, g geometry) {
	nt, p, b := u.numThresholds(), u.AccBits, u.OutputBits
	e.printf("\n    // Stage 3: %d thresholds of %d bits per channel, comparators, %d-bit count.\n", nt, p, b)
	e.printf("    reg [%d:0] thr;\n", nt*p-1)
	e.printf("    always @(*) begin\n        case (out_ch)\n")
	for c := range u.OutChannels {
		e.printf("        %d'd%d: thr = %s;\n", g.chBits, c, pack64(u.Thresholds[c*nt:(c+1)*nt], p))
	}
	e.printf("        default: thr = %d'd0;\n        endcase\n    end\n", nt*p)
	e.printf("    wire [%d:0] ge;\n", nt-1)
	e.printf("    genvar gi;\n")
	e.printf("    generate for (gi = 0; gi < %d; gi = gi + 1) begin : cmp\n", nt)
	e.printf("        assign ge[gi] = acc >= $signed(thr[gi*%d +: %d]);\n", p, p)
	e.printf("    end endgenerate\n")
	e.printf("    reg [%d:0] count;\n    integer ti;\n", b-1)
	e.printf("    always @(*) begin\n        count = %d'd0;\n", b)
	e.printf("        for (ti = 0; ti < %d; ti = ti + 1) count = count + {%d'd0, ge[ti]};\n", nt, b-1)
	e.printf("    end\n")
	e.printf("    always @(posedge clk) begin\n")
	e.printf("        if (rst) begin\n            act_valid <= 1'b0; act_ch <= 0; act_out <= 0;\n")
	e.printf("        end else begin\n            act_valid <= out_valid; act_ch <= out_ch; act_out <= count;\n")
	e.printf("        end\n    end\n")
}

func allZero(v []int32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// WriteTestbench writes a self-checking Verilog testbench (module u.Name+"_tb") for the
// module WriteVerilog writes for u. It applies each input vector (length K, in the input
// range) in turn, compares every accumulator the unit produces with the value computed here
// (the int64 dot product wrapped to P bits, so a too narrow P is expected to wrap, exactly as
// Expected predicts) and, with thresholds, every activation with thresh.Count of that
// value. It prints one "ACC <vector> <channel> <value>" (and "ACT ...") line per output, a
// "TESTBENCH PASS" or "TESTBENCH FAIL" line, then "COUNTS passed=<n> failed=<m>", and calls
// $finish. A watchdog fails the run if outputs stop coming.
func WriteTestbench(w io.Writer, u Unit, inputs [][]int32) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if len(inputs) == 0 {
		return fmt.Errorf("hw: unit %s: testbench needs at least one input vector", u.Name)
	}
	expected := make([][]int64, len(inputs))
	for i, x := range inputs {
		if err := u.checkInput(x, i); err != nil {
			return err
		}
		_, expected[i], _ = Expected(u, x)
	}
	g := u.geometry()
	e := &errWriter{w: bufio.NewWriter(w)}
	nv, oc, p, simd, n := len(inputs), u.OutChannels, u.AccBits, u.SIMD, u.InputBits
	thr := u.hasThresholds()
	perOutput := 1
	if thr {
		perOutput = 2
	}
	total := nv * oc * perOutput
	cycles := nv*(oc*g.chunks+8) + 20

	e.printf("// %s_tb: self-checking testbench generated by the a2q toolkit (package hw).\n", u.Name)
	e.printf("// Expected values: int64 dot products wrapped to %d bits.\n", p)
	e.printf("`timescale 1ns/1ps\n`default_nettype none\n")
	e.printf("module %s_tb;\n", u.Name)
	e.printf("    localparam NV = %d, OUT_CH = %d, CHUNKS = %d, TOTAL = %d;\n", nv, oc, g.chunks, total)
	e.printf("    reg clk = 1'b0, rst = 1'b1, start = 1'b0;\n")
	e.printf("    always #5 clk = ~clk;\n")
	e.printf("    wire [%d:0] x_addr;\n", g.ckBits-1)
	e.printf("    reg [%d:0] xmem [0:%d];\n", simd*n-1, nv*g.chunks-1)
	e.printf("    reg [%d:0] emem [0:%d];\n", p-1, nv*oc-1)
	e.printf("    integer vec = 0, npass = 0, nfail = 0, nrecv = 0, expect_ch = 0;\n")
	e.printf("    wire [%d:0] x_chunk = xmem[vec * CHUNKS + x_addr];\n", simd*n-1)
	e.printf("    wire out_valid, busy;\n    wire [%d:0] out_ch;\n    wire signed [%d:0] out_acc;\n", g.chBits-1, p-1)
	if thr {
		e.printf("    reg [%d:0] amem [0:%d];\n", u.OutputBits-1, nv*oc-1)
		e.printf("    integer nact = 0, expect_act_ch = 0;\n")
		e.printf("    wire act_valid;\n    wire [%d:0] act_ch;\n    wire [%d:0] act_out;\n", g.chBits-1, u.OutputBits-1)
	}
	e.printf("    %s dut (.clk(clk), .rst(rst), .start(start), .x_addr(x_addr), .x_chunk(x_chunk),\n", u.Name)
	e.printf("        .out_valid(out_valid), .out_ch(out_ch), .out_acc(out_acc), .busy(busy)")
	if thr {
		e.printf(",\n        .act_valid(act_valid), .act_ch(act_ch), .act_out(act_out)")
	}
	e.printf(");\n\n")

	e.printf("    initial begin\n")
	for i, x := range inputs {
		for k := range g.chunks {
			e.printf("        xmem[%d] = %s;\n", i*g.chunks+k, pack(x[k*simd:(k+1)*simd], n))
		}
	}
	nt := u.numThresholds()
	for i := range inputs {
		for c, v := range expected[i] {
			e.printf("        emem[%d] = %s; // vector %d channel %d: %d\n", i*oc+c, pack64([]int64{v}, p), i, c, v)
			if thr {
				a := thresh.Count(v, u.Thresholds[c*nt:(c+1)*nt])
				e.printf("        amem[%d] = %d'd%d;\n", i*oc+c, u.OutputBits, a)
			}
		}
	}
	e.printf("        repeat (3) @(posedge clk);\n")
	e.printf("        @(negedge clk) rst = 1'b0;\n")
	e.printf("        for (vec = 0; vec < NV; vec = vec + 1) begin\n")
	e.printf("            @(negedge clk) start = 1'b1;\n")
	e.printf("            @(negedge clk) start = 1'b0;\n")
	if thr {
		e.printf("            wait (nrecv == (vec + 1) * OUT_CH && nact == (vec + 1) * OUT_CH);\n")
	} else {
		e.printf("            wait (nrecv == (vec + 1) * OUT_CH);\n")
	}
	e.printf("            @(negedge clk);\n")
	e.printf("        end\n")
	e.printf("        finish_run;\n    end\n\n")

	e.printf("    always @(posedge clk) if (!rst && out_valid) begin\n")
	e.printf("        $display(\"ACC %%0d %%0d %%0d\", vec, out_ch, out_acc);\n")
	e.printf("        if (out_ch !== expect_ch[%d:0] || out_acc !== emem[vec * OUT_CH + expect_ch]) begin\n", g.chBits-1)
	e.printf("            nfail = nfail + 1;\n")
	e.printf("            $display(\"MISMATCH vector %%0d channel %%0d: got channel %%0d accumulator %%0d, expected %%0d\",\n")
	e.printf("                vec, expect_ch, out_ch, out_acc, $signed(emem[vec * OUT_CH + expect_ch]));\n")
	e.printf("        end else npass = npass + 1;\n")
	e.printf("        nrecv = nrecv + 1;\n")
	e.printf("        expect_ch = (expect_ch + 1) %% OUT_CH;\n")
	e.printf("    end\n\n")
	if thr {
		e.printf("    always @(posedge clk) if (!rst && act_valid) begin\n")
		e.printf("        $display(\"ACT %%0d %%0d %%0d\", vec, act_ch, act_out);\n")
		e.printf("        if (act_ch !== expect_act_ch[%d:0] || act_out !== amem[vec * OUT_CH + expect_act_ch]) begin\n", g.chBits-1)
		e.printf("            nfail = nfail + 1;\n")
		e.printf("            $display(\"MISMATCH vector %%0d channel %%0d: got channel %%0d activation %%0d, expected %%0d\",\n")
		e.printf("                vec, expect_act_ch, act_ch, act_out, amem[vec * OUT_CH + expect_act_ch]);\n")
		e.printf("        end else npass = npass + 1;\n")
		e.printf("        nact = nact + 1;\n")
		e.printf("        expect_act_ch = (expect_act_ch + 1) %% OUT_CH;\n")
		e.printf("    end\n\n")
	}

	e.printf("    initial begin\n        #%d;\n", 10*(2*cycles+100))
	e.printf("        $display(\"TIMEOUT after %%0d of %%0d checks\", npass + nfail, TOTAL);\n")
	e.printf("        finish_run;\n    end\n\n")

	e.printf("    task finish_run;\n    begin\n")
	e.printf("        if (nfail == 0 && npass == TOTAL)\n")
	e.printf("            $display(\"TESTBENCH PASS: %%0d of %%0d outputs match\", npass, TOTAL);\n")
	e.printf("        else\n")
	e.printf("            $display(\"TESTBENCH FAIL: %%0d of %%0d outputs differ or are missing\", TOTAL - npass, TOTAL);\n")
	e.printf("        $display(\"COUNTS passed=%%0d failed=%%0d\", npass, TOTAL - npass);\n")
	e.printf("        $finish;\n    end\n    endtask\nendmodule\n`default_nettype wire\n")
	return e.flush()
}
