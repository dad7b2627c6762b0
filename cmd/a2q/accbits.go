package main

import "github.com/a2qtoolkit/a2q/accum"

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
