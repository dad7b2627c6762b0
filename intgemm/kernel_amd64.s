//go:build !noasm

#include "textflag.h"

// Micro-kernels for one block of 3 activation rows against panels packed
// panels of 4 weight rows. Registers:
//   SI  activation row 0 (rows 1, 2 at +BX, +2·BX; BX = lda bytes)
//   DI  packed weights, read sequentially: per step 4 rows × 32 bytes
//   DX  output row 0 (rows 1, 2 at +R8, +2·R8; R8 = ldc·4 bytes)
//   R9  steps, R10 panels left, AX/CX k loop
//   Y0-Y2 activations, Y3-Y14 accumulators (row r, column q in Y(3+4r+q)),
//   Y15 products.
// The Go twins kern16Go and kern32Go are the reference loops.

#define ZERO12 \
	VPXOR Y3, Y3, Y3; VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; VPXOR Y8, Y8, Y8; VPXOR Y9, Y9, Y9; VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; VPXOR Y12, Y12, Y12; VPXOR Y13, Y13, Y13; VPXOR Y14, Y14, Y14

// One activation row (unsigned bytes in areg) times 4 weight rows (signed
// bytes), pairs summed with saturation to int16, added to int16 lanes.
#define ROW16(areg, c0, c1, c2, c3) \
	VPMADDUBSW 0(DI), areg, Y15; VPADDW Y15, c0, c0; \
	VPMADDUBSW 32(DI), areg, Y15; VPADDW Y15, c1, c1; \
	VPMADDUBSW 64(DI), areg, Y15; VPADDW Y15, c2, c2; \
	VPMADDUBSW 96(DI), areg, Y15; VPADDW Y15, c3, c3

// One activation row (int16 in areg) times 4 weight rows (int16), pairs
// summed to int32 lanes.
#define ROW32(areg, c0, c1, c2, c3) \
	VPMADDWD 0(DI), areg, Y15; VPADDD Y15, c0, c0; \
	VPMADDWD 32(DI), areg, Y15; VPADDD Y15, c1, c1; \
	VPMADDWD 64(DI), areg, Y15; VPADDD Y15, c2, c2; \
	VPMADDWD 96(DI), areg, Y15; VPADDD Y15, c3, c3

// Widen the 12 int16 accumulators to int32 pair sums (Y0 holds int16 ones).
#define WIDEN12 \
	VPMADDWD Y0, Y3, Y3; VPMADDWD Y0, Y4, Y4; VPMADDWD Y0, Y5, Y5; VPMADDWD Y0, Y6, Y6; \
	VPMADDWD Y0, Y7, Y7; VPMADDWD Y0, Y8, Y8; VPMADDWD Y0, Y9, Y9; VPMADDWD Y0, Y10, Y10; \
	VPMADDWD Y0, Y11, Y11; VPMADDWD Y0, Y12, Y12; VPMADDWD Y0, Y13, Y13; VPMADDWD Y0, Y14, Y14

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

// 0x80 in every byte: flips int8 activations to uint8 (a+128).
DATA signbit<>+0(SB)/8, $0x8080808080808080
DATA signbit<>+8(SB)/8, $0x8080808080808080
DATA signbit<>+16(SB)/8, $0x8080808080808080
DATA signbit<>+24(SB)/8, $0x8080808080808080
GLOBL signbit<>(SB), RODATA|NOPTR, $32

// func kern16U8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, steps, panels int)
TEXT ·kern16U8AVX2(SB), NOSPLIT, $0-56
	PROLOGUE

panel:
	ZERO12
	MOVQ SI, AX
	MOVQ R9, CX

loop:
	VMOVDQU (AX), Y0
	VMOVDQU (AX)(BX*1), Y1
	VMOVDQU (AX)(BX*2), Y2
	ROW16(Y0, Y3, Y4, Y5, Y6)
	ROW16(Y1, Y7, Y8, Y9, Y10)
	ROW16(Y2, Y11, Y12, Y13, Y14)
	ADDQ $32, AX
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

	VPCMPEQW Y0, Y0, Y0
	VPSRLW   $15, Y0, Y0
	WIDEN12
	STORE12
	DECQ R10
	JNZ  panel
	VZEROUPPER
	RET

// func kern16S8AVX2(a *uint8, lda int, b *int8, c *int32, ldc, steps, panels int)
TEXT ·kern16S8AVX2(SB), NOSPLIT, $0-56
	PROLOGUE

panel:
	ZERO12
	MOVQ SI, AX
	MOVQ R9, CX

loop:
	VMOVDQU signbit<>(SB), Y2
	VPXOR   (AX), Y2, Y0
	VPXOR   (AX)(BX*1), Y2, Y1
	VPXOR   (AX)(BX*2), Y2, Y2
	ROW16(Y0, Y3, Y4, Y5, Y6)
	ROW16(Y1, Y7, Y8, Y9, Y10)
	ROW16(Y2, Y11, Y12, Y13, Y14)
	ADDQ $32, AX
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

	VPCMPEQW Y0, Y0, Y0
	VPSRLW   $15, Y0, Y0
	WIDEN12
	STORE12
	DECQ R10
	JNZ  panel
	VZEROUPPER
	RET

// func kern32U8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)
TEXT ·kern32U8AVX2(SB), NOSPLIT, $0-56
	PROLOGUE

panel:
	ZERO12
	MOVQ SI, AX
	MOVQ R9, CX

loop:
	VPMOVZXBW (AX), Y0
	VPMOVZXBW (AX)(BX*1), Y1
	VPMOVZXBW (AX)(BX*2), Y2
	ROW32(Y0, Y3, Y4, Y5, Y6)
	ROW32(Y1, Y7, Y8, Y9, Y10)
	ROW32(Y2, Y11, Y12, Y13, Y14)
	ADDQ $16, AX
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

	STORE12
	DECQ R10
	JNZ  panel
	VZEROUPPER
	RET

// func kern32S8AVX2(a *uint8, lda int, b *int16, c *int32, ldc, steps, panels int)
TEXT ·kern32S8AVX2(SB), NOSPLIT, $0-56
	PROLOGUE

panel:
	ZERO12
	MOVQ SI, AX
	MOVQ R9, CX

loop:
	VPMOVSXBW (AX), Y0
	VPMOVSXBW (AX)(BX*1), Y1
	VPMOVSXBW (AX)(BX*2), Y2
	ROW32(Y0, Y3, Y4, Y5, Y6)
	ROW32(Y1, Y7, Y8, Y9, Y10)
	ROW32(Y2, Y11, Y12, Y13, Y14)
	ADDQ $16, AX
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

	STORE12
	DECQ R10
	JNZ  panel
	VZEROUPPER
	RET
