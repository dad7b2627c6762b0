package accum

import (
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzCertify feeds arbitrary layers to Certify: it must either return one
// of the package's errors or a certificate whose bounds are ordered
// P_exact ≤ P_l1 ≤ P_datatype and whose range matches ExactRange.
func FuzzCertify(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255}, uint8(1), uint8(8), uint8(8), uint8(16), false, int64(0))
	f.Add([]byte{7, 0, 0, 0, 9, 0, 0, 0}, uint8(2), uint8(4), uint8(4), uint8(0), true, int64(-5))
	f.Fuzz(func(t *testing.T, raw []byte, oc, n, m, p uint8, signed bool, bias int64) {
		w := make([]int32, len(raw)/4)
		for i := range w {
			w[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		l := Layer{Name: "fuzz", Weights: w, OutChannels: int(oc), InputBits: int(n), InputSigned: signed,
			WeightBits: int(m), TargetBits: int(p)}
		if oc > 0 {
			l.K = len(w) / int(oc)
			l.Bias = make([]int64, oc)
			l.Bias[0] = bias
		}
		c, err := Certify(l)
		if err != nil {
			if !errors.Is(err, ErrBitWidth) && !errors.Is(err, ErrShape) && !errors.Is(err, ErrWeightRange) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !(c.AccBitsExact <= c.AccBitsL1 && c.AccBitsL1 <= c.AccBitsDatatype) {
			t.Fatalf("bounds out of order: %v", c)
		}
		if r := ExactRange(w, l.OutChannels, l.K, l.InputBits, signed); r.Min != c.AccMin || r.Max != c.AccMax {
			t.Fatalf("range %+v, certificate [%d, %d]", r, c.AccMin, c.AccMax)
		}
		if c.AccBitsExactWithBias < c.AccBitsExact || c.AccMinWithBias > c.AccMin || c.AccMaxWithBias < c.AccMax {
			t.Fatalf("bias range narrower than the range: %v", c)
		}
	})
}
