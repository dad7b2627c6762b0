//go:build !noasm

#include "textflag.h"

// Byte images to int16 planes (transposeBytes): blocks of 16 pixels × 16
// channels. Pixels i and i+8 of a block share a YMM (low and high lane);
// three rounds of in-lane unpacks (bytes, words, double words) leave two
// channels × 8 pixels in each lane, VPERMQ gathers each channel's 16
// pixels into one lane, and the bytes are widened (EXT: VPMOVZXBW or
// VPMOVSXBW) and stored as one row of 16 int16 per channel.
//   SI source block; DI destination block; R8 c (source pixel stride);
//   R10 destination row stride in bytes; R11 pixel blocks left; R12
//   channel blocks left; AX, BX source rows; DX destination row;
//   R13 source pixel block stride (16·c); R14, R15 saved block origins.
#define TRANSPOSE(EXT) \
	MOVQ dst+0(FP), DI; \
	MOVQ ld+8(FP), R10; \
	SHLQ $1, R10; \
	MOVQ x+16(FP), SI; \
	MOVQ c+24(FP), R8; \
	MOVQ R8, R12; \
	SHRQ $4, R12; \
	MOVQ R8, R13; \
	SHLQ $4, R13; \
cloop: \
	MOVQ SI, R14; \
	MOVQ DI, R15; \
	MOVQ n+32(FP), R11; \
	SHRQ $4, R11; \
ploop: \
	MOVQ SI, AX; \
	LEAQ (SI)(R8*8), BX; \
	VMOVDQU (AX), X0; VINSERTI128 $1, (BX), Y0, Y0; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X1; VINSERTI128 $1, (BX), Y1, Y1; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X2; VINSERTI128 $1, (BX), Y2, Y2; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X3; VINSERTI128 $1, (BX), Y3, Y3; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X4; VINSERTI128 $1, (BX), Y4, Y4; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X5; VINSERTI128 $1, (BX), Y5, Y5; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X6; VINSERTI128 $1, (BX), Y6, Y6; ADDQ R8, AX; ADDQ R8, BX; \
	VMOVDQU (AX), X7; VINSERTI128 $1, (BX), Y7, Y7; \
	VPUNPCKLBW Y1, Y0, Y8; VPUNPCKHBW Y1, Y0, Y9; \
	VPUNPCKLBW Y3, Y2, Y10; VPUNPCKHBW Y3, Y2, Y11; \
	VPUNPCKLBW Y5, Y4, Y12; VPUNPCKHBW Y5, Y4, Y13; \
	VPUNPCKLBW Y7, Y6, Y14; VPUNPCKHBW Y7, Y6, Y15; \
	VPUNPCKLWD Y10, Y8, Y0; VPUNPCKHWD Y10, Y8, Y1; \
	VPUNPCKLWD Y11, Y9, Y2; VPUNPCKHWD Y11, Y9, Y3; \
	VPUNPCKLWD Y14, Y12, Y4; VPUNPCKHWD Y14, Y12, Y5; \
	VPUNPCKLWD Y15, Y13, Y6; VPUNPCKHWD Y15, Y13, Y7; \
	VPUNPCKLDQ Y4, Y0, Y8; VPUNPCKHDQ Y4, Y0, Y9; \
	VPUNPCKLDQ Y5, Y1, Y10; VPUNPCKHDQ Y5, Y1, Y11; \
	VPUNPCKLDQ Y6, Y2, Y12; VPUNPCKHDQ Y6, Y2, Y13; \
	VPUNPCKLDQ Y7, Y3, Y14; VPUNPCKHDQ Y7, Y3, Y15; \
	MOVQ DI, DX; \
	VPERMQ $0xD8, Y8, Y8; EXT X8, Y0; VEXTRACTI128 $1, Y8, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y9, Y9; EXT X9, Y0; VEXTRACTI128 $1, Y9, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y10, Y10; EXT X10, Y0; VEXTRACTI128 $1, Y10, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y11, Y11; EXT X11, Y0; VEXTRACTI128 $1, Y11, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y12, Y12; EXT X12, Y0; VEXTRACTI128 $1, Y12, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y13, Y13; EXT X13, Y0; VEXTRACTI128 $1, Y13, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y14, Y14; EXT X14, Y0; VEXTRACTI128 $1, Y14, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); ADDQ R10, DX; \
	VPERMQ $0xD8, Y15, Y15; EXT X15, Y0; VEXTRACTI128 $1, Y15, X1; EXT X1, Y1; VMOVDQU Y0, (DX); ADDQ R10, DX; VMOVDQU Y1, (DX); \
	ADDQ R13, SI; \
	ADDQ $32, DI; \
	DECQ R11; \
	JNZ ploop; \
	LEAQ 16(R14), SI; \
	MOVQ R10, AX; \
	SHLQ $4, AX; \
	LEAQ (R15)(AX*1), DI; \
	DECQ R12; \
	JNZ cloop; \
	VZEROUPPER; \
	RET

// func transposeU8AVX2(dst *int16, ld int, x *uint8, c, n int)
TEXT ·transposeU8AVX2(SB), NOSPLIT, $0-40
	TRANSPOSE(VPMOVZXBW)

// func transposeS8AVX2(dst *int16, ld int, x *uint8, c, n int)
TEXT ·transposeS8AVX2(SB), NOSPLIT, $0-40
	TRANSPOSE(VPMOVSXBW)
