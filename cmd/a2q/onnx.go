package main

import "fmt"

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func inspectONNX(e *env, path string, accBits int, asJSON bool) error {
	return usagef("%s: QONNX inspection is not wired into this build yet", path)
}
