package main

import (
	"fmt"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/qonnx"
)

// inspectONNX prints the per-layer certificate of a QONNX model.
func inspectONNX(e *env, path string, accBits int, asJSON bool) error {
	m, err := qonnx.Load(path)
	if err != nil {
		return usageError{err}
	}
	r, err := qonnx.Inspect(m, accBits)
	if err != nil {
		return usageError{err}
	}
	if asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s: %d quantized layers\n", path, len(r.Layers))
		if err := accum.WriteTable(e.stdout, r.Layers); err != nil {
			return err
		}
		for _, u := range r.Uncertifiable {
			fmt.Fprintf(e.stdout, "not certifiable: %s (%s): %s\n", u.Name, u.Kind, u.Reason)
		}
		fmt.Fprintf(e.stdout, "sparsity %.4f", r.Sparsity)
		if r.CompressionRate > 0 {
			fmt.Fprintf(e.stdout, ", compression rate %.2f× (M/H(q))", r.CompressionRate)
		}
		if accBits > 0 {
			fmt.Fprintf(e.stdout, ", certified at P = %d: %v", accBits, r.Certified)
		}
		fmt.Fprintln(e.stdout)
	}
	if accBits > 0 && !r.Certified {
		return checkFailed{fmt.Errorf("%s: not every layer is certified at P = %d", path, accBits)}
	}
	return nil
}
