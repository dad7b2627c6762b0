package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/report"
)

func runInspect(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "inspect", "FILE [--acc-bits P] [--tile T]   (FILE: a checkpoint, a QONNX .onnx model, or a float .onnx network)")
	accBits := fs.Int("acc-bits", 0, "certify the hidden layers against this P instead of their own target (0: their own; the first and last layers keep theirs); with --tile, the inner accumulators' P")
	tile := fs.Int("tile", 0, "certify the hidden layers as if tiled: dot products split into tiles of this many terms, each summed in a P-bit inner accumulator (a layer whose K is at most T runs in one stage; default: each layer's own tile)")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "file")
	if err != nil {
		return err
	}
	if err := checkAccBitsFlag("--acc-bits", *accBits, true); err != nil {
		return err
	}
	tileSet := false
	fs.Visit(func(f *flag.Flag) { tileSet = tileSet || f.Name == "tile" })
	if tileSet && *tile < 1 {
		return usagef("--tile %d: want a positive number of terms per tile (leave --tile out for each layer's own)", *tile)
	}
	if strings.HasSuffix(path, ".onnx") {
		if !isQONNX(path) {
			if tileSet {
				return usagef("--tile: %s is a float network: it has no integer layers to certify in tiles", path)
			}
			return inspectFloat(e, path, *asJSON)
		}
		return inspectQONNXFile(e, path, qonnx.InspectOptions{AccBits: *accBits, Tile: *tile}, *asJSON)
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	hiddenTile := -1 // each layer's own
	if tileSet {
		hiddenTile = *tile
	}
	rep, err := report.FromModelTiled(m, *accBits, hiddenTile)
	if err != nil {
		return usageError{err}
	}
	if *asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(e.stdout); err != nil {
		return err
	}
	if *accBits > 0 && !rep.Certified && len(rep.Layers) > 0 {
		return checkFailed{fmt.Errorf("not every hidden layer is certified at P = %d", *accBits)}
	}
	return nil
}

// inspectQONNXFile prints the per-layer certificates of a QONNX file, the
// stages of its tiled layers, and checks the certificates it claims in its
// metadata (exit 1 when one does not hold, or when --acc-bits is given and
// a layer is not certified at it).
func inspectQONNXFile(e *env, path string, o qonnx.InspectOptions, asJSON bool) error {
	m, err := qonnx.Load(path)
	if err != nil {
		return usageError{err}
	}
	r, err := qonnx.InspectWith(m, o)
	if err != nil {
		return usageError{err}
	}
	if asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		w := e.stdout
		fmt.Fprintf(w, "%s: %d quantized layers\n", path, len(r.Layers))
		if err := accum.WriteTable(w, r.Layers); err != nil {
			return err
		}
		if err := accum.WriteStages(w, r.Layers); err != nil {
			return err
		}
		for _, u := range r.Uncertifiable {
			fmt.Fprintf(w, "not certifiable: %s (%s): %s\n", u.Name, u.Kind, u.Reason)
		}
		fmt.Fprintf(w, "sparsity %.4f", r.Sparsity)
		if r.CompressionRate > 0 {
			fmt.Fprintf(w, ", compression rate %.2f× (M/H(q))", r.CompressionRate)
		}
		if o.AccBits > 0 {
			fmt.Fprintf(w, ", certified with the hidden layers at P = %d", o.AccBits)
			if o.Tile > 0 {
				fmt.Fprintf(w, " in tiles of %d", o.Tile)
			}
			fmt.Fprintf(w, ": %v", r.Certified)
		}
		fmt.Fprintln(w)
		if r.Claims != nil {
			if err := writeClaims(w, r.Claims, r.Unclaimed); err != nil {
				return err
			}
		}
	}
	if !r.ClaimsHold {
		return checkFailed{fmt.Errorf("%s: the certificate the file claims does not hold for %s", path, strings.Join(r.FailedClaims(), ", "))}
	}
	if o.AccBits > 0 && !r.Certified {
		return checkFailed{fmt.Errorf("%s: not every layer is certified with the hidden layers at P = %d", path, o.AccBits)}
	}
	return nil
}
