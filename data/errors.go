package data

import "fmt"

// A FormatError reports malformed bytes in a data file: a wrong magic
// number, impossible dimensions, a truncated body or trailing garbage.
type FormatError struct {
	// File is the path (or name) of the file at fault.
	File string
	// Offset is the byte offset in the (decompressed) content where the
	// problem was found.
	Offset int64
	// Msg says what is wrong.
	Msg string
}

// Error implements the error interface.
func (e *FormatError) Error() string {
	return fmt.Sprintf("data: %s: at byte offset %d: %s", e.File, e.Offset, e.Msg)
}
