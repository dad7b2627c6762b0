//go:build !noasm

#include "textflag.h"

// 16-bit AVX2 micro-kernels: 6 activation rows against panels of 16 weight
// rows (two YMM of 8 columns × 4 bytes per group of 4 k values). Each group
// of 4 activation bytes is broadcast to every lane; VPMADDUBSW multiplies it
// with the weights (u8 × s8, pairs summed to int16 with saturation) and
// VPADDW accumulates in int16, so every lane holds a partial sum of one
// output: lane 2q+h of a column register sums the pairs (4g+2h, 4g+2h+1).
// After the k loop VPMADDWD with ones adds the two lanes of each column into
// int32, and the 8 sums go straight to C. Registers:
//   SI  activation row 0; rows at SI, +BX, +2·BX, R13 = SI+3·BX, +BX, +2·BX
//   DI  packed weights, read sequentially: 64 bytes per group
//   DX  output row 0; rows at DX, +R8, +2·R8, R14 = DX+3·R8, +R8, +2·R8
//   Y0-Y11 accumulators (row r in Y(2r), Y(2r+1)), Y12-Y13 weights,
//   Y14 broadcast activations, Y15 products.
// The Go twin kern16Go is the reference loop.

#define NOFLIP16
#define FLIP16 VPXOR signbit16<>(SB), Y14, Y14

#define ROWB(src, flip, c0, c1) \
	VPBROADCASTD src, Y14; flip; \
	VPMADDUBSW Y12, Y14, Y15; VPADDW Y15, c0, c0; \
	VPMADDUBSW Y13, Y14, Y15; VPADDW Y15, c1, c1

#define KERN16(flip) \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ b+16(FP), DI; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVQ groups+40(FP), R9; \
	MOVQ panels+48(FP), R10; \
panel: \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; VPXOR Y9, Y9, Y9; VPXOR Y10, Y10, Y10; VPXOR Y11, Y11, Y11; \
	MOVQ SI, AX; \
	LEAQ (SI)(BX*2), R13; \
	ADDQ BX, R13; \
	MOVQ R9, CX; \
loop: \
	VMOVDQU (DI), Y12; \
	VMOVDQU 32(DI), Y13; \
	ROWB((AX), flip, Y0, Y1); \
	ROWB((AX)(BX*1), flip, Y2, Y3); \
	ROWB((AX)(BX*2), flip, Y4, Y5); \
	ROWB((R13), flip, Y6, Y7); \
	ROWB((R13)(BX*1), flip, Y8, Y9); \
	ROWB((R13)(BX*2), flip, Y10, Y11); \
	ADDQ $4, AX; \
	ADDQ $4, R13; \
	ADDQ $64, DI; \
	DECQ CX; \
	JNZ  loop; \
	VPCMPEQW Y12, Y12, Y12; \
	VPSRLW   $15, Y12, Y12; \
	VPMADDWD Y12, Y0, Y0; VPMADDWD Y12, Y1, Y1; VPMADDWD Y12, Y2, Y2; VPMADDWD Y12, Y3, Y3; \
	VPMADDWD Y12, Y4, Y4; VPMADDWD Y12, Y5, Y5; VPMADDWD Y12, Y6, Y6; VPMADDWD Y12, Y7, Y7; \
	VPMADDWD Y12, Y8, Y8; VPMADDWD Y12, Y9, Y9; VPMADDWD Y12, Y10, Y10; VPMADDWD Y12, Y11, Y11; \
	LEAQ (DX)(R8*2), R14; \
	ADDQ R8, R14; \
	VMOVDQU Y0, (DX); VMOVDQU Y1, 32(DX); \
	VMOVDQU Y2, (DX)(R8*1); VMOVDQU Y3, 32(DX)(R8*1); \
	VMOVDQU Y4, (DX)(R8*2); VMOVDQU Y5, 32(DX)(R8*2); \
	VMOVDQU Y6, (R14); VMOVDQU Y7, 32(R14); \
	VMOVDQU Y8, (R14)(R8*1); VMOVDQU Y9, 32(R14)(R8*1); \
	VMOVDQU Y10, (R14)(R8*2); VMOVDQU Y11, 32(R14)(R8*2); \
	ADDQ $64, DX; \
	DECQ R10; \
	JNZ  panel; \
	VZEROUPPER; \
	RET

// 0x80 in every byte: flips int8 activations to uint8 (a+128).
DATA signbit16<>+0(SB)/8, $0x8080808080808080
DATA signbit16<>+8(SB)/8, $0x8080808080808080
DATA signbit16<>+16(SB)/8, $0x8080808080808080
DATA signbit16<>+24(SB)/8, $0x8080808080808080
GLOBL signbit16<>(SB), RODATA|NOPTR, $32

// func kern16U8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels int)
TEXT ·kern16U8AVX2(SB), NOSPLIT, $0-56
	KERN16(NOFLIP16)

// func kern16S8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels int)
TEXT ·kern16S8AVX2(SB), NOSPLIT, $0-56
	KERN16(FLIP16)
