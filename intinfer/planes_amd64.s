//go:build !noasm

#include "textflag.h"

// Byte images to byte planes (transposeBytes): blocks of 16 pixels × 16
// channels. Pixels i and i+8 of a block share a YMM (low and high lane);
// three rounds of in-lane unpacks (bytes, words, double words) leave two
// channels × 8 pixels in each lane, VPERMQ gathers each channel's 16
// pixels into one lane, FLIP adds 128 to signed bytes (flips their sign
// bits, as intgemm.Sparse reads them), and each lane is stored as one row
// of 16 bytes of its channel.
//   SI source block; DI destination block; R8 c (source pixel stride);
//   R10 destination row stride in bytes; R11 pixel blocks left; R12
//   channel blocks left; AX, BX source rows; DX destination row;
//   R13 source pixel block stride (16·c); R14, R15 saved block origins.
#define TRANSPOSE(FLIP) \
	MOVQ dst+0(FP), DI; \
	MOVQ ld+8(FP), R10; \
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
	VPERMQ $0xD8, Y8, Y8; FLIP(Y8); VMOVDQU X8, (DX); VEXTRACTI128 $1, Y8, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y9, Y9; FLIP(Y9); VMOVDQU X9, (DX); VEXTRACTI128 $1, Y9, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y10, Y10; FLIP(Y10); VMOVDQU X10, (DX); VEXTRACTI128 $1, Y10, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y11, Y11; FLIP(Y11); VMOVDQU X11, (DX); VEXTRACTI128 $1, Y11, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y12, Y12; FLIP(Y12); VMOVDQU X12, (DX); VEXTRACTI128 $1, Y12, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y13, Y13; FLIP(Y13); VMOVDQU X13, (DX); VEXTRACTI128 $1, Y13, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y14, Y14; FLIP(Y14); VMOVDQU X14, (DX); VEXTRACTI128 $1, Y14, (DX)(R10*1); LEAQ (DX)(R10*2), DX; \
	VPERMQ $0xD8, Y15, Y15; FLIP(Y15); VMOVDQU X15, (DX); VEXTRACTI128 $1, Y15, (DX)(R10*1); \
	ADDQ R13, SI; \
	ADDQ $16, DI; \
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

#define KEEP(y)
#define FLIPSIGN(y) VPXOR signbits<>(SB), y, y

// 0x80 in every byte.
DATA signbits<>+0(SB)/8, $0x8080808080808080
DATA signbits<>+8(SB)/8, $0x8080808080808080
DATA signbits<>+16(SB)/8, $0x8080808080808080
DATA signbits<>+24(SB)/8, $0x8080808080808080
GLOBL signbits<>(SB), RODATA|NOPTR, $32

// func transposeU8AVX2(dst *uint8, ld int, x *uint8, c, n int)
TEXT ·transposeU8AVX2(SB), NOSPLIT, $0-40
	TRANSPOSE(KEEP)

// func transposeS8AVX2(dst *uint8, ld int, x *uint8, c, n int)
TEXT ·transposeS8AVX2(SB), NOSPLIT, $0-40
	TRANSPOSE(FLIPSIGN)
