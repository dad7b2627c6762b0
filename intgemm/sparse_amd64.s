//go:build !noasm

#include "textflag.h"

// The AVX2 sparse kernel: one block of sparseBlock = 64 positions for all n
// output channels, in chunks of 8 channels.
//
// Compute. For each channel of the chunk, Y0-Y3 accumulate the 64 positions
// in int16 lanes while the program is walked: a group of value 1 adds its
// activation vectors (memory operands at x + 2·off) to the accumulators, a
// group of −1 subtracts them, any other group sums them into Y4-Y7, which
// VPMULLW multiplies by the value broadcast in Y8 before they are added.
// The 64 sums of channel j go to buf[64·j:], as int16.
//
// Store. The chunk's 8×64 int16 block in buf is transposed in tiles of
// 8 channels × 16 positions: three rounds of VPUNPCK (16-, 32-, 64-bit) on
// Y0-Y7 → Y8-Y15 → Y0-Y7 → Y8-Y15 leave in Y(8+r) the 8 channels of
// position r in the low half and of position 8+r in the high half.
// VPMOVSXWD widens each half to 8 int32, stored to the row of its position.
// A chunk of fewer than 8 channels (the last, when 8 ∤ n) stores through
// VPMASKMOVD, so columns past n are never written, and only rows < rows are.
//
// Registers:
//   SI  program, read sequentially     DI  x (block start)
//   R14 channels left                  R10 c at the chunk's first column
//   R11 ldc·4 (bytes per row of c)     DX  buf (channel or tile cursor)
//   R8  channels left in the chunk     BX  groups left, CX terms left
//   AX  offset of a term, R9 its value R12 row of c, R13 rows left
// The Go twin sparseGo is the reference loop.

// Three rounds of unpacking: the 8 channel rows of a tile (Y0-Y7, lanes =
// positions) to its 16 position rows (halves of Y8-Y15).
#define TRANSPOSE \
	VMOVDQU 0(DX), Y0; VMOVDQU 128(DX), Y1; VMOVDQU 256(DX), Y2; VMOVDQU 384(DX), Y3; \
	VMOVDQU 512(DX), Y4; VMOVDQU 640(DX), Y5; VMOVDQU 768(DX), Y6; VMOVDQU 896(DX), Y7; \
	VPUNPCKLWD Y1, Y0, Y8; VPUNPCKHWD Y1, Y0, Y9; \
	VPUNPCKLWD Y3, Y2, Y10; VPUNPCKHWD Y3, Y2, Y11; \
	VPUNPCKLWD Y5, Y4, Y12; VPUNPCKHWD Y5, Y4, Y13; \
	VPUNPCKLWD Y7, Y6, Y14; VPUNPCKHWD Y7, Y6, Y15; \
	VPUNPCKLDQ Y10, Y8, Y0; VPUNPCKHDQ Y10, Y8, Y1; \
	VPUNPCKLDQ Y11, Y9, Y2; VPUNPCKHDQ Y11, Y9, Y3; \
	VPUNPCKLDQ Y14, Y12, Y4; VPUNPCKHDQ Y14, Y12, Y5; \
	VPUNPCKLDQ Y15, Y13, Y6; VPUNPCKHDQ Y15, Y13, Y7; \
	VPUNPCKLQDQ Y4, Y0, Y8; VPUNPCKHQDQ Y4, Y0, Y9; \
	VPUNPCKLQDQ Y5, Y1, Y10; VPUNPCKHQDQ Y5, Y1, Y11; \
	VPUNPCKLQDQ Y6, Y2, Y12; VPUNPCKHQDQ Y6, Y2, Y13; \
	VPUNPCKLQDQ Y7, Y3, Y14; VPUNPCKHQDQ Y7, Y3, Y15; \
	ADDQ $32, DX

#define SAVEFULL VMOVDQU Y0, (R12)
#define SAVEMASK VPMASKMOVD Y0, Y7, (R12)
#define NOCHECK
#define CHECK DECQ R13; JZ chunkdone

// Widen and store one position row from the low or high half of a tile
// register.
#define LO(reg, save, check) \
	VPMOVSXWD reg, Y0; save; ADDQ R11, R12; check
#define HI(reg, save, check) \
	VEXTRACTI128 $1, reg, X0; VPMOVSXWD X0, Y0; save; ADDQ R11, R12; check

#define ROWS16(save, check) \
	LO(X8, save, check); LO(X9, save, check); LO(X10, save, check); LO(X11, save, check); \
	LO(X12, save, check); LO(X13, save, check); LO(X14, save, check); LO(X15, save, check); \
	HI(Y8, save, check); HI(Y9, save, check); HI(Y10, save, check); HI(Y11, save, check); \
	HI(Y12, save, check); HI(Y13, save, check); HI(Y14, save, check); HI(Y15, save, check)

// Four activation vectors of the term at offset AX: op mem, acc.
#define TERM(op, y0, y1, y2, y3) \
	MOVL (SI), AX; ADDQ $4, SI; \
	op 0(DI)(AX*2), y0, y0; op 32(DI)(AX*2), y1, y1; \
	op 64(DI)(AX*2), y2, y2; op 96(DI)(AX*2), y3, y3

// func sparseBlockAVX2(prog *int32, n int, x *int16, c *int32, ldc, rows int, buf *int16)
TEXT ·sparseBlockAVX2(SB), NOSPLIT, $0-56
	MOVQ prog+0(FP), SI
	MOVQ n+8(FP), R14
	MOVQ x+16(FP), DI
	MOVQ c+24(FP), R10
	MOVQ ldc+32(FP), R11
	SHLQ $2, R11

chunk:
	MOVQ    $8, R8
	CMPQ    R14, R8
	CMOVQLT R14, R8
	MOVQ    buf+48(FP), DX

channel:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVL  (SI), BX
	ADDQ  $4, SI
	TESTL BX, BX
	JZ    chdone

group:
	MOVL 0(SI), R9
	MOVL 4(SI), CX
	ADDQ $8, SI
	CMPL R9, $1
	JEQ  plus
	CMPL R9, $-1
	JEQ  minus
	MOVL    (SI), AX
	ADDQ    $4, SI
	VMOVDQU 0(DI)(AX*2), Y4
	VMOVDQU 32(DI)(AX*2), Y5
	VMOVDQU 64(DI)(AX*2), Y6
	VMOVDQU 96(DI)(AX*2), Y7
	DECL    CX
	JZ      mul

sum:
	TERM(VPADDW, Y4, Y5, Y6, Y7)
	DECL CX
	JNZ  sum

mul:
	VMOVD        R9, X8
	VPBROADCASTW X8, Y8
	VPMULLW      Y8, Y4, Y4
	VPMULLW      Y8, Y5, Y5
	VPMULLW      Y8, Y6, Y6
	VPMULLW      Y8, Y7, Y7
	VPADDW       Y4, Y0, Y0
	VPADDW       Y5, Y1, Y1
	VPADDW       Y6, Y2, Y2
	VPADDW       Y7, Y3, Y3
	DECL         BX
	JNZ          group
	JMP          chdone

plus:
	TERM(VPADDW, Y0, Y1, Y2, Y3)
	DECL CX
	JNZ  plus
	DECL BX
	JNZ  group
	JMP  chdone

minus:
	TERM(VPSUBW, Y0, Y1, Y2, Y3)
	DECL CX
	JNZ  minus
	DECL BX
	JNZ  group

chdone:
	VMOVDQU Y0, 0(DX)
	VMOVDQU Y1, 32(DX)
	VMOVDQU Y2, 64(DX)
	VMOVDQU Y3, 96(DX)
	ADDQ    $128, DX
	DECQ    R8
	JNZ     channel

	// Store the chunk: rows positions × min(8, R14) channels from buf.
	MOVQ buf+48(FP), DX
	MOVQ rows+40(FP), R13
	MOVQ R10, R12
	CMPQ R14, $8
	JLT  masked

tiles:
	TRANSPOSE
	CMPQ R13, $16
	JLT  lasttile
	ROWS16(SAVEFULL, NOCHECK)
	SUBQ $16, R13
	JNZ  tiles
	JMP  chunkdone

lasttile:
	ROWS16(SAVEFULL, CHECK)

chunkdone:
	ADDQ $32, R10
	SUBQ $8, R14
	JG   chunk
	VZEROUPPER
	RET

masked:
	// Y7 = 8 int32 lanes, the first R14 all ones: sparsemask from 8−R14.
	MOVQ $8, AX
	SUBQ R14, AX
	LEAQ sparsemask<>(SB), CX
	LEAQ (CX)(AX*4), CX

mtiles:
	TRANSPOSE
	VMOVDQU (CX), Y7
	ROWS16(SAVEMASK, CHECK)
	JMP mtiles

// Eight int32 of all ones, then eight zeros: the store masks of the last
// chunk.
DATA sparsemask<>+0(SB)/8, $-1
DATA sparsemask<>+8(SB)/8, $-1
DATA sparsemask<>+16(SB)/8, $-1
DATA sparsemask<>+24(SB)/8, $-1
DATA sparsemask<>+32(SB)/8, $0
DATA sparsemask<>+40(SB)/8, $0
DATA sparsemask<>+48(SB)/8, $0
DATA sparsemask<>+56(SB)/8, $0
GLOBL sparsemask<>(SB), RODATA|NOPTR, $64
