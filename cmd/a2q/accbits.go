package main

import (
	"errors"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/models"
)

// checkAccBitsFlag validates the value p of an accumulator-width flag with
// accum.CheckAccBits, so that every command refuses the same bad P with
// the same message. zeroMeansOwn accepts 0, for the flags that document it
// as "each layer's own P".
func checkAccBitsFlag(flag string, p int, zeroMeansOwn bool) error {
	if p == 0 && zeroMeansOwn {
		return nil
	}
	if err := accum.CheckAccBits(p); err != nil {
		return usagef("%s: %v", flag, err)
	}
	return nil
}

// checkTileFlags validates the --tile and --edge-tile flags of train and
// quantize: an explicitly given tile must be positive (omitting the flag
// means one-stage accumulation).
func checkTileFlags(set map[string]bool, tile, edgeTile int) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"tile", tile}, {"edge-tile", edgeTile}} {
		if set[f.name] && f.v <= 0 {
			return usagef("--%s %d: want a positive number of terms per tile (omit the flag for one-stage accumulation)", f.name, f.v)
		}
	}
	return nil
}

// tileFlagError names the flag behind a models.TileError (a tile no
// layer is long enough to be split by), or returns nil for other errors.
func tileFlagError(err error) error {
	var te *models.TileError
	if !errors.As(err, &te) {
		return nil
	}
	flag, which := "--tile", "hidden"
	if te.Edges {
		flag, which = "--edge-tile", "first or last"
	}
	return usagef("%s %d: no %s layer has a dot product longer than %d terms (longest K = %d): nothing would be tiled", flag, te.Tile, which, te.Tile, te.LongestK)
}
