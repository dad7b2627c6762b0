package gemm

// kernelGo is the pure-Go 6×16 micro-kernel (mr = 6, nr = 16):
//
//	for i := 0; i < mr; i++ {
//		for j := 0; j < nr; j++ {
//			var s float32
//			for p := 0; p < kc; p++ {
//				s += a[p*mr+i] * b[p*nr+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// It sweeps the packed panels once per 2×4 sub-tile so that the eight
// partial sums stay in registers.
func kernelGo(kc int, a, b, c []float32, ldc int, beta float32) {
	const mr, nr = 6, 16
	a = a[:kc*mr]
	b = b[:kc*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			pa, pb := i, j
			for p := 0; p < kc; p++ {
				a0, a1 := a[pa], a[pa+1]
				b0, b1, b2, b3 := b[pb], b[pb+1], b[pb+2], b[pb+3]
				pa += mr
				pb += nr
				s00 += a0 * b0
				s01 += a0 * b1
				s02 += a0 * b2
				s03 += a0 * b3
				s10 += a1 * b0
				s11 += a1 * b1
				s12 += a1 * b2
				s13 += a1 * b3
			}
			c0 := (*[4]float32)(c[i*ldc+j:])
			c1 := (*[4]float32)(c[(i+1)*ldc+j:])
			if beta == 0 {
				*c0 = [4]float32{s00, s01, s02, s03}
				*c1 = [4]float32{s10, s11, s12, s13}
				continue
			}
			c0[0] = beta*c0[0] + s00
			c0[1] = beta*c0[1] + s01
			c0[2] = beta*c0[2] + s02
			c0[3] = beta*c0[3] + s03
			c1[0] = beta*c1[0] + s10
			c1[1] = beta*c1[1] + s11
			c1[2] = beta*c1[2] + s12
			c1[3] = beta*c1[3] + s13
		}
	}
}
