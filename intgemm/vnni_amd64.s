//go:build !noasm

#include "textflag.h"

// The pooled VNNI micro-kernels (kernVNNIMax4Go is their reference):
// quadruples of activation rows by strips of 16 columns, one output row per
// quadruple, the maximum of the four rows' sums (intgemm.Kernel.MulU8Max4
// on VNNI). For each group of 4 k values the four rows' groups are
// broadcast (Z10-Z13) and multiplied into four accumulators per strip (Z0-Z3
// for the first strip, Z4-Z7 for the second of a pair), whose maximum is
// stored. kernVNNIMax4x2 runs pairs of strips (32 columns), kernVNNIMax4x1
// one strip. Unsigned activations only.
//   SI the quadruple's first row; BX lda; AX, R13 rows 0 and 3 at the
//   current group; DI weights; R11 bytes per strip; CX groups left; DX
//   output; R8 ldc in bytes; R9 strip pairs (or strips) per quadruple; R10
//   those left; R12 quadruples left; R14 the weights; R15 the quadruple's
//   output row. (Defined before the first TEXT: go vet reads a macro's FP
//   references as those of the function it is defined in.)
#define VMAXARGS \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ b+16(FP), R14; \
	MOVQ c+24(FP), R15; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVQ groups+40(FP), R11; \
	SHLQ $6, R11; \
	MOVQ strips+48(FP), R9; \
	MOVQ blocks+56(FP), R12

#define VMAXLOADW2 VMOVDQU32 (DI), Z8; VMOVDQU32 (DI)(R11*1), Z9
#define VMAXLOADW1 VMOVDQU32 (DI), Z8
#define VMAXDP2(a, c0, c1) VPDPBUSD Z8, a, c0; VPDPBUSD Z9, a, c1
#define VMAXDP1(a, c0, c1) VPDPBUSD Z8, a, c0
#define VMAXST2 \
	VPMAXSD Z1, Z0, Z0; VPMAXSD Z3, Z2, Z2; VPMAXSD Z2, Z0, Z0; VMOVDQU32 Z0, (DX); \
	VPMAXSD Z5, Z4, Z4; VPMAXSD Z7, Z6, Z6; VPMAXSD Z6, Z4, Z4; VMOVDQU32 Z4, 64(DX); \
	ADDQ R11, DI; \
	ADDQ $128, DX
#define VMAXST1 \
	VPMAXSD Z1, Z0, Z0; VPMAXSD Z3, Z2, Z2; VPMAXSD Z2, Z0, Z0; VMOVDQU32 Z0, (DX); \
	ADDQ $64, DX

#define VMAXBODY(LOADW, DP, STORE) \
vblock: \
	MOVQ R14, DI; \
	MOVQ R15, DX; \
	MOVQ R9, R10; \
vstrip: \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	MOVQ SI, AX; \
	LEAQ (SI)(BX*2), R13; \
	ADDQ BX, R13; \
	MOVQ R11, CX; \
	SHRQ $6, CX; \
vgroup: \
	LOADW; \
	VPBROADCASTD (AX), Z10; \
	VPBROADCASTD (AX)(BX*1), Z11; \
	VPBROADCASTD (AX)(BX*2), Z12; \
	VPBROADCASTD (R13), Z13; \
	DP(Z10, Z0, Z4); \
	DP(Z11, Z1, Z5); \
	DP(Z12, Z2, Z6); \
	DP(Z13, Z3, Z7); \
	ADDQ $4, AX; \
	ADDQ $4, R13; \
	ADDQ $64, DI; \
	DECQ CX; \
	JNZ  vgroup; \
	STORE; \
	DECQ R10; \
	JNZ  vstrip; \
	LEAQ (SI)(BX*4), SI; \
	ADDQ R8, R15; \
	DECQ R12; \
	JNZ  vblock; \
	VZEROUPPER; \
	RET

// AVX-512 VNNI micro-kernels for the 32-bit path: blocks of 6 activation
// rows, one after the other, against strips of 16 weight rows. A strip
// holds, for each group of 4 k values, the 4 bytes of each of its 16 weight
// rows (64 bytes, one ZMM), so that VPDPBUSD of a broadcast group of 4
// activation bytes accumulates 16 output columns at once, in int32 with no
// saturation. One call runs a whole run of row blocks: the Go call per
// block cost more than the block itself for short dot products (the first
// layer's K = 9). Registers:
//   SI  activation row 0; rows at SI, +BX, +2·BX, R13 = SI+3·BX, +BX, +2·BX
//   DI  packed weight strips (R11 = strip bytes, R12 = 3·R11); after the
//       k loop DI has crossed one strip, so DI+R12 is the next panel
//   DX  output row 0; rows at DX, +R8, +2·R8, R14 = DX+3·R8, +R8, +2·R8
//   Z0-Z23 accumulators (row r, strip q in Z(4r+q)), Z24-Z27 weights,
//   Z28-Z29 broadcast activations, Z30 0x80 bytes for signed activations;
//   the frame holds the blocks left and the first output row of the block.

#define ZERO24 \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; VPXORD Z17, Z17, Z17; VPXORD Z18, Z18, Z18; VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; VPXORD Z21, Z21, Z21; VPXORD Z22, Z22, Z22; VPXORD Z23, Z23, Z23

#define DP4(areg, c0, c1, c2, c3) \
	VPDPBUSD Z24, areg, c0; VPDPBUSD Z25, areg, c1; VPDPBUSD Z26, areg, c2; VPDPBUSD Z27, areg, c3

#define NOFLIP(areg)
#define FLIP(areg) VPXORD Z30, areg, areg

#define GROUP4(flip) \
	VMOVDQU32 (DI), Z24; \
	VMOVDQU32 (DI)(R11*1), Z25; \
	VMOVDQU32 (DI)(R11*2), Z26; \
	VMOVDQU32 (DI)(R12*1), Z27; \
	VPBROADCASTD (AX), Z28; flip(Z28); \
	DP4(Z28, Z0, Z1, Z2, Z3); \
	VPBROADCASTD (AX)(BX*1), Z29; flip(Z29); \
	DP4(Z29, Z4, Z5, Z6, Z7); \
	VPBROADCASTD (AX)(BX*2), Z28; flip(Z28); \
	DP4(Z28, Z8, Z9, Z10, Z11); \
	VPBROADCASTD (R13), Z29; flip(Z29); \
	DP4(Z29, Z12, Z13, Z14, Z15); \
	VPBROADCASTD (R13)(BX*1), Z28; flip(Z28); \
	DP4(Z28, Z16, Z17, Z18, Z19); \
	VPBROADCASTD (R13)(BX*2), Z29; flip(Z29); \
	DP4(Z29, Z20, Z21, Z22, Z23); \
	ADDQ $4, AX; \
	ADDQ $4, R13; \
	ADDQ $64, DI

#define STROW4(c0, c1, c2, c3, base) \
	VMOVDQU32 c0, 0(base); VMOVDQU32 c1, 64(base); VMOVDQU32 c2, 128(base); VMOVDQU32 c3, 192(base)

#define STROW4X(c0, c1, c2, c3, base, scale) \
	VMOVDQU32 c0, 0(base)(R8*scale); VMOVDQU32 c1, 64(base)(R8*scale); VMOVDQU32 c2, 128(base)(R8*scale); VMOVDQU32 c3, 192(base)(R8*scale)

// The six rows of a block: activation row pointers AX, AX+BX, AX+2·BX,
// R13 = AX+3·BX, +BX, +2·BX, and CX = the groups to go.
#define ROWS6 \
	MOVQ SI, AX; \
	LEAQ (SI)(BX*2), R13; \
	ADDQ BX, R13; \
	MOVQ R9, CX

// Output rows DX, +R8, +2·R8, R14 = DX+3·R8, +R8, +2·R8.
#define CROWS6 \
	LEAQ (DX)(R8*2), R14; \
	ADDQ R8, R14

// The strip kernels' arguments (a, lda, c, ldc, groups, blocks, gstride),
// and the 0x80 bytes of the signed variants in Z30.
#define STRIPARGS \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVQ groups+40(FP), R9; \
	MOVL $0x80808080, AX; \
	VPBROADCASTD AX, Z30; \
	MOVQ blocks+56(FP), AX; \
	MOVQ AX, left-8(SP); \
	MOVQ gstride+64(FP), R12

// The next block of bRows = 6 rows: SI and the block's first output row
// (start) move down 6 rows, while blocks are left (left).
#define NEXTBLOCK \
	LEAQ (BX)(BX*2), AX; \
	LEAQ (SI)(AX*2), SI; \
	LEAQ (R8)(R8*2), AX; \
	MOVQ start-16(SP), DX; \
	LEAQ (DX)(AX*2), DX; \
	DECQ left-8(SP); \
	JNZ  block

#define KERN4(flip) \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVQ groups+40(FP), R9; \
	MOVQ R9, R11; \
	SHLQ $6, R11; \
	LEAQ (R11)(R11*2), R12; \
	MOVL $0x80808080, AX; \
	VPBROADCASTD AX, Z30; \
	MOVQ blocks+56(FP), AX; \
	MOVQ AX, left-8(SP); \
block: \
	MOVQ b+16(FP), DI; \
	MOVQ panels+48(FP), R10; \
	MOVQ DX, start-16(SP); \
panel: \
	ZERO24; \
	ROWS6; \
loop: \
	GROUP4(flip); \
	DECQ CX; \
	JNZ  loop; \
	CROWS6; \
	STROW4(Z0, Z1, Z2, Z3, DX); \
	STROW4X(Z4, Z5, Z6, Z7, DX, 1); \
	STROW4X(Z8, Z9, Z10, Z11, DX, 2); \
	STROW4(Z12, Z13, Z14, Z15, R14); \
	STROW4X(Z16, Z17, Z18, Z19, R14, 1); \
	STROW4X(Z20, Z21, Z22, Z23, R14, 2); \
	ADDQ R12, DI; \
	ADDQ $256, DX; \
	DECQ R10; \
	JNZ  panel; \
	NEXTBLOCK; \
	VZEROUPPER; \
	RET

// One strip at a time: 6 accumulators Z0-Z5, weights in Z24; the groups
// of a row are R12 = gstride bytes apart (4: one contiguous row).
#define GROUP1(flip) \
	VMOVDQU32 (DI), Z24; \
	VPBROADCASTD (AX), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z0; \
	VPBROADCASTD (AX)(BX*1), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z1; \
	VPBROADCASTD (AX)(BX*2), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z2; \
	VPBROADCASTD (R13), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z3; \
	VPBROADCASTD (R13)(BX*1), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z4; \
	VPBROADCASTD (R13)(BX*2), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z5; \
	ADDQ R12, AX; \
	ADDQ R12, R13; \
	ADDQ $64, DI

#define KERN1(flip) \
	STRIPARGS; \
block: \
	MOVQ b+16(FP), DI; \
	MOVQ strips+48(FP), R10; \
	MOVQ DX, start-16(SP); \
strip: \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; \
	ROWS6; \
loop: \
	GROUP1(flip); \
	DECQ CX; \
	JNZ  loop; \
	CROWS6; \
	VMOVDQU32 Z0, (DX); \
	VMOVDQU32 Z1, (DX)(R8*1); \
	VMOVDQU32 Z2, (DX)(R8*2); \
	VMOVDQU32 Z3, (R14); \
	VMOVDQU32 Z4, (R14)(R8*1); \
	VMOVDQU32 Z5, (R14)(R8*2); \
	ADDQ $64, DX; \
	DECQ R10; \
	JNZ  strip; \
	NEXTBLOCK; \
	VZEROUPPER; \
	RET

// Two strips at a time: 12 accumulators, Z0-Z5 for the first strip and
// Z6-Z11 for the second, whose weights are R11 = groups·64 bytes further
// on: each broadcast group of activations serves both (the first layer's
// 32 columns are one pair).
#define GROUP2(flip) \
	VMOVDQU32 (DI), Z24; \
	VMOVDQU32 (DI)(R11*1), Z25; \
	VPBROADCASTD (AX), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z0; VPDPBUSD Z25, Z28, Z6; \
	VPBROADCASTD (AX)(BX*1), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z1; VPDPBUSD Z25, Z29, Z7; \
	VPBROADCASTD (AX)(BX*2), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z2; VPDPBUSD Z25, Z28, Z8; \
	VPBROADCASTD (R13), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z3; VPDPBUSD Z25, Z29, Z9; \
	VPBROADCASTD (R13)(BX*1), Z28; flip(Z28); VPDPBUSD Z24, Z28, Z4; VPDPBUSD Z25, Z28, Z10; \
	VPBROADCASTD (R13)(BX*2), Z29; flip(Z29); VPDPBUSD Z24, Z29, Z5; VPDPBUSD Z25, Z29, Z11; \
	ADDQ R12, AX; \
	ADDQ R12, R13; \
	ADDQ $64, DI

#define KERN2(flip) \
	STRIPARGS; \
	MOVQ R9, R11; \
	SHLQ $6, R11; \
block: \
	MOVQ b+16(FP), DI; \
	MOVQ pairs+48(FP), R10; \
	MOVQ DX, start-16(SP); \
pair: \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	ROWS6; \
loop: \
	GROUP2(flip); \
	DECQ CX; \
	JNZ  loop; \
	CROWS6; \
	VMOVDQU32 Z0, (DX); VMOVDQU32 Z6, 64(DX); \
	VMOVDQU32 Z1, (DX)(R8*1); VMOVDQU32 Z7, 64(DX)(R8*1); \
	VMOVDQU32 Z2, (DX)(R8*2); VMOVDQU32 Z8, 64(DX)(R8*2); \
	VMOVDQU32 Z3, (R14); VMOVDQU32 Z9, 64(R14); \
	VMOVDQU32 Z4, (R14)(R8*1); VMOVDQU32 Z10, 64(R14)(R8*1); \
	VMOVDQU32 Z5, (R14)(R8*2); VMOVDQU32 Z11, 64(R14)(R8*2); \
	ADDQ R11, DI; \
	ADDQ $128, DX; \
	DECQ R10; \
	JNZ  pair; \
	NEXTBLOCK; \
	VZEROUPPER; \
	RET

// func kernVNNI4U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels, blocks int)
TEXT ·kernVNNI4U8(SB), NOSPLIT, $16-64
	KERN4(NOFLIP)

// func kernVNNI4S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, panels, blocks int)
TEXT ·kernVNNI4S8(SB), NOSPLIT, $16-64
	KERN4(FLIP)

// func kernVNNI1U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks, gstride int)
TEXT ·kernVNNI1U8(SB), NOSPLIT, $16-72
	KERN1(NOFLIP)

// func kernVNNI1S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks, gstride int)
TEXT ·kernVNNI1S8(SB), NOSPLIT, $16-72
	KERN1(FLIP)

// func kernVNNI2U8(a *uint8, lda int, b *int8, c *int32, ldc, groups, pairs, blocks, gstride int)
TEXT ·kernVNNI2U8(SB), NOSPLIT, $16-72
	KERN2(NOFLIP)

// func kernVNNI2S8(a *uint8, lda int, b *int8, c *int32, ldc, groups, pairs, blocks, gstride int)
TEXT ·kernVNNI2S8(SB), NOSPLIT, $16-72
	KERN2(FLIP)

// func kernVNNIMax4x2(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int)
TEXT ·kernVNNIMax4x2(SB), NOSPLIT, $0-64
	VMAXARGS
	VMAXBODY(VMAXLOADW2, VMAXDP2, VMAXST2)

// func kernVNNIMax4x1(a *uint8, lda int, b *int8, c *int32, ldc, groups, strips, blocks int)
TEXT ·kernVNNIMax4x1(SB), NOSPLIT, $0-64
	VMAXARGS
	VMAXBODY(VMAXLOADW1, VMAXDP1, VMAXST1)
