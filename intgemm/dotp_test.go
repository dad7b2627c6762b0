package intgemm

import (
	"math/rand/v2"
	"testing"
)

func TestDotPCases(t *testing.T) {
	tests := []struct {
		name      string
		a, w      []int32
		p         int
		mode      Mode
		want      int64
		overflows int
	}{
		{"empty", nil, nil, 8, Wrap, 0, 0},
		{"fits", []int32{3, 4}, []int32{5, 6}, 16, Wrap, 39, 0},
		{"top of range", []int32{127}, []int32{1}, 8, Wrap, 127, 0},
		{"bottom of range", []int32{-128}, []int32{1}, 8, Saturate, -128, 0},
		{"one past top, exact", []int32{128}, []int32{1}, 8, Exact, 128, 1},
		{"one past top, wrap", []int32{128}, []int32{1}, 8, Wrap, -128, 1},
		{"one past top, saturate", []int32{128}, []int32{1}, 8, Saturate, 127, 1},
		{"200 exact", []int32{100, 100}, []int32{1, 1}, 8, Exact, 200, 1},
		{"200 wrap", []int32{100, 100}, []int32{1, 1}, 8, Wrap, 200 - 256, 1},
		{"200 saturate", []int32{100, 100}, []int32{1, 1}, 8, Saturate, 127, 1},
		// 100+100 leaves the range, -100 brings the true sum back.
		{"back exact", []int32{100, 100, -100}, []int32{1, 1, 1}, 8, Exact, 100, 1},
		{"back wrap", []int32{100, 100, -100}, []int32{1, 1, 1}, 8, Wrap, 100, 2}, // -56-100 = -156 → 100
		{"back saturate", []int32{100, 100, -100}, []int32{1, 1, 1}, 8, Saturate, 27, 1},
		{"negative wrap", []int32{-5, -5}, []int32{1, 1}, 4, Wrap, 6, 1},
		{"negative saturate", []int32{-5, -5}, []int32{1, 1}, 4, Saturate, -8, 1},
		{"products", []int32{255, 255}, []int32{127, 127}, 16, Wrap, 64770 - 65536, 1},
		{"products saturate", []int32{255, 255}, []int32{127, 127}, 16, Saturate, 32767, 1},
		{"1-bit", []int32{1, -1, -1}, []int32{1, 1, 1}, 1, Saturate, -1, 2}, // 1→0, -1, -2→-1
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n := DotP(tc.a, tc.w, tc.p, tc.mode)
			if got != tc.want || n != tc.overflows {
				t.Fatalf("DotP = %d with %d overflows, want %d with %d", got, n, tc.want, tc.overflows)
			}
		})
	}
}

// TestDotPProperties: all modes agree when nothing overflows, overflows are
// seen by all modes or none, Wrap is the exact sum modulo 2^P in the signed
// range, Saturate stays in range.
func TestDotPProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		k := rng.IntN(200)
		p := 1 + rng.IntN(24)
		a, w := make([]int32, k), make([]int32, k)
		for i := range a {
			a[i] = int32(rng.IntN(256))
			if rng.IntN(3) == 0 {
				a[i] -= 128
			}
			w[i] = int32(rng.IntN(rng.IntN(255)+1) - rng.IntN(128))
		}
		exact, ne := DotP(a, w, p, Exact)
		wrap, nw := DotP(a, w, p, Wrap)
		sat, ns := DotP(a, w, p, Saturate)
		lo, hi := -int64(1)<<(p-1), int64(1)<<(p-1)-1
		if (ne == 0) != (nw == 0) || (ne == 0) != (ns == 0) {
			t.Fatalf("overflow counts disagree on whether any happened: %d %d %d", ne, nw, ns)
		}
		if nw == 0 && (wrap != exact || sat != exact) {
			t.Fatalf("no overflow but exact %d, wrap %d, saturate %d", exact, wrap, sat)
		}
		if wrap < lo || wrap > hi || sat < lo || sat > hi {
			t.Fatalf("p=%d: wrap %d or saturate %d outside [%d, %d]", p, wrap, sat, lo, hi)
		}
		if (exact-wrap)%(int64(1)<<p) != 0 {
			t.Fatalf("p=%d: wrap %d is not exact %d mod 2^p", p, wrap, exact)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Exact, Wrap, Saturate} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("clip"); err == nil {
		t.Fatal("ParseMode accepted \"clip\"")
	}
}
