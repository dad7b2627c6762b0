//go:build !noasm

#include "textflag.h"

// The AVX2 sparse kernel: one block of sparseBlock = 64 positions for all n
// output channels, in chunks of 8 channels.
//
// Compute, on words. A 32-byte load of activation bytes is read as sixteen
// int16 words, word i holding position 2i in its low byte and 2i+1 in its
// high byte. For each channel of the chunk the kernel sums, over the
// program's terms and times their weights, both the words (T, in Y0-Y1)
// and their high bytes (H, one shift each, in Y2-Y3). In 16-bit lanes,
// modulo 2^16, T is Σ w·(even + 256·odd) and H is Σ w·odd: the odd
// positions' sums are H and the even ones' T − 256·H, exact because each
// lies in [−2^15, 2^15) (NewSparse checks that). A term costs two loads, a
// shift and three adds per 32 positions, where widening every byte to a
// lane (VPMOVZXBW) took four loads, each also a shuffle, and four adds. The
// sums start at the channel's start (H) and 257 times it (T). A group of
// value 1 adds its terms, of −1 subtracts them, any other sums them in
// Y4-Y7, which VPMULLW multiplies by the value broadcast in Y8 before they
// are added. At the channel's end the even and odd sums are interleaved
// back into position order, and its 64 sums go to buf[64·j:], as int16.
//
// Store. The chunk's 8×64 int16 block in buf is turned into rows of c in
// tiles of 8 positions × 8 channels (HALF): the loads put channel j in the
// low lane and channel j+4 in the high lane of Y(j), j < 4, so that no
// shuffle crosses lanes afterwards; VPMADDWD with the pairs (1, 0) and
// (0, 1) widens the even and the odd positions to int32 (on the multiplier
// ports, leaving the shuffle ports to the transposes); two rounds of VPUNPCK
// (32-, 64-bit) transpose each lane's 4×4 block. Each register then holds a
// row of c: the int32 of channels 0-3 and 4-7 of one position, stored at
// the byte offset the row table gives for it (the caller's map from
// positions to rows). A chunk of fewer than 8 channels (the last, when
// 8 ∤ n) stores through VPMASKMOVD, so columns past n are never written,
// and only rows < rows are.
//
// Registers:
//   SI  program, read sequentially     DI  x (block start)
//   R14 channels left                  R10 c at the chunk's first column
//   R11 8 (a step of the row table)    DX  buf (channel or tile cursor)
//   R8  channels left in the chunk     BX  groups left, CX terms left
//   AX  offset of a term or of a row   R12 row table, R13 rows left
//   R9  a group's value
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
#define SAVEFULL(r) MOVQ (R12), AX; VMOVDQU r, (R10)(AX*1)
#define SAVEMASK(r) MOVQ (R12), AX; VPMASKMOVD r, Y13, (R10)(AX*1)
#define NOCHECK
#define CHECK DECQ R13; JZ chunkdone

// The 8 rows of a HALF, in order of position.
#define ROWS8(save, check) \
	save(Y4); ADDQ R11, R12; check; save(Y0); ADDQ R11, R12; check; \
	save(Y5); ADDQ R11, R12; check; save(Y1); ADDQ R11, R12; check; \
	save(Y6); ADDQ R11, R12; check; save(Y2); ADDQ R11, R12; check; \
	save(Y7); ADDQ R11, R12; check; save(Y3); ADDQ R11, R12; check

// The words of the term at offset AX, two vectors w bytes apart loaded
// (MOV) into r9 and r10: op them into the sums t0, t1 and their high bytes
// into h0, h1.
#define TERMW(MOV, op, r9, r10, t0, t1, h0, h1, w) \
	MOVL (SI), AX; ADDQ $4, SI; \
	MOV 0(DI)(AX*1), r9; MOV w(DI)(AX*1), r10; \
	op r9, t0, t0; op r10, t1, t1; \
	VPSRLW $8, r9, r9; VPSRLW $8, r10, r10; \
	op r9, h0, h0; op r10, h1, h1

// The kernels' arguments.
#define SPARSEARGS \
	MOVQ prog+0(FP), SI; \
	MOVQ n+8(FP), R14; \
	MOVQ x+16(FP), DI; \
	MOVQ c+24(FP), R10; \
	MOVQ $8, R11

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

// The steps of both kernels on the sums t0, t1 (T), h0, h1 (H) and the
// group sums g0-g3, with MOVA a register move and MOV a load of the
// width, w its bytes; x8 holds a group's value. The start in AX goes to
// H, 257 times it (its value in both bytes of a word) to T.
#define INITW(MOVA, t0, t1, h0, h1) \
	MOVL AX, R9; SHLL $8, R9; ADDL AX, R9; \
	VMOVD R9, X0; VPBROADCASTW X0, t0; MOVA t0, t1; \
	VMOVD AX, X2; VPBROADCASTW X2, h0; MOVA h0, h1
#define FIRSTW(MOV, g0, g1, g2, g3, w) \
	MOV 0(DI)(AX*1), g0; MOV w(DI)(AX*1), g1; \
	VPSRLW $8, g0, g2; VPSRLW $8, g1, g3
#define MULW(x8, g0, g1, g2, g3, t0, t1, h0, h1) \
	VMOVD R9, X8; VPBROADCASTW X8, x8; \
	VPMULLW x8, g0, g0; VPMULLW x8, g1, g1; VPMULLW x8, g2, g2; VPMULLW x8, g3, g3; \
	VPADDW g0, t0, t0; VPADDW g1, t1, t1; VPADDW g2, h0, h0; VPADDW g3, h1, h1
// EVENW turns the sums T into the even positions' sums T − 256·H.
#define EVENW(t0, t1, h0, h1, s0, s1) \
	VPSLLW $8, h0, s0; VPSUBW s0, t0, t0; \
	VPSLLW $8, h1, s1; VPSUBW s1, t1, t1

// The AVX2 steps: T in Y0-Y1, H in Y2-Y3 (group sums Y4-Y7).
#define SP2INIT INITW(VMOVDQA, Y0, Y1, Y2, Y3)
#define SP2FIRST FIRSTW(VMOVDQU, Y4, Y5, Y6, Y7, 32)
#define SP2SUM TERMW(VMOVDQU, VPADDW, Y9, Y10, Y4, Y5, Y6, Y7, 32)
#define SP2ADD TERMW(VMOVDQU, VPADDW, Y9, Y10, Y0, Y1, Y2, Y3, 32)
#define SP2SUB TERMW(VMOVDQU, VPSUBW, Y9, Y10, Y0, Y1, Y2, Y3, 32)
#define SP2MUL MULW(Y8, Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
// The even sums interleaved with the odd ones H within each 128-bit lane
// (positions 0-7 | 16-23 and 8-15 | 24-31), the lanes put in order: the
// channel's 64 sums in position order to buf.
#define SP2SAVE \
	EVENW(Y0, Y1, Y2, Y3, Y9, Y10); \
	VPUNPCKLWD Y2, Y0, Y9; VPUNPCKHWD Y2, Y0, Y10; \
	VPERM2I128 $0x20, Y10, Y9, Y11; VPERM2I128 $0x31, Y10, Y9, Y12; \
	VMOVDQU Y11, 0(DX); VMOVDQU Y12, 32(DX); \
	VPUNPCKLWD Y3, Y1, Y9; VPUNPCKHWD Y3, Y1, Y10; \
	VPERM2I128 $0x20, Y10, Y9, Y11; VPERM2I128 $0x31, Y10, Y9, Y12; \
	VMOVDQU Y11, 64(DX); VMOVDQU Y12, 96(DX); ADDQ $128, DX

// The AVX-512 steps: blocks of 128 positions, T in Z0-Z1, H in Z2-Z3
// (group sums Z4-Z7).
#define SP5INIT INITW(VMOVDQA64, Z0, Z1, Z2, Z3)
#define SP5FIRST FIRSTW(VMOVDQU64, Z4, Z5, Z6, Z7, 64)
#define SP5SUM TERMW(VMOVDQU64, VPADDW, Z9, Z10, Z4, Z5, Z6, Z7, 64)
#define SP5ADD TERMW(VMOVDQU64, VPADDW, Z9, Z10, Z0, Z1, Z2, Z3, 64)
#define SP5SUB TERMW(VMOVDQU64, VPSUBW, Z9, Z10, Z0, Z1, Z2, Z3, 64)
#define SP5MUL MULW(Z8, Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)
// The even sums and the odd ones H interleaved by VPERMI2W with the
// indices in Z16 (positions 0-31 of each half of the block) and Z17
// (32-63): the channel's 128 sums in position order to buf.
#define SP5SAVE \
	EVENW(Z0, Z1, Z2, Z3, Z9, Z10); \
	VMOVDQA64 Z16, Z9; VPERMI2W Z2, Z0, Z9; \
	VMOVDQA64 Z17, Z10; VPERMI2W Z2, Z0, Z10; \
	VMOVDQA64 Z16, Z11; VPERMI2W Z3, Z1, Z11; \
	VMOVDQA64 Z17, Z12; VPERMI2W Z3, Z1, Z12; \
	VMOVDQU64 Z9, 0(DX); VMOVDQU64 Z10, 64(DX); VMOVDQU64 Z11, 128(DX); VMOVDQU64 Z12, 192(DX); ADDQ $256, DX

// The store of a chunk (both kernels): rows positions × min(8, R14)
// channels from buf into c, then the next chunk or the end.
#define SPARSESTORE(HALF) \
	MOVQ buf+48(FP), DX; \
	MOVQ rows+40(FP), R13; \
	MOVQ offs+32(FP), R12; \
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

// func sparseBlockAVX2(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16)
TEXT ·sparseBlockAVX2(SB), NOSPLIT, $0-56
	SPARSEARGS
	SPARSECOMPUTE(SP2INIT, SP2FIRST, SP2SUM, SP2ADD, SP2SUB, SP2MUL, SP2SAVE)
	SPARSESTORE(HALF64)

// func sparseBlockAVX512(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16)
//
// sparseBlockAVX2 on blocks of 128 positions, the sums in four ZMM of 32
// int16 lanes (Z0-Z3, group sums Z4-Z7): each term's 128 bytes are two
// 64-byte loads, and its offset load serves twice the positions. The store
// is the same, on rows of 128.
TEXT ·sparseBlockAVX512(SB), NOSPLIT, $0-56
	SPARSEARGS
	VMOVDQU64 sparseilv<>+0(SB), Z16
	VMOVDQU64 sparseilv<>+64(SB), Z17
	SPARSECOMPUTE(SP5INIT, SP5FIRST, SP5SUM, SP5ADD, SP5SUB, SP5MUL, SP5SAVE)
	SPARSESTORE(HALF128)

// The pooled kernel's steps (sparse_pool.go): the channel's sums, even
// positions in Z0 (0-62) and Z1 (64-126), odd ones in Z2 and Z3, are
// gathered per tap of the windows, the even taps' with the indices in
// Z18 and Z19 from Z0-Z1, the odd ones' with Z20 and Z21 from Z2-Z3, and
// the maximum over the four taps, each window's in its lane, is the
// channel's row of 32 windows in buf.
#define SP5POOLSAVE \
	EVENW(Z0, Z1, Z2, Z3, Z9, Z10); \
	VMOVDQA64 Z18, Z11; VPERMI2W Z1, Z0, Z11; \
	VMOVDQA64 Z19, Z12; VPERMI2W Z1, Z0, Z12; \
	VMOVDQA64 Z20, Z9; VPERMI2W Z3, Z2, Z9; \
	VMOVDQA64 Z21, Z10; VPERMI2W Z3, Z2, Z10; \
	VPMAXSW Z12, Z11, Z11; VPMAXSW Z10, Z9, Z9; VPMAXSW Z9, Z11, Z11; \
	VMOVDQU64 Z11, 0(DX); ADDQ $64, DX

// HALF32: channel rows of 32 windows in buf.
#define HALF32 HALFAT(0, 256, 64, 320, 128, 384, 192, 448)

// func sparsePoolAVX512(prog *int32, n int, x *uint8, c *int32, offs *int, rows int, buf *int16, tab *uint16)
//
// sparseBlockAVX512 on one block, each channel's sums reduced to the
// maxima of up to 32 windows (PoolMap's indices at tab: a vector per tap),
// stored as rows rows of c like the positions of the other kernels.
TEXT ·sparsePoolAVX512(SB), NOSPLIT, $0-64
	SPARSEARGS
	MOVQ      tab+56(FP), AX
	VMOVDQU64 0(AX), Z18
	VMOVDQU64 64(AX), Z19
	VMOVDQU64 128(AX), Z20
	VMOVDQU64 192(AX), Z21
	SPARSECOMPUTE(SP5INIT, SP5FIRST, SP5SUM, SP5ADD, SP5SUB, SP5MUL, SP5POOLSAVE)
	SPARSESTORE(HALF32)

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

// The word indices of VPERMI2W that interleave even (table 1) and odd
// (table 2) positions: positions 0-31, then 32-63.
DATA sparseilv<>+0(SB)/8, $0x0021000100200000
DATA sparseilv<>+8(SB)/8, $0x0023000300220002
DATA sparseilv<>+16(SB)/8, $0x0025000500240004
DATA sparseilv<>+24(SB)/8, $0x0027000700260006
DATA sparseilv<>+32(SB)/8, $0x0029000900280008
DATA sparseilv<>+40(SB)/8, $0x002b000b002a000a
DATA sparseilv<>+48(SB)/8, $0x002d000d002c000c
DATA sparseilv<>+56(SB)/8, $0x002f000f002e000e
DATA sparseilv<>+64(SB)/8, $0x0031001100300010
DATA sparseilv<>+72(SB)/8, $0x0033001300320012
DATA sparseilv<>+80(SB)/8, $0x0035001500340014
DATA sparseilv<>+88(SB)/8, $0x0037001700360016
DATA sparseilv<>+96(SB)/8, $0x0039001900380018
DATA sparseilv<>+104(SB)/8, $0x003b001b003a001a
DATA sparseilv<>+112(SB)/8, $0x003d001d003c001c
DATA sparseilv<>+120(SB)/8, $0x003f001f003e001e
GLOBL sparseilv<>(SB), RODATA|NOPTR, $128
