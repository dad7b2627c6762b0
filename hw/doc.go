// Package hw estimates and measures what a quantized layer costs in FPGA hardware, so that
// the saving of a narrow, certified accumulator can be seen for a user's own model.
//
// # Estimate
//
// EstimateLUT is FINN's analytical LUT model of one matrix-vector unit (MVU), as restated in
// docs/MATH.md (“Hardware cost”); it comes from the FINN compiler's resource estimates for its
// MVAU (matrix-vector-activation unit) as used in the A2Q paper. With M weight bits, N input
// bits, P accumulator bits, B output (threshold) bits, PE processing elements of SIMD lanes,
// TMEM = MH/PE and WMEM = MW·MH/(PE·SIMD):
//
//	LUT = 300 + 1.1·PE·(mult + addertree + P + thr + comp) + wmem
//	mult = SIMD·(2·ceil((M+N)/6) − 1)·(M+N)   (0 with DSP multipliers)
//	addertree = (M+N)·(2·SIMD − 1)
//	thr = (2^B − 1)·P·ceil(TMEM/64)           (thresholds in LUTRAM)
//	comp = (2^B − 1)·P
//	wmem = PE·SIMD·M·ceil(WMEM/64)            (weights in LUTRAM)
//
// Threshold storage and comparators grow linearly with P, which is where narrow accumulators
// save most. The model is an estimate, not a synthesis result.
//
// A tiled unit (MVU.Tile, multi-stage accumulation) sums tiles of Tile terms in a P_I-bit
// inner accumulator and the tile sums in an outer one of P_O = accum.OuterBits(P_I, K, Tile)
// bits: in the formula P becomes P_I + P_O in the accumulator term and P_O in thr and comp.
// Since P_O is never below a layer's exact one-stage width, tiling never lowers the estimate
// of the same weights; it is what hardware with fixed narrow inner accumulators needs.
//
// # Synthesis and simulation
//
// WriteVerilog generates, from a layer's integer weights, a synthesizable Verilog-2005
// dot-product unit: SIMD lanes of M×N-bit multipliers (signed weights; unsigned inputs are
// zero-extended by one bit so that Verilog's signed arithmetic applies), a balanced adder tree
// and a P-bit accumulator register, taking K/SIMD cycles per output channel, with the weights
// in a ROM built from the layer. Every intermediate is at most P bits wide and all arithmetic
// is modulo 2^P, exactly as a P-bit accumulator wraps; a certified P therefore reproduces the
// int64 dot products bit for bit, and a too narrow P the wrapped values Wrap predicts. With
// Unit.Thresholds the unit ends in FINN's thresholding stage (2^B − 1 P-bit thresholds per
// channel and as many comparators); without, measured savings are those of the datapath alone.
//
// WriteTestbench writes a self-checking testbench whose expected values are computed in Go.
// Synthesize drives Yosys (synth_xilinx, synth_ice40, synth_ecp5, synth_gowin) and counts
// LUTs, flip-flops and other primitives; Simulate drives Icarus Verilog. The tools are
// external: when one is missing the drivers return ErrToolMissing naming its Debian package
// (yosys, iverilog; verilator is used by the tests for linting) and install nothing.
//
// # Models
//
// EstimateLayers applies the estimate to a list of layers, each given by its accumulator
// certificate and the output bits B of its thresholding stage, at the layer's certified width
// (its exact bound acc_bits_exact; a tiled layer's inner width acc_bits_inner as a tiled
// unit) and at ReferenceAccBits = 32 in one stage, with DefaultFolding (caps
// DefaultPECap, DefaultSIMDCap), weights in LUTRAM and multipliers in LUTs, and owns the
// network's totals. EstimateModel calls it for a trained model (package models), with a
// thresholding stage of B = the next layer's input bits on every layer but the last; `a2q hw`
// calls it for QONNX files with B read from the graph's Quant nodes. SynthesizeModel builds each layer's unit with its real weights and
// the thresholds LayerThresholds derives from the model, the integer engine's (package thresh), simulates it on
// im2col rows (InputRows) of real activations captured by CaptureInputs, and synthesises it at
// both widths (one-stage units only: it refuses a tiled layer); WritePlotPNG draws the
// per-layer result. The command `a2q hw` drives all of it.
//
// # Conventions
//
// Weights are row-major, output channel by output channel (OutChannels×K). Weights are signed
// two's complement; inputs are signed or unsigned as the layer's input quantizer says. Bad
// configurations (impossible foldings, out-of-range bit widths or values) return errors
// naming the layer and field; nothing in this package panics on user input.
package hw
