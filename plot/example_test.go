package plot_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/a2qtoolkit/a2q/plot"
)

// A chart of test accuracy against the accumulator width P, one line per
// quantizer, with the float model's accuracy as a reference line.
func ExampleChart_Save() {
	dir, err := os.MkdirTemp("", "plot")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	c := plot.Chart{
		Title: "cnn, W8A8", XLabel: "accumulator bits P", YLabel: "test accuracy", IntegerX: true,
		Series: []plot.Series{
			{Label: "A2Q", X: []float64{12, 13, 14, 16}, Y: []float64{0.71, 0.80, 0.84, 0.86}},
			{Label: "A2Q+", X: []float64{12, 13, 14, 16}, Y: []float64{0.79, 0.84, 0.86, 0.87}},
		},
		Refs: []plot.Ref{{Label: "float", Y: 0.875}},
	}
	path := filepath.Join(dir, "accuracy.png")
	if err := c.Save(path); err != nil {
		fmt.Println(err)
		return
	}
	st, err := os.Stat(path)
	fmt.Println(err == nil && st.Size() > 0)
	// Output: true
}
