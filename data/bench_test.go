package data

import (
	"math/rand/v2"
	"os"
	"testing"
)

func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		if _, _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadFashionMNIST loads the full 60,000 + 10,000 gzipped images.
func BenchmarkLoadFashionMNIST(b *testing.B) {
	if _, err := os.Stat(DebianFashionMNIST); err != nil {
		b.Skip("needs apt-get install dataset-fashion-mnist")
	}
	for b.Loop() {
		if _, _, err := LoadIDX(DebianFashionMNIST); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatcher(b *testing.B) {
	s := indexSet(1024, 3, 32, 32)
	for _, bc := range []struct {
		name string
		aug  Augment
	}{{"plain", Augment{}}, {"crop+flip", Augment{Pad: 4, Flip: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			bt := NewBatcher(s, 128, rand.New(rand.NewPCG(1, 1)), bc.aug)
			x, l := make([]float32, 128*s.Size()), make([]int, 128)
			b.SetBytes(int64(128 * s.Size() * 4))
			for b.Loop() {
				if _, ok := bt.Next(x, l, nil); !ok {
					bt.Next(x, l, nil)
				}
			}
		})
	}
}

func BenchmarkDefaultSR(b *testing.B) {
	for b.Loop() {
		if _, _, err := DefaultSR(SROptions{Luma: true}); err != nil {
			b.Fatal(err)
		}
	}
}
