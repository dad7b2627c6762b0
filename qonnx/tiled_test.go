package qonnx

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/a2qtoolkit/a2q/accum"
)

// tiledRef is the reference two-stage accumulation of one dot product of
// weights w and inputs x, both in tile order, where skip marks the terms the
// interpreter does not visit (zero weights, padding): the tile partial sums
// are counted against the p-bit range, the partial sums of tile sums
// against the outer range.
type tiledRef struct {
	lo, hi, olo, ohi int64
	overflows        int64
	flagged          int64
	accMin, accMax   int64
}

func (r *tiledRef) dot(w []int32, x []int64, skip []bool, tile int) int64 {
	var sum int64
	flag := false
	for t := 0; t < len(w); t += tile {
		var a int64
		for i := t; i < min(t+tile, len(w)); i++ {
			if w[i] == 0 || skip[i] {
				continue
			}
			a += int64(w[i]) * x[i]
			if a < r.lo || a > r.hi {
				r.overflows++
				flag = true
			}
			r.accMin, r.accMax = min(r.accMin, a), max(r.accMax, a)
		}
		sum += a
		if sum < r.olo || sum > r.ohi {
			r.overflows++
			flag = true
		}
	}
	if flag {
		r.flagged++
	}
	return sum
}

func rangeOf(p int) (int64, int64) {
	if p >= 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -(int64(1) << (p - 1)), int64(1)<<(p-1) - 1
}

// TestIntegerRunTiled runs the layers of an exported CNN in tiles on the
// fake-quantized run's inputs, at widths narrow enough to overflow (down to
// P = 2, where the sums of tiles overflow the outer accumulator too), and
// checks every count against a reference that builds each dot product's
// terms in tile order (kh, kw, Cin) from the input and Layer.TileOrder: the
// overflows of the tiles and of the sums of tiles, the outputs with one,
// the extreme tile partial sums; and that the outputs are those of the
// one-stage run. A whole run with LayerTiles gives the same statistics.
func TestIntegerRunTiled(t *testing.T) {
	back, _ := exportedTiledCNN(t, 0)
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, 2*12*12)
	for i := range x {
		x[i] = rng.Float32()
	}
	in := map[string]*Tensor{"input": NewFloat(x, 2, 1, 12, 12)}
	fres, err := back.Run(context.Background(), in, RunOptions{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	tiles := map[string][]int{"conv1": {2, 4}, "conv2": {7, 32, 100}, "fc": {3, 50}}
	checked := 0
	for i := range layers {
		l := &layers[i]
		args := make([]*Tensor, len(l.Node.Inputs))
		for j, name := range l.Node.Inputs {
			args[j] = fres.Values[name]
		}
		xi, err := toIntegers(args[0], l.InputScale)
		if err != nil {
			t.Fatal(err)
		}
		w := l.TileOrder()
		// The terms of every dot product in tile order, with their skip marks.
		var rows [][]int64
		var skips [][]bool
		var chans []int
		if l.Node.OpType == "Conv" {
			g, err := convGeometry(l.Node, args[0], args[1])
			if err != nil {
				t.Fatal(err)
			}
			mg := g.m / g.group
			for b := range g.n {
				for oc := range g.m {
					grp := oc / mg
					for oy := range g.oh {
						for ox := range g.ow {
							row, skip := make([]int64, 0, l.K), make([]bool, 0, l.K)
							for ky := range g.kh {
								for kx := range g.kw {
									iy, ix := oy*g.sh-g.pt+ky*g.dh, ox*g.sw-g.pl+kx*g.dw
									out := iy < 0 || iy >= g.h || ix < 0 || ix >= g.w
									for ic := range g.cg {
										v := int64(0)
										if !out {
											v = xi[((b*g.c+grp*g.cg+ic)*g.h+iy)*g.w+ix]
										}
										row, skip = append(row, v), append(skip, out)
									}
								}
							}
							rows, skips, chans = append(rows, row), append(skips, skip), append(chans, oc)
						}
					}
				}
			}
		} else {
			for r := range len(xi) / l.K {
				for c := range l.OutChannels {
					rows, skips, chans = append(rows, xi[r*l.K:(r+1)*l.K]), append(skips, make([]bool, l.K)), append(chans, c)
				}
			}
		}
		one, _, err := runIntegerLayer(l, args, 64, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, tile := range tiles[l.Name] {
			c, err := certifyLayer(l, 0, tile)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []int{2, max(c.AccBitsInner-2, 2), c.AccBitsInner} {
				out, st, err := runIntegerLayer(l, args, p, tile, 0)
				if err != nil {
					t.Fatalf("%s tile %d P %d: %v", l.Name, tile, p, err)
				}
				ref := tiledRef{accMin: math.MaxInt64, accMax: math.MinInt64}
				ref.lo, ref.hi = rangeOf(p)
				ref.olo, ref.ohi = rangeOf(accum.OuterBits(p, l.K, tile))
				for j, row := range rows {
					ch := chans[j]
					ref.dot(w[ch*l.K:(ch+1)*l.K], row, skips[j], tile)
				}
				if st.Overflows != ref.overflows || st.OverflowedOutputs != ref.flagged || st.AccMin != ref.accMin || st.AccMax != ref.accMax ||
					st.Tile != tile || st.AccBitsOuter != accum.OuterBits(p, l.K, tile) {
					t.Errorf("%s tile %d P %d: stats %+v; reference %d overflows in %d outputs, tile sums in [%d, %d]",
						l.Name, tile, p, st, ref.overflows, ref.flagged, ref.accMin, ref.accMax)
				}
				if p == c.AccBitsInner && st.Overflows != 0 {
					t.Errorf("%s tile %d: %d overflows at the certified P_I = %d", l.Name, tile, st.Overflows, p)
				}
				if !slices.Equal(out[0].Float, one[0].Float) {
					t.Errorf("%s tile %d P %d: outputs differ from the one-stage run", l.Name, tile, p)
				}
				if p < c.AccBitsInner && ref.overflows > 0 {
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no narrow width overflowed: the counts were not exercised")
	}

	// A whole integer run takes the tiles from LayerTiles, and Verify from the claims.
	opt := RunOptions{Integer: true, AccBits: 12, LayerTiles: map[string]int{"conv2": 32, "fc": 50, "conv1": 9}}
	res, err := back.Run(context.Background(), in, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, ls := range res.Layers {
		want := map[string]int{"conv2": 32, "fc": 50}[ls.Name] // conv1: K = 9, one stage
		if ls.Tile != want {
			t.Errorf("whole run: %s ran with tile %d, want %d", ls.Name, ls.Tile, want)
		}
	}
	opt.LayerTiles["conv2"] = -1
	if _, err := back.Run(context.Background(), in, opt); err == nil {
		t.Error("a negative tile was accepted")
	}
}

// TestVerifyTiledClaims verifies a tiled export at its claimed widths:
// conv2 runs in the tiles its claim gives, with no overflow at the claimed
// inner P, while forcing one stage at that P counts the whole sums.
func TestVerifyTiledClaims(t *testing.T) {
	const tile = 16
	back, _ := exportedTiledCNN(t, tile)
	r, err := Inspect(back, 0)
	if err != nil {
		t.Fatal(err)
	}
	widths := make(map[string]int)
	for _, c := range r.Claims {
		widths[c.Name] = c.AccBits
	}
	rng := rand.New(rand.NewPCG(4, 4))
	var inputs []map[string]*Tensor
	for range 3 {
		x := make([]float32, 12*12)
		for i := range x {
			x[i] = rng.Float32()
		}
		inputs = append(inputs, map[string]*Tensor{"input": NewFloat(x, 1, 1, 12, 12)})
	}
	v, err := back.Verify(context.Background(), inputs, VerifyOptions{LayerAccBits: widths})
	if err != nil {
		t.Fatal(err)
	}
	for _, lv := range v.Layers {
		want := map[string]int{"conv2": tile}[lv.Name]
		if lv.Tile != want || lv.Overflows != 0 {
			t.Errorf("%s: tile %d, %d overflows at the claimed P = %d", lv.Name, lv.Tile, lv.Overflows, lv.AccBits)
		}
	}
	// At the inner width, one stage overflows wherever the whole sums need more.
	conv2 := r.Layers[1]
	widths["conv2"] = max(conv2.AccBitsInner, 2)
	one, err := back.Verify(context.Background(), inputs, VerifyOptions{LayerAccBits: widths, LayerTiles: map[string]int{}})
	if err != nil {
		t.Fatal(err)
	}
	tiled, err := back.Verify(context.Background(), inputs, VerifyOptions{LayerAccBits: widths})
	if err != nil {
		t.Fatal(err)
	}
	for i, lv := range tiled.Layers {
		if lv.Name == "conv2" && (lv.Overflows != 0 || one.Layers[i].Tile != 0) {
			t.Errorf("conv2 at P_I = %d: %d overflows in tiles; one stage: %+v", widths["conv2"], lv.Overflows, one.Layers[i])
		}
	}
	t.Logf("conv2 at P_I = %d (P_exact %d): one stage counts %d overflows, tiles none",
		widths["conv2"], conv2.AccBitsExact, one.Layers[1].Overflows)
}
