package gemm

// ForEachKernel runs f once per kernel family this build can test (see
// testFamilies), with the package forced onto it.
func ForEachKernel(f func(name string)) {
	for _, kn := range testFamilies() {
		withKernel(kn, func() { f(kn.name) })
	}
}
