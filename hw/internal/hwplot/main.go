// Command hwplot draws the bar chart of `a2q hw --json` output (per-layer LUTs at the
// certified accumulator widths and at 32, estimated and, when present, synthesised), so a
// long synthesis run can be plotted afterwards without running it again.
//
//	a2q hw CKPT --synth --json > hw.json
//	go run ./hw/internal/hwplot -title "reference CNN, A2Q+ P = 16" -o hw.png hw.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/hw"
)

func main() {
	title := flag.String("title", "LUTs per layer", "chart title")
	out := flag.String("o", "hw.png", "output PNG")
	flag.Parse()
	if err := run(flag.Args(), *title, *out); err != nil {
		fmt.Fprintln(os.Stderr, "hwplot:", err)
		os.Exit(1)
	}
}

func run(args []string, title, out string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one JSON file from a2q hw --json, got %d arguments", len(args))
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var c hw.ModelCost
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	var buf bytes.Buffer
	if err := c.WritePlotPNG(&buf, title); err != nil {
		return err
	}
	return fileio.WriteAtomic(out, buf.Bytes())
}
