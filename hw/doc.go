// Package hw estimates and measures what a quantized layer costs in hardware.
package hw
