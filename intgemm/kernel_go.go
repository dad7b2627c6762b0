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

// kern16Go is the reference for the 16-bit micro-kernels. For each of
// panels weight panels p and each of the mr×nr outputs (r, q) of the tile it
// computes, with x = a[r*lda+32*s+i] (x ^ 0x80 when signed, that is x+128
// for int8 data) and y = b[((p*steps+s)*nr+q)*32+i]:
//
//	for s := 0; s < steps; s++ {
//		for l := 0; l < 16; l++ { // VPMADDUBSW, VPADDW
//			lane[l] += sat16(x[2l]·y[2l] + x[2l+1]·y[2l+1]) // int16, wraps
//		}
//	}
//	c[r*ldc+p*nr+q] = Σ_l int32(lane[l]) // VPMADDWD with ones, horizontal add
//
// Saturation and wrap-around never happen when the weights' exact bound fits
// 16 bits; the emulation keeps them so that the Go and assembly kernels agree
// on any data.
func kern16Go(a []uint8, lda int, b []int8, c []int32, ldc, steps, panels int, signed bool) {
	var flip uint8
	if signed {
		flip = 0x80
	}
	for p := 0; p < panels; p++ {
		for r := 0; r < mr; r++ {
			for q := 0; q < nr; q++ {
				var lane [16]int16
				for s := 0; s < steps; s++ {
					x := a[r*lda+s*k16Step : r*lda+s*k16Step+k16Step]
					y := b[((p*steps+s)*nr+q)*k16Step : ((p*steps+s)*nr+q+1)*k16Step]
					for l := range lane {
						v := int32(x[2*l]^flip)*int32(y[2*l]) + int32(x[2*l+1]^flip)*int32(y[2*l+1])
						lane[l] += int16(min(max(v, -32768), 32767))
					}
				}
				var sum int32
				for _, v := range lane {
					sum += int32(v)
				}
				c[r*ldc+p*nr+q] = sum
			}
		}
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
