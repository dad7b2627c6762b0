package accum

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// tableHeader names the columns written by WriteTable.
const tableHeader = "layer\tkind\tK\tout\tN\tM\tP\tl1_max\tT\tP_dtype\tP_l1\tP_exact\tP_bias\tacc range\tsparsity\tcertified"

// row formats one certificate as a tab-separated table row.
func (c Certificate) row() string {
	sign := "u"
	if c.InputSigned {
		sign = "s"
	}
	target, certified := "-", "-"
	if c.AccBitsTarget > 0 {
		target = strconv.Itoa(c.AccBitsTarget)
		certified = "no"
		if c.Certified {
			certified = "yes"
		}
	}
	bound := "-"
	if c.L1Bound > 0 {
		bound = strconv.FormatFloat(c.L1Bound, 'g', 6, 64)
	}
	kind := c.Kind
	if kind == "" {
		kind = "-"
	}
	return fmt.Sprintf("%s\t%s\t%d\t%d\t%d%s\t%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t[%d, %d]\t%.1f%%\t%s",
		c.Name, kind, c.K, c.OutChannels, c.InputBits, sign, c.WeightBits, target,
		c.L1Max, bound, c.AccBitsDatatype, c.AccBitsL1, c.AccBitsExact, c.AccBitsExactWithBias,
		c.AccMin, c.AccMax, 100*c.Sparsity, certified)
}

// String returns a one-line human-readable summary of the certificate.
func (c Certificate) String() string {
	sign := "unsigned"
	if c.InputSigned {
		sign = "signed"
	}
	s := fmt.Sprintf("%s (%s, K=%d, %d channels, %d-bit %s inputs, %d-bit weights): l1_max %d, "+
		"P_datatype %d, P_l1 %d, P_exact %d (acc in [%d, %d]; %d with bias), sparsity %.1f%%",
		c.Name, c.Kind, c.K, c.OutChannels, c.InputBits, sign, c.WeightBits, c.L1Max,
		c.AccBitsDatatype, c.AccBitsL1, c.AccBitsExact, c.AccMin, c.AccMax, c.AccBitsExactWithBias,
		100*c.Sparsity)
	switch {
	case c.AccBitsTarget == 0:
		s += ", no target"
	case c.Certified:
		s += fmt.Sprintf(", certified for P=%d", c.AccBitsTarget)
	default:
		s += fmt.Sprintf(", NOT certified for P=%d", c.AccBitsTarget)
	}
	return s
}

// WriteTable writes the certificates as an aligned human-readable table,
// one layer per line. Columns: input bits N with s (signed) or u
// (unsigned), weight bits M, target P ("-" if unknown), l1_max, the
// quantizer's budget T ("-" if none), the data-type, A2Q and exact widths,
// the exact width with the bias, the exact range, the sparsity and whether
// the layer is certified for its target.
func WriteTable(w io.Writer, certs []Certificate) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, tableHeader); err != nil {
		return fmt.Errorf("accum: writing table: %w", err)
	}
	for _, c := range certs {
		if _, err := fmt.Fprintln(tw, c.row()); err != nil {
			return fmt.Errorf("accum: writing table: %w", err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("accum: writing table: %w", err)
	}
	return nil
}
