// Package deps pins the module's third-party dependencies while the packages
// that use them are being written. It is removed once every import is real.
package deps

import (
	_ "github.com/schollz/progressbar/v3"
	_ "golang.org/x/sys/cpu"
	_ "gonum.org/v1/gonum/blas/gonum"
	_ "gonum.org/v1/plot"
	_ "google.golang.org/protobuf/proto"
)
