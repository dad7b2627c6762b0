//go:build !noasm

#include "textflag.h"

// 32-bit micro-kernels (int16 operands) for one block of 3 activation rows
// against panels packed panels of 4 weight rows. Registers:
//   SI  activation row 0 (rows 1, 2 at +BX, +2·BX; BX = lda bytes)
//   DI  packed weights, read sequentially: per step 4 rows × 32 bytes
//   DX  output row 0 (rows 1, 2 at +R8, +2·R8; R8 = ldc·4 bytes)
//   R9  steps, R10 panels left, AX/CX k loop
//   Y0-Y2 activations, Y3-Y14 accumulators (row r, column q in Y(3+4r+q)),
//   Y15 products.
// The Go twin kern32Go is the reference loop.

#define ZERO12 \
	VPXOR Y3, Y3, Y3; VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; VPXOR Y8, Y8, Y8; VPXOR Y9, Y9, Y9; VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; VPXOR Y12, Y12, Y12; VPXOR Y13, Y13, Y13; VPXOR Y14, Y14, Y14

// One activation row (int16 in areg) times 4 weight rows (int16), pairs
// summed to int32 lanes.
#define ROW32(areg, c0, c1, c2, c3) \
	VPMADDWD 0(DI), areg, Y15; VPADDD Y15, c0, c0; \
	VPMADDWD 32(DI), areg, Y15; VPADDD Y15, c1, c1; \
	VPMADDWD 64(DI), areg, Y15; VPADDD Y15, c2, c2; \
	VPMADDWD 96(DI), areg, Y15; VPADDD Y15, c3, c3

// Sum the 8 int32 lanes of each of c0..c3 and store the 4 sums at dst.
#define RED4(c0, c1, c2, c3, x0, dst) \
	VPHADDD c1, c0, c0; \
	VPHADDD c3, c2, c2; \
	VPHADDD c2, c0, c0; \
	VEXTRACTI128 $1, c0, X15; \
	VPADDD X15, x0, x0; \
	VMOVDQU x0, dst

#define PROLOGUE \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ b+16(FP), DI; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVQ steps+40(FP), R9; \
	MOVQ panels+48(FP), R10

#define STORE12 \
	RED4(Y3, Y4, Y5, Y6, X3, (DX)); \
	RED4(Y7, Y8, Y9, Y10, X7, (DX)(R8*1)); \
	RED4(Y11, Y12, Y13, Y14, X11, (DX)(R8*2)); \
	ADDQ $16, DX

// KERN32 is the whole kernel; widen is VPMOVZXBW (uint8 activations) or
// VPMOVSXBW (int8).
#define KERN32(widen) \
	PROLOGUE; \
panel: \
	ZERO12; \
	MOVQ SI, AX; \
	MOVQ R9, CX; \
loop: \
	widen (AX), Y0; \
	widen (AX)(BX*1), Y1; \
	widen (AX)(BX*2), Y2; \
	ROW32(Y0, Y3, Y4, Y5, Y6); \
	ROW32(Y1, Y7, Y8, Y9, Y10); \
	ROW32(Y2, Y11, Y12, Y13, Y14); \
	ADDQ $16, AX; \
	ADDQ $128, DI; \
	DECQ CX; \
	JNZ  loop; \
	STORE12; \
	DECQ R10; \
	JNZ  panel; \
	VZEROUPPER; \
	RET

// func kern32U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)
TEXT ·kern32U8AVX2(SB), NOSPLIT, $0-56
	KERN32(VPMOVZXBW)

// func kern32S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)
TEXT ·kern32S8AVX2(SB), NOSPLIT, $0-56
	KERN32(VPMOVSXBW)
