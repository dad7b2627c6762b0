package hw

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func tinyUnit() Unit {
	return Unit{
		Name: "dot",
		Weights: []int32{
			1, -2, 3, -4, 5, -6, 7, 0,
			0, 0, 0, 0, -127, 127, -127, 127,
		},
		OutChannels: 2, K: 8, WeightBits: 8, InputBits: 8, AccBits: 16, SIMD: 2,
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		v    int64
		bits int
		want int64
	}{
		{0, 16, 0},
		{32767, 16, 32767},
		{32768, 16, -32768},
		{-32768, 16, -32768},
		{-32769, 16, 32767},
		{-64770, 16, 766},
		{65536 + 5, 16, 5},
		{7, 3, -1},
		{4, 3, -4},
		{-1, 1, -1},
		{1, 1, -1},
		{1 << 40, 32, 0},
		{-5, 64, -5},
	}
	for _, tt := range tests {
		if got := Wrap(tt.v, tt.bits); got != tt.want {
			t.Errorf("Wrap(%d, %d) = %d, want %d", tt.v, tt.bits, got, tt.want)
		}
	}
}

func TestExpected(t *testing.T) {
	u := tinyUnit()
	tests := []struct {
		x              []int32
		exact, wrapped []int64
	}{
		// 1−4+9−16+25−36+49 = 28; channel 1: −127·5 + 127·6 − 127·7 + 127·8 = 254.
		{[]int32{1, 2, 3, 4, 5, 6, 7, 8}, []int64{28, 254}, []int64{28, 254}},
		// −127·255·2 = −64770 does not fit 16 bits: wraps to −64770 + 65536 = 766.
		{[]int32{0, 0, 0, 0, 255, 0, 255, 0}, []int64{5*255 + 7*255, -64770}, []int64{3060, 766}},
	}
	for _, tt := range tests {
		exact, wrapped, err := Expected(u, tt.x)
		if err != nil {
			t.Fatal(err)
		}
		for c := range exact {
			if exact[c] != tt.exact[c] || wrapped[c] != tt.wrapped[c] {
				t.Errorf("Expected(%v) channel %d = %d, %d; want %d, %d", tt.x, c, exact[c], wrapped[c], tt.exact[c], tt.wrapped[c])
			}
		}
	}
}

func TestUnitValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Unit)
		want   string
	}{
		{"bad name", func(u *Unit) { u.Name = "3dot" }, "Verilog identifier"},
		{"empty name", func(u *Unit) { u.Name = "" }, "Verilog identifier"},
		{"SIMD not dividing K", func(u *Unit) { u.SIMD = 3 }, "SIMD=3"},
		{"weights length", func(u *Unit) { u.Weights = u.Weights[:15] }, "15 weights"},
		{"zero channels", func(u *Unit) { u.OutChannels = 0 }, "OutChannels=0"},
		{"weight too wide", func(u *Unit) { u.Weights[9] = 128 }, "[channel 1, k 1] = 128"},
		{"weight too negative", func(u *Unit) { u.WeightBits = 3; u.Weights = make([]int32, 16); u.Weights[3] = -5 }, "[channel 0, k 3] = -5"},
		{"acc bits", func(u *Unit) { u.AccBits = 65 }, "accumulator width P = 65 outside"},
		{"input bits", func(u *Unit) { u.InputBits = 0 }, "input bits 0"},
		{"weight bits", func(u *Unit) { u.WeightBits = 40 }, "weight bits 40"},
		{"output bits without thresholds", func(u *Unit) { u.OutputBits = 2 }, "without thresholds"},
		{"thresholds count", func(u *Unit) { u.OutputBits = 2; u.Thresholds = make([]int64, 5) }, "5 thresholds, want"},
		{"thresholds output bits", func(u *Unit) { u.OutputBits = 9; u.Thresholds = make([]int64, 2*511) }, "output bits 9"},
		{"threshold beyond P", func(u *Unit) { u.OutputBits = 1; u.Thresholds = []int64{0, 1 << 15} }, "threshold [channel 1, 0] = 32768"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tinyUnit()
			tt.mutate(&u)
			var buf bytes.Buffer
			err := WriteVerilog(&buf, u)
			if err == nil {
				t.Fatal("WriteVerilog succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteVerilog wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestWriteTestbenchInputErrors(t *testing.T) {
	u := tinyUnit()
	tests := []struct {
		name   string
		inputs [][]int32
		want   string
	}{
		{"no vectors", nil, "at least one input vector"},
		{"short vector", [][]int32{{1, 2, 3, 4, 5, 6, 7, 8}, {1}}, "input vector 1 has 1 elements"},
		{"negative unsigned", [][]int32{{1, 2, 3, -4, 5, 6, 7, 8}}, "element 3 = -4"},
		{"too large", [][]int32{{1, 2, 3, 4, 5, 6, 7, 256}}, "element 7 = 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteTestbench(&buf, u, tt.inputs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteTestbench error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	u.InputSigned = true
	if _, _, err := Expected(u, []int32{-128, 127, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Errorf("signed extremes rejected: %v", err)
	}
	if _, _, err := Expected(u, []int32{-129, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("signed input -129 accepted for N=8")
	}
}

func TestWriteVerilogROM(t *testing.T) {
	// The ROM holds exactly the non-zero SIMD chunks: count them independently of the generator.
	rng := rand.New(rand.NewPCG(1, 2))
	u := Unit{Name: "rom", OutChannels: 5, K: 12, WeightBits: 4, InputBits: 4, AccBits: 12, SIMD: 3}
	u.Weights = make([]int32, u.OutChannels*u.K)
	for i := range u.Weights {
		if rng.IntN(3) == 0 {
			u.Weights[i] = int32(rng.IntN(15) - 7)
		}
	}
	nonzero := 0
	for c := 0; c < u.OutChannels; c++ {
		for k := 0; k < u.K; k += u.SIMD {
			if u.Weights[c*u.K+k] != 0 || u.Weights[c*u.K+k+1] != 0 || u.Weights[c*u.K+k+2] != 0 {
				nonzero++
			}
		}
	}
	var buf bytes.Buffer
	if err := WriteVerilog(&buf, u); err != nil {
		t.Fatal(err)
	}
	src := buf.String()
	if got := strings.Count(src, ": w1 <= "); got != nonzero+1 { // + default
		t.Errorf("ROM has %d entries, want %d non-zero chunks + default", got-1, nonzero)
	}
	for _, want := range []string{"module rom (", "output wire signed [11:0] out_acc", "endmodule"} {
		if !strings.Contains(src, want) {
			t.Errorf("generated Verilog lacks %q", want)
		}
	}
}

func TestPack(t *testing.T) {
	tests := []struct {
		vals  []int32
		width int
		want  string
	}{
		{[]int32{1, -2}, 8, "16'hfe01"},
		{[]int32{-1}, 4, "4'hf"},
		{[]int32{0, 0, 1}, 3, "9'h40"},
		{[]int32{255, 255}, 8, "16'hffff"},
		{[]int32{-1, 0}, 32, "64'hffffffff"},
	}
	for _, tt := range tests {
		if got := pack(tt.vals, tt.width); got != tt.want {
			t.Errorf("pack(%v, %d) = %s, want %s", tt.vals, tt.width, got, tt.want)
		}
	}
}
