//go:build !noasm

#include "textflag.h"

// The AVX2 sparse kernel: one block of sparseBlock = 64 positions for all n
// output channels, in chunks of 8 channels.
//
// Compute. For each channel of the chunk, Y0-Y3 accumulate the 64 positions
// in int16 lanes, from the channel's start, while the program is walked:
// each term's 64 activation bytes (at x + off) are widened to int16 as they
// are loaded (VPMOVZXBW, four 16-byte loads into Y9-Y12); a group of value
// 1 adds them to the accumulators, a group of −1 subtracts them, any other
// group sums them into Y4-Y7, which VPMULLW multiplies by the value
// broadcast in Y8 before they are added. The 64 sums of channel j go to
// buf[64·j:], as int16.
//
// Store. The chunk's 8×64 int16 block in buf is turned into rows of c in
// tiles of 8 positions × 8 channels (HALF): the loads put channel j in the
// low lane and channel j+4 in the high lane of Y(j), j < 4, so that no
// shuffle crosses lanes afterwards; VPMADDWD with the pairs (1, 0) and
// (0, 1) widens the even and the odd positions to int32 (on the multiplier
// ports, leaving the shuffle ports to the transposes); two rounds of VPUNPCK
// (32-, 64-bit) transpose each lane's 4×4 block. Each register then holds a
// row of c: the int32 of channels 0-3 and 4-7 of one position. A chunk of
// fewer than 8 channels (the last, when 8 ∤ n) stores through VPMASKMOVD,
// so columns past n are never written, and only rows < rows are.
//
// Registers:
//   SI  program, read sequentially     DI  x (block start)
//   R14 channels left                  R10 c at the chunk's first column
//   R11 ldc·4 (bytes per row of c)     DX  buf (channel or tile cursor)
//   R8  channels left in the chunk     BX  groups left, CX terms left
//   AX  offset of a term, R9 its value R12 row of c, R13 rows left
//   Y13 store mask, Y14 (1, 0) and Y15 (0, 1) in every int16 pair
// The Go twin sparseGo is the reference loop.

// Eight positions of the tile at DX (channel j's row at buf + j·2·block):
// the pairs of channel rows (j, j+4) in
// the lanes of Y0-Y3, widened (even positions in Y4-Y7, odd ones in
// Y0-Y3) and transposed in each lane: positions 0, 2, 4, 6 in Y4-Y7 and 1,
// 3, 5, 7 in Y0-Y3, channels 0-3 in the low lane and 4-7 in the high one.
#define HALFAT(a, b, c, d, e, f, g, h) \
	VMOVDQU a(DX), X0; VINSERTI128 $1, b(DX), Y0, Y0; \
	VMOVDQU c(DX), X1; VINSERTI128 $1, d(DX), Y1, Y1; \
	VMOVDQU e(DX), X2; VINSERTI128 $1, f(DX), Y2, Y2; \
	VMOVDQU g(DX), X3; VINSERTI128 $1, h(DX), Y3, Y3; \
	VPMADDWD Y14, Y0, Y4; VPMADDWD Y14, Y1, Y5; VPMADDWD Y14, Y2, Y6; VPMADDWD Y14, Y3, Y7; \
	VPMADDWD Y15, Y0, Y0; VPMADDWD Y15, Y1, Y1; VPMADDWD Y15, Y2, Y2; VPMADDWD Y15, Y3, Y3; \
	VPUNPCKLDQ Y5, Y4, Y8; VPUNPCKHDQ Y5, Y4, Y9; VPUNPCKLDQ Y7, Y6, Y10; VPUNPCKHDQ Y7, Y6, Y11; \
	VPUNPCKLQDQ Y10, Y8, Y4; VPUNPCKHQDQ Y10, Y8, Y5; VPUNPCKLQDQ Y11, Y9, Y6; VPUNPCKHQDQ Y11, Y9, Y7; \
	VPUNPCKLDQ Y1, Y0, Y8; VPUNPCKHDQ Y1, Y0, Y9; VPUNPCKLDQ Y3, Y2, Y10; VPUNPCKHDQ Y3, Y2, Y11; \
	VPUNPCKLQDQ Y10, Y8, Y0; VPUNPCKHQDQ Y10, Y8, Y1; VPUNPCKLQDQ Y11, Y9, Y2; VPUNPCKHQDQ Y11, Y9, Y3; \
	ADDQ $16, DX

// HALF64 and HALF128: channel rows of 64 or 128 positions in buf.
#define HALF64 HALFAT(0, 512, 128, 640, 256, 768, 384, 896)
#define HALF128 HALFAT(0, 1024, 256, 1280, 512, 1536, 768, 1792)

// Store a row (whole, or masked) and step to the next; check stops after
// the last row of the block.
#define SAVEFULL(r) VMOVDQU r, (R12)
#define SAVEMASK(r) VPMASKMOVD r, Y13, (R12)
#define NOCHECK
#define CHECK DECQ R13; JZ chunkdone

// The 8 rows of a HALF, in order of position.
#define ROWS8(save, check) \
	save(Y4); ADDQ R11, R12; check; save(Y0); ADDQ R11, R12; check; \
	save(Y5); ADDQ R11, R12; check; save(Y1); ADDQ R11, R12; check; \
	save(Y6); ADDQ R11, R12; check; save(Y2); ADDQ R11, R12; check; \
	save(Y7); ADDQ R11, R12; check; save(Y3); ADDQ R11, R12; check

// The four activation vectors of the term at offset AX, widened: op them
// into the accumulators.
#define TERM(op, y0, y1, y2, y3) \
	MOVL (SI), AX; ADDQ $4, SI; \
	VPMOVZXBW 0(DI)(AX*1), Y9; op Y9, y0, y0; \
	VPMOVZXBW 16(DI)(AX*1), Y10; op Y10, y1, y1; \
	VPMOVZXBW 32(DI)(AX*1), Y11; op Y11, y2, y2; \
	VPMOVZXBW 48(DI)(AX*1), Y12; op Y12, y3, y3

// The 128 activation bytes of the term at offset AX, widened to four ZMM:
// op them into the accumulators (AVX-512).
#define TERM512(op, z0, z1, z2, z3) \
	MOVL (SI), AX; ADDQ $4, SI; \
	VPMOVZXBW 0(DI)(AX*1), Z9; op Z9, z0, z0; \
	VPMOVZXBW 32(DI)(AX*1), Z10; op Z10, z1, z1; \
	VPMOVZXBW 64(DI)(AX*1), Z11; op Z11, z2, z2; \
	VPMOVZXBW 96(DI)(AX*1), Z12; op Z12, z3, z3

// The kernels' arguments.
#define SPARSEARGS \
	MOVQ prog+0(FP), SI; \
	MOVQ n+8(FP), R14; \
	MOVQ x+16(FP), DI; \
	MOVQ c+24(FP), R10; \
	MOVQ ldc+32(FP), R11; \
	SHLQ $2, R11

// The compute part of a chunk (both kernels), walking the program: each
// channel's sums start at its start (INIT, from AX); a group of value 1
// adds its terms (ADD), of −1 subtracts them (SUB), any other sums them
// (FIRST, then SUM) and multiplies the sum by its value R9 (MUL); SAVE
// writes the channel's 64 sums to buf at DX.
#define SPARSECOMPUTE(INIT, FIRST, SUM, ADD, SUB, MUL, SAVE) \
chunk: \
	MOVQ    $8, R8; \
	CMPQ    R14, R8; \
	CMOVQLT R14, R8; \
	MOVQ    buf+48(FP), DX; \
channel: \
	MOVL  (SI), AX; \
	INIT; \
	MOVL  4(SI), BX; \
	ADDQ  $8, SI; \
	TESTL BX, BX; \
	JZ    chdone; \
group: \
	MOVL 0(SI), R9; \
	MOVL 4(SI), CX; \
	ADDQ $8, SI; \
	CMPL R9, $1; \
	JEQ  plus; \
	CMPL R9, $-1; \
	JEQ  minus; \
	MOVL (SI), AX; \
	ADDQ $4, SI; \
	FIRST; \
	DECL CX; \
	JZ   mul; \
sum: \
	SUM; \
	DECL CX; \
	JNZ  sum; \
mul: \
	MUL; \
	DECL BX; \
	JNZ  group; \
	JMP  chdone; \
plus: \
	ADD; \
	DECL CX; \
	JNZ  plus; \
	DECL BX; \
	JNZ  group; \
	JMP  chdone; \
minus: \
	SUB; \
	DECL CX; \
	JNZ  minus; \
	DECL BX; \
	JNZ  group; \
chdone: \
	SAVE; \
	DECQ R8; \
	JNZ  channel

// The AVX2 steps: sums in Y0-Y3, group sums in Y4-Y7.
#define SP2INIT VMOVD AX, X0; VPBROADCASTW X0, Y0; VMOVDQA Y0, Y1; VMOVDQA Y0, Y2; VMOVDQA Y0, Y3
#define SP2FIRST \
	VPMOVZXBW 0(DI)(AX*1), Y4; VPMOVZXBW 16(DI)(AX*1), Y5; \
	VPMOVZXBW 32(DI)(AX*1), Y6; VPMOVZXBW 48(DI)(AX*1), Y7
#define SP2SUM TERM(VPADDW, Y4, Y5, Y6, Y7)
#define SP2ADD TERM(VPADDW, Y0, Y1, Y2, Y3)
#define SP2SUB TERM(VPSUBW, Y0, Y1, Y2, Y3)
#define SP2MUL \
	VMOVD R9, X8; VPBROADCASTW X8, Y8; \
	VPMULLW Y8, Y4, Y4; VPMULLW Y8, Y5, Y5; VPMULLW Y8, Y6, Y6; VPMULLW Y8, Y7, Y7; \
	VPADDW Y4, Y0, Y0; VPADDW Y5, Y1, Y1; VPADDW Y6, Y2, Y2; VPADDW Y7, Y3, Y3
#define SP2SAVE VMOVDQU Y0, 0(DX); VMOVDQU Y1, 32(DX); VMOVDQU Y2, 64(DX); VMOVDQU Y3, 96(DX); ADDQ $128, DX

// The AVX-512 steps: blocks of 128 positions, sums in Z0-Z3, group sums
// in Z4-Z7.
#define SP5INIT VMOVD AX, X0; VPBROADCASTW X0, Z0; VMOVDQA64 Z0, Z1; VMOVDQA64 Z0, Z2; VMOVDQA64 Z0, Z3
#define SP5FIRST \
	VPMOVZXBW 0(DI)(AX*1), Z4; VPMOVZXBW 32(DI)(AX*1), Z5; \
	VPMOVZXBW 64(DI)(AX*1), Z6; VPMOVZXBW 96(DI)(AX*1), Z7
#define SP5SUM TERM512(VPADDW, Z4, Z5, Z6, Z7)
#define SP5ADD TERM512(VPADDW, Z0, Z1, Z2, Z3)
#define SP5SUB TERM512(VPSUBW, Z0, Z1, Z2, Z3)
#define SP5MUL \
	VMOVD R9, X8; VPBROADCASTW X8, Z8; \
	VPMULLW Z8, Z4, Z4; VPMULLW Z8, Z5, Z5; VPMULLW Z8, Z6, Z6; VPMULLW Z8, Z7, Z7; \
	VPADDW Z4, Z0, Z0; VPADDW Z5, Z1, Z1; VPADDW Z6, Z2, Z2; VPADDW Z7, Z3, Z3
#define SP5SAVE VMOVDQU64 Z0, 0(DX); VMOVDQU64 Z1, 64(DX); VMOVDQU64 Z2, 128(DX); VMOVDQU64 Z3, 192(DX); ADDQ $256, DX

// The store of a chunk (both kernels): rows positions × min(8, R14)
// channels from buf into c, then the next chunk or the end.
#define SPARSESTORE(HALF) \
	MOVQ buf+48(FP), DX; \
	MOVQ rows+40(FP), R13; \
	MOVQ R10, R12; \
	VPCMPEQW Y15, Y15, Y15; \
	VPSRLD   $31, Y15, Y14; \
	VPSLLD   $16, Y14, Y15; \
	CMPQ R14, $8; \
	JLT  masked; \
tiles: \
	CMPQ R13, $16; \
	JLT  lasttile; \
	HALF; \
	ROWS8(SAVEFULL, NOCHECK); \
	HALF; \
	ROWS8(SAVEFULL, NOCHECK); \
	SUBQ $16, R13; \
	JNZ  tiles; \
	JMP  chunkdone; \
lasttile: \
	HALF; \
	ROWS8(SAVEFULL, CHECK); \
	HALF; \
	ROWS8(SAVEFULL, CHECK); \
chunkdone: \
	ADDQ $32, R10; \
	SUBQ $8, R14; \
	JG   chunk; \
	VZEROUPPER; \
	RET; \
masked: \
	MOVQ    $8, AX; \
	SUBQ    R14, AX; \
	LEAQ    sparsemask<>(SB), CX; \
	VMOVDQU (CX)(AX*4), Y13; \
mtiles: \
	HALF; \
	ROWS8(SAVEMASK, CHECK); \
	JMP mtiles

// func sparseBlockAVX2(prog *int32, n int, x *uint8, c *int32, ldc, rows int, buf *int16)
TEXT ·sparseBlockAVX2(SB), NOSPLIT, $0-56
	SPARSEARGS
	SPARSECOMPUTE(SP2INIT, SP2FIRST, SP2SUM, SP2ADD, SP2SUB, SP2MUL, SP2SAVE)
	SPARSESTORE(HALF64)

// func sparseBlockAVX512(prog *int32, n int, x *uint8, c *int32, ldc, rows int, buf *int16)
//
// sparseBlockAVX2 on blocks of 128 positions, the sums in four ZMM of 32
// int16 lanes (Z0-Z3, group sums Z4-Z7): each term's 128 bytes are four
// 32-byte loads widened to ZMM (TERM512), a quarter of the AVX2 form's
// instructions per position, and each term's offset load serves twice the
// positions. The store is the same, on rows of 128.
TEXT ·sparseBlockAVX512(SB), NOSPLIT, $0-56
	SPARSEARGS
	SPARSECOMPUTE(SP5INIT, SP5FIRST, SP5SUM, SP5ADD, SP5SUB, SP5MUL, SP5SAVE)
	SPARSESTORE(HALF128)

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
