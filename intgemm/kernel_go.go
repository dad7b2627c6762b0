package intgemm

import "unsafe"

// asBytes reinterprets signed activations as bytes; the kernels that read
// them know their sign.
func asBytes(a []int8) []uint8 {
	if len(a) == 0 {
		return nil
	}
	return unsafe.Slice((*uint8)(unsafe.Pointer(&a[0])), len(a))
}

// kern16Go is the reference for the 16-bit micro-kernels (kern16). For
// each of cols/16 weight panels p, each of the bRows activation rows r and
// each column q of the panel it computes, with x[i] = a[r*lda+i] (x ^ 0x80
// when signed, that is a+128 for int8 data) and
// y[i] = b[((p*groups+i/4)*16+q)*4+i%4]:
//
//	for g := 0; g < groups; g++ { // VPBROADCASTD, VPMADDUBSW, VPADDW
//		for h := 0; h < 2; h++ {
//			lane[h] += sat16(x[4g+2h]·y[4g+2h] + x[4g+2h+1]·y[4g+2h+1]) // int16, wraps
//		}
//	}
//	c[r*ldc+16*p+q] = int32(lane[0]) + int32(lane[1]) // VPMADDWD with ones
//
// Saturation and wrap-around never happen when the weights' exact bound fits
// 16 bits (every lane holds a partial sum); the emulation keeps them so that
// the Go and assembly kernels agree on any data.
func kern16Go(signed bool, a []uint8, lda int, b []int8, c []int32, ldc, groups, cols int) {
	var flip uint8
	if signed {
		flip = 0x80
	}
	for p := 0; p < cols/cols16; p++ {
		for r := 0; r < bRows; r++ {
			x := a[r*lda : r*lda+groups*group]
			for q := 0; q < cols16; q++ {
				var lane [2]int16
				for g := 0; g < groups; g++ {
					y := b[((p*groups+g)*cols16+q)*group:]
					for h := 0; h < 2; h++ {
						v := int32(x[4*g+2*h]^flip)*int32(y[2*h]) + int32(x[4*g+2*h+1]^flip)*int32(y[2*h+1])
						lane[h] += int16(min(max(v, -32768), 32767))
					}
				}
				c[r*ldc+p*cols16+q] = int32(lane[0]) + int32(lane[1])
			}
		}
	}
}

// checkBcast panics unless the slices hold what a broadcast micro-kernel
// call reads and writes; the assembly relies on it.
func checkBcast(a []uint8, lda, gstride int, b []int8, c []int32, ldc, groups, cols, width, blocks int) {
	rows := blocks * bRows
	if groups < 1 || cols < 1 || cols%width != 0 || blocks < 1 || gstride < group || len(a) < (rows-1)*lda+(groups-1)*gstride+group ||
		len(b) < cols*groups*group || len(c) < (rows-1)*ldc+cols {
		panic("intgemm: micro-kernel operands too short")
	}
}

// kern32Go is the reference for the 32-bit micro-kernels. For each output
// (r, q) of each panel p it computes, with x = a[r*lda+16*s+i] read as uint8
// (or int8 when signed) and y = b[((p*steps+s)*nr+q)*16+i]:
//
//	for s := 0; s < steps; s++ {
//		for i := 0; i < 16; i++ { // VPMOVZXBW/VPMOVSXBW, VPMADDWD, VPADDD
//			acc += int32(x[i]) · int32(y[i]) // int32, wraps
//		}
//	}
//	c[r*ldc+p*nr+q] = acc
func kern32Go(a []uint8, lda int, b []int16, c []int32, ldc, steps, panels int, signed bool) {
	for p := 0; p < panels; p++ {
		for r := 0; r < mr; r++ {
			for q := 0; q < nr; q++ {
				var acc int32
				for s := 0; s < steps; s++ {
					x := a[r*lda+s*k32Step : r*lda+s*k32Step+k32Step]
					y := b[((p*steps+s)*nr+q)*k32Step : ((p*steps+s)*nr+q+1)*k32Step]
					if signed {
						for i, v := range x {
							acc += int32(int8(v)) * int32(y[i])
						}
					} else {
						for i, v := range x {
							acc += int32(v) * int32(y[i])
						}
					}
				}
				c[r*ldc+p*nr+q] = acc
			}
		}
	}
}

// checkTile panics unless the slices hold what a micro-kernel call reads and
// writes; the assembly relies on it.
func checkTile(la, lda, lb, lc, ldc, steps, panels, kStep int) {
	if steps < 1 || panels < 1 || la < (mr-1)*lda+steps*kStep || lb < panels*steps*nr*kStep ||
		lc < (mr-1)*ldc+panels*nr {
		panic("intgemm: micro-kernel operands too short")
	}
}
