package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/qonnx"
	"github.com/a2qtoolkit/a2q/tensor"
)

// exportResult is what `a2q export --json` prints.
type exportResult struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Bytes  int    `json:"bytes"`
	Nodes  int    `json:"nodes"`
	// Layers are the certificates of the checkpoint's quantized layers;
	// CertificatesMatch reports that the exported file, decoded again,
	// gives the same integer weights' certificates.
	Layers            []accum.Certificate `json:"layers"`
	CertificatesMatch bool                `json:"certificates_match"`
	// Calibrated is true when --calibrate set activation scales from data.
	Calibrated bool `json:"calibrated"`
	// Verify holds the comparison of the exported graph with the
	// checkpoint on the test set (--verify only).
	Verify *qonnx.Agreement `json:"verify,omitempty"`
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "CKPT --format qonnx -o FILE.onnx [--calibrate] [--verify] [--data D]")
	format := fs.String("format", "qonnx", "output format (only qonnx)")
	out := fs.String("o", "", "output file (required)")
	dynamic := fs.Bool("dynamic-batch", false, "declare a symbolic batch dimension instead of 1")
	calibrate := fs.Bool("calibrate", false, "set activation scales never calibrated (e.g. after train --epochs 0) from the first 256 test images, as eval would")
	verify := fs.Bool("verify", false, "run the exported graph on the test set and compare its predictions with the checkpoint's (exit 1 on a mismatch)")
	images := fs.Int("images", 0, "--verify on the first N test images (0: all)")
	dataSpec := fs.String("data", "", "data set for --calibrate and --verify (empty: the embedded default)")
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseOne(fs, args, "checkpoint")
	if err != nil {
		return err
	}
	if *format != "qonnx" {
		return usagef("--format %q: the only export format is qonnx", *format)
	}
	if *images < 0 {
		return usagef("--images %d is negative", *images)
	}
	if *out == "" {
		return usagef("-o FILE.onnx is required")
	}
	m, err := loadModel(path)
	if err != nil {
		return usageError{err}
	}
	res := exportResult{File: *out, Format: *format}
	var testX []float32
	var testN int
	if *calibrate || *verify {
		_, test, err := openModelData(m, *dataSpec, m.Config.Seed)
		if err != nil {
			return err
		}
		if test.C != m.Config.InC || test.H != m.Config.InH || test.W != m.Config.InW {
			return usagef("--data: images are %dx%dx%d, the model takes %dx%dx%d", test.C, test.H, test.W, m.Config.InC, m.Config.InH, m.Config.InW)
		}
		if *calibrate {
			res.Calibrated = calibrateModel(m, test.X, test.N)
		}
		testX, testN = test.X, test.N
		if *images > 0 && *images < testN {
			testN = *images
			testX = testX[:testN*test.Size()]
		}
	}
	g, err := qonnx.Export(m, qonnx.ExportOptions{DynamicBatch: *dynamic})
	if err != nil {
		if !*calibrate {
			err = fmt.Errorf("%s: %w (--calibrate sets uncalibrated scales from data)", path, err)
		}
		return usageError{err}
	}
	b, err := g.Encode()
	if err != nil {
		return err
	}
	res.Bytes, res.Nodes = len(b), len(g.Graph.Nodes)
	// Decode the bytes written and check the certificates survive.
	back, err := qonnx.Decode(b)
	if err != nil {
		return fmt.Errorf("exported model does not decode: %w", err)
	}
	if res.Layers, err = m.Certificates(false); err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	res.CertificatesMatch, err = sameCertificates(back, res.Layers)
	if err != nil {
		return err
	}
	if err := fileio.WriteAtomic(*out, b); err != nil {
		return usageError{fmt.Errorf("-o: %w", err)}
	}
	if *verify {
		ag, err := qonnx.Compare(ctx, back, m, testX, testN, 64)
		if err != nil {
			return err
		}
		res.Verify = &ag
	}
	if *asJSON {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "wrote %s: QONNX (opset 11, %s), %d bytes, %d nodes, %d quantized layers\n",
			*out, qonnx.QONNXDomain, res.Bytes, res.Nodes, len(res.Layers))
		if len(res.Layers) > 0 {
			if err := accum.WriteTable(e.stdout, res.Layers); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "certificates of the decoded export match the checkpoint: %v\n", res.CertificatesMatch)
		}
		if v := res.Verify; v != nil {
			fmt.Fprintf(e.stdout, "verify: %d images, largest output difference %.3g (largest output %.3g)", v.Images, v.MaxAbsDiff, v.MaxAbsOutput)
			if m.Task == models.Classify {
				fmt.Fprintf(e.stdout, ", same prediction on %d/%d", v.SameArgmax, v.Images)
			}
			fmt.Fprintln(e.stdout)
		}
	}
	if !res.CertificatesMatch {
		return checkFailed{fmt.Errorf("%s: the exported layers do not certify like the checkpoint's", *out)}
	}
	if v := res.Verify; v != nil && m.Task == models.Classify && v.SameArgmax != v.Images {
		return checkFailed{fmt.Errorf("%s: the exported graph predicts differently from the checkpoint on %d of %d images", *out, v.Images-v.SameArgmax, v.Images)}
	}
	return nil
}

// calibrateModel runs m in evaluation mode on the first 256 of n NCHW
// images, which sets the scale of every activation quantizer not yet
// calibrated (exactly what the first batch of `a2q eval` does). It reports
// whether any quantizer needed it.
func calibrateModel(m *models.Model, x []float32, n int) bool {
	need := false
	for _, l := range m.Layers {
		if l.In != nil && !l.In.IsCalibrated() {
			need = true
		}
	}
	if !need || n == 0 {
		return false
	}
	c := m.Config
	k := min(n, 256)
	size := c.InC * c.InH * c.InW
	xh := make([]float32, k*size)
	tensor.NCHWToNHWC(xh, x[:k*size], k, c.InC, c.InH, c.InW)
	tp := autodiff.NewTape(runtime.NumCPU())
	m.Forward(tp, tp.Constant(tensor.FromData(xh, k, c.InH, c.InW, c.InC)), false)
	return true
}

// sameCertificates certifies the decoded export and compares every
// certificate with the checkpoint's (by layer name).
func sameCertificates(back *qonnx.Model, want []accum.Certificate) (bool, error) {
	if len(want) == 0 {
		return true, nil
	}
	r, err := qonnx.Inspect(back, 0)
	if err != nil {
		return false, fmt.Errorf("inspecting the export: %w", err)
	}
	got := make(map[string]accum.Certificate, len(r.Layers))
	for _, c := range r.Layers {
		got[c.Name] = c
	}
	if len(got) != len(want) {
		return false, nil
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok || g.K != w.K || g.OutChannels != w.OutChannels || g.InputBits != w.InputBits || g.InputSigned != w.InputSigned ||
			g.WeightBits != w.WeightBits || g.L1Max != w.L1Max || g.AccBitsDatatype != w.AccBitsDatatype ||
			g.AccBitsL1 != w.AccBitsL1 || g.AccBitsExact != w.AccBitsExact || g.AccMin != w.AccMin || g.AccMax != w.AccMax {
			return false, nil
		}
	}
	return true, nil
}
