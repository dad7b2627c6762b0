package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/a2qtoolkit/a2q/report"
)

func runInspect(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "inspect", "FILE [--acc-bits P]   (FILE: a checkpoint, a QONNX .onnx model, or a float .onnx network)")
	accBits := fs.Int("acc-bits", 0, "certify the hidden layers against this P instead of their own target (0: their own; the first and last layers keep theirs)")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "file")
	if err != nil {
		return err
	}
	if err := checkAccBitsFlag("--acc-bits", *accBits, true); err != nil {
		return err
	}
	if strings.HasSuffix(path, ".onnx") {
		if !isQONNX(path) {
			return inspectFloat(e, path, *asJSON)
		}
		return inspectQONNX(e, path, *accBits, *asJSON)
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	rep, err := report.FromModel(m, *accBits)
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
