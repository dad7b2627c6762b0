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

// The pooled broadcast 32-bit micro-kernel (kern32bMax4Go is its
// reference): quadruples of activation rows by panels of 32 columns, one
// output row per quadruple, the maximum of the four rows' sums. Each panel
// runs in two halves of two rows: eight accumulators (Y0-Y3 the first row,
// Y4-Y7 the second), the pair's weights of 32 columns loaded once into
// Y8-Y11 and multiplied with each row's broadcast pair (PROW). The first
// half stores the maximum of its two rows, the second takes the maximum
// with that and stores it again.
//   SI the quadruple's first row; R8 lda; BX weights at the current pair;
//   R12 the panel's weights; DI output panel; R9 ldc in bytes; R10 pairs;
//   R11 panels left; AX, DX the half's rows at the current pair; CX pairs
//   left; R13 blocks left; R14 the block's output row.
#define PROW(OFF, A0, A1, A2, A3) \
	VPBROADCASTW (OFF), X12; \
	EXT X12, Y12; \
	VPMADDWD Y8, Y12, Y13; VPADDD Y13, A0, A0; \
	VPMADDWD Y9, Y12, Y14; VPADDD Y14, A1, A1; \
	VPMADDWD Y10, Y12, Y15; VPADDD Y15, A2, A2; \
	VPMADDWD Y11, Y12, Y13; VPADDD Y13, A3, A3

// HALF2(label): the two rows from AX over every pair of the panel,
// then their maximum into Y0-Y3.
#define HALF2(label) \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7; \
	MOVQ R12, BX; \
	MOVQ R10, CX; \
label: \
	LEAQ (AX)(R8*1), DX; \
	VMOVDQU (BX), Y8; VMOVDQU 32(BX), Y9; VMOVDQU 64(BX), Y10; VMOVDQU 96(BX), Y11; \
	PROW(AX, Y0, Y1, Y2, Y3); \
	PROW(DX, Y4, Y5, Y6, Y7); \
	ADDQ $128, BX; \
	ADDQ $2, AX; \
	DECQ CX; \
	JNZ label; \
	VPMAXSD Y4, Y0, Y0; VPMAXSD Y5, Y1, Y1; VPMAXSD Y6, Y2, Y2; VPMAXSD Y7, Y3, Y3

#define MAX4KERNEL \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), R8; \
	MOVQ c+24(FP), DI; \
	MOVQ ldc+32(FP), R9; \
	SHLQ $2, R9; \
	MOVQ pairs+40(FP), R10; \
	MOVQ blocks+56(FP), R13; \
mblock: \
	MOVQ DI, R14; \
	MOVQ b+16(FP), R12; \
	MOVQ panels+48(FP), R11; \
mpanel: \
	MOVQ SI, AX; \
	HALF2(mpair0); \
	VMOVDQU Y0, (DI); VMOVDQU Y1, 32(DI); VMOVDQU Y2, 64(DI); VMOVDQU Y3, 96(DI); \
	LEAQ (SI)(R8*2), AX; \
	HALF2(mpair1); \
	VPMAXSD (DI), Y0, Y0; VPMAXSD 32(DI), Y1, Y1; VPMAXSD 64(DI), Y2, Y2; VPMAXSD 96(DI), Y3, Y3; \
	VMOVDQU Y0, (DI); VMOVDQU Y1, 32(DI); VMOVDQU Y2, 64(DI); VMOVDQU Y3, 96(DI); \
	MOVQ BX, R12; \
	ADDQ $128, DI; \
	DECQ R11; \
	JNZ mpanel; \
	LEAQ (SI)(R8*4), SI; \
	LEAQ (R14)(R9*1), DI; \
	DECQ R13; \
	JNZ mblock; \
	VZEROUPPER; \
	RET

#define EXT VPMOVZXBW
// func kern32bMax4U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)
TEXT ·kern32bMax4U8AVX2(SB), NOSPLIT, $0-64
	MAX4KERNEL
#undef EXT

#define EXT VPMOVSXBW
// func kern32bMax4S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, pairs, panels, blocks int)
TEXT ·kern32bMax4S8AVX2(SB), NOSPLIT, $0-64
	MAX4KERNEL
#undef EXT
