//go:build !noasm

#include "textflag.h"

// func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n int, div, lo, hi float32)
//
// For c < n: v = max(x0[c], x1[c], x2[c], x3[c]);
// o[c] = byte(int32(RoundToEven(min(max((float32(v)·scale[c] + bias[c]) / div, lo), hi)))),
// sixteen channels per step, the last step masked. Each operation rounds
// to float32 as the scalar code does (multiply, then add: never fused).
//   DI o; R8–R11 x0–x3; R12 scale; R13 bias; CX channels left; AX index
//   Z28 div, Z29 lo, Z30 hi; K1 tail mask.
TEXT ·requantAVX512(SB), NOSPLIT, $0-76
	MOVQ o+0(FP), DI
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ x2+24(FP), R10
	MOVQ x3+32(FP), R11
	MOVQ scale+40(FP), R12
	MOVQ bias+48(FP), R13
	MOVQ n+56(FP), CX
	VBROADCASTSS div+64(FP), Z28
	VBROADCASTSS lo+68(FP), Z29
	VBROADCASTSS hi+72(FP), Z30
	XORQ AX, AX

loop:
	CMPQ CX, $16
	JL   tail
	VMOVDQU32 (R8)(AX*4), Z0
	VPMAXSD   (R9)(AX*4), Z0, Z0
	VPMAXSD   (R10)(AX*4), Z0, Z0
	VPMAXSD   (R11)(AX*4), Z0, Z0
	VCVTDQ2PS Z0, Z0
	VMULPS    (R12)(AX*4), Z0, Z0
	VADDPS    (R13)(AX*4), Z0, Z0
	VDIVPS    Z28, Z0, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPMOVDB   Z0, (DI)(AX*1)
	ADDQ      $16, AX
	SUBQ      $16, CX
	JMP       loop

tail:
	TESTQ CX, CX
	JZ    done
	MOVQ  $1, DX
	SHLQ  CX, DX
	DECQ  DX
	KMOVW DX, K1
	VMOVDQU32.Z (R8)(AX*4), K1, Z0
	VMOVDQU32.Z (R9)(AX*4), K1, Z1
	VMOVDQU32.Z (R10)(AX*4), K1, Z2
	VMOVDQU32.Z (R11)(AX*4), K1, Z3
	VMOVUPS.Z   (R12)(AX*4), K1, Z4
	VMOVUPS.Z   (R13)(AX*4), K1, Z5
	VPMAXSD     Z1, Z0, Z0
	VPMAXSD     Z2, Z0, Z0
	VPMAXSD     Z3, Z0, Z0
	VCVTDQ2PS   Z0, Z0
	VMULPS      Z4, Z0, Z0
	VADDPS      Z5, Z0, Z0
	VDIVPS      Z28, Z0, Z0
	VMAXPS      Z29, Z0, Z0
	VMINPS      Z30, Z0, Z0
	VCVTPS2DQ   Z0, Z0
	VPMOVDB     Z0, K1, (DI)(AX*1)

done:
	VZEROUPPER
	RET
