//go:build !noasm

#include "textflag.h"

// The broadcast 32-bit micro-kernel (kern32bGo is its reference): three
// activation rows by panels of 32 columns, twelve YMM accumulators (Y0-Y3
// row 0, Y4-Y7 row 1, Y8-Y11 row 2). For each pair of K values a row's two
// bytes are broadcast to every word (VPBROADCASTW), widened to int16 (EXT:
// VPMOVZXBW or VPMOVSXBW) and multiplied pairwise with the packed weights
// of 32 columns (VPMADDWD, four YMM read from memory).
// It runs blocks blocks of three rows, one after the other.
//   SI activation row 0; R8 lda; BX weights; DI output panel; R9 ldc in
//   bytes; R10 pairs; R11 panels left; AX, DX, R12 rows 0, 1 and 2 at the
//   current pair; CX pairs left; R13 blocks left; R14, R15 the block's
//   first activation row and output row.
#define ROW(OFF, A0, A1, A2, A3) \
	VPBROADCASTW (OFF), X12; \
	EXT X12, Y12; \
	VPMADDWD (BX), Y12, Y13; VPADDD Y13, A0, A0; \
	VPMADDWD 32(BX), Y12, Y13; VPADDD Y13, A1, A1; \
	VPMADDWD 64(BX), Y12, Y13; VPADDD Y13, A2, A2; \
	VPMADDWD 96(BX), Y12, Y13; VPADDD Y13, A3, A3

#define B32KERNEL \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), R8; \
	MOVQ b+16(FP), BX; \
	MOVQ c+24(FP), DI; \
	MOVQ ldc+32(FP), R9; \
	SHLQ $2, R9; \
	MOVQ pairs+40(FP), R10; \
	MOVQ blocks+56(FP), R13; \
block: \
	MOVQ SI, R14; \
	MOVQ DI, R15; \
	MOVQ b+16(FP), BX; \
	MOVQ panels+48(FP), R11; \
panel: \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; VPXOR Y9, Y9, Y9; VPXOR Y10, Y10, Y10; VPXOR Y11, Y11, Y11; \
	MOVQ SI, AX; \
	MOVQ R10, CX; \
pair: \
	LEAQ (AX)(R8*1), DX; \
	LEAQ (DX)(R8*1), R12; \
	ROW(AX, Y0, Y1, Y2, Y3); \
	ROW(DX, Y4, Y5, Y6, Y7); \
	ROW(R12, Y8, Y9, Y10, Y11); \
	ADDQ $128, BX; \
	ADDQ $2, AX; \
	DECQ CX; \
	JNZ pair; \
	MOVQ DI, DX; \
	VMOVDQU Y0, (DX); VMOVDQU Y1, 32(DX); VMOVDQU Y2, 64(DX); VMOVDQU Y3, 96(DX); \
	ADDQ R9, DX; \
	VMOVDQU Y4, (DX); VMOVDQU Y5, 32(DX); VMOVDQU Y6, 64(DX); VMOVDQU Y7, 96(DX); \
	ADDQ R9, DX; \
	VMOVDQU Y8, (DX); VMOVDQU Y9, 32(DX); VMOVDQU Y10, 64(DX); VMOVDQU Y11, 96(DX); \
	ADDQ $128, DI; \
	DECQ R11; \
	JNZ panel; \
	LEAQ (R14)(R8*2), SI; \
	ADDQ R8, SI; \
	LEAQ (R15)(R9*2), DI; \
	ADDQ R9, DI; \
	DECQ R13; \
	JNZ block; \
	VZEROUPPER; \
	RET

#define EXT VPMOVZXBW
// func kern32bU8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)
TEXT ·kern32bU8AVX2(SB), NOSPLIT, $0-64
	B32KERNEL
#undef EXT

#define EXT VPMOVSXBW
// func kern32bS8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)
TEXT ·kern32bS8AVX2(SB), NOSPLIT, $0-64
	B32KERNEL
#undef EXT
