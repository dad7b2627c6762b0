//go:build !noasm

#include "textflag.h"

// PATCH3 writes the patch row at DI from the three kernel rows at SRC
// (rowLen R12 apart): three word moves run R13 apart and a word of zeros
// at k (DX), then steps DI to the next row (lda BX). Each word spills into
// what is written after it: the next run, or the next row.
#define PATCH3(SRC) \
	MOVQ (SRC), R10; \
	MOVQ (SRC)(R12*1), R11; \
	MOVQ (SRC)(R12*2), R14; \
	MOVQ R10, (DI); \
	MOVQ R11, (DI)(R13*1); \
	LEAQ (DI)(R13*2), R10; \
	MOVQ R14, (R10); \
	MOVQ $0, (DI)(DX*1); \
	ADDQ BX, DI

// W3ARGS loads the arguments the two three-row kernels share (defined
// before the first TEXT: go vet reads a macro's FP references as those of
// the function it is defined in).
#define W3ARGS \
	MOVQ dst+0(FP), DI; \
	MOVQ lda+8(FP), BX; \
	MOVQ src+16(FP), R9; \
	MOVQ oh+24(FP), R8; \
	MOVQ sh+40(FP), SI; \
	MOVQ sw+48(FP), R15; \
	MOVQ rowLen+56(FP), R12; \
	MOVQ run+64(FP), R13; \
	MOVQ k+72(FP), DX

// Patch copies of an unpadded one-group convolution, one image: for each
// output pixel (i, j), row r = i·ow + j of dst gets the kh runs of run
// bytes at src[i·sh + j·sw + h·rowLen] at dst[r·lda + h·run], then zeros
// from k up to lda. The two kernels share the loops and differ in how a run
// and the padding move (MOVE and PAD):
//   DI dst row; BX lda; R9 source row of i; AX source of (i, j);
//   R8 i left; CX j left; DX h left; R10/R11 source/destination of the run;
//   R12 rowLen; R13 run; R14, R15 scratch.
#define IM2COL(MOVE, PAD) \
	MOVQ dst+0(FP), DI; \
	MOVQ lda+8(FP), BX; \
	MOVQ src+16(FP), R9; \
	MOVQ oh+24(FP), R8; \
	MOVQ rowLen+56(FP), R12; \
	MOVQ run+72(FP), R13; \
iloop: \
	TESTQ R8, R8; \
	JZ    end; \
	MOVQ  R9, AX; \
	MOVQ  ow+32(FP), CX; \
jloop: \
	TESTQ CX, CX; \
	JZ    jdone; \
	MOVQ  AX, R10; \
	MOVQ  DI, R11; \
	MOVQ  kh+64(FP), DX; \
hloop: \
	MOVE; \
	ADDQ R12, R10; \
	ADDQ R13, R11; \
	DECQ DX; \
	JNZ  hloop; \
	MOVQ k+80(FP), R14; \
	PAD; \
	ADDQ BX, DI; \
	ADDQ sw+48(FP), AX; \
	DECQ CX; \
	JMP  jloop; \
jdone: \
	ADDQ sh+40(FP), R9; \
	DECQ R8; \
	JMP  iloop; \
end: \
	VZEROUPPER; \
	RET

// PAIR moves a run of n to 2n bytes (R13) from R10 to R11 as two
// overlapping moves of n bytes, the first and the last n, then jumps to
// moved.
#define PAIR(MOV, r0, r1, n) \
	MOV (R10), r0; \
	MOV -n(R10)(R13*1), r1; \
	MOV r0, (R11); \
	MOV r1, -n(R11)(R13*1); \
	JMP moved

// A run as 32-byte blocks (the last one overlapping the one before), or as
// two overlapping moves of 16, 8, 4 or 2 bytes, or one byte.
#define MOVE_BLOCKS \
	CMPQ R13, $32; \
	JB   lt32; \
	XORQ R14, R14; \
	MOVQ R13, R15; \
	SUBQ $32, R15; \
blocks: \
	CMPQ    R14, R15; \
	JAE     last; \
	VMOVDQU (R10)(R14*1), Y0; \
	VMOVDQU Y0, (R11)(R14*1); \
	ADDQ    $32, R14; \
	JMP     blocks; \
last: \
	VMOVDQU (R10)(R15*1), Y0; \
	VMOVDQU Y0, (R11)(R15*1); \
	JMP     moved; \
lt32: \
	CMPQ R13, $16; \
	JB   lt16; \
	PAIR(VMOVDQU, X0, X1, 16); \
lt16: \
	CMPQ R13, $8; \
	JB   lt8; \
	PAIR(MOVQ, R14, R15, 8); \
lt8: \
	CMPQ R13, $4; \
	JB   lt4; \
	PAIR(MOVL, R14, R15, 4); \
lt4: \
	CMPQ R13, $2; \
	JB   lt2; \
	PAIR(MOVW, R14, R15, 2); \
lt2: \
	MOVB (R10), R14; \
	MOVB R14, (R11); \
moved:

// The padding byte by byte.
#define PAD_BYTES \
pad: \
	CMPQ R14, BX; \
	JAE  padded; \
	MOVB $0, (DI)(R14*1); \
	INCQ R14; \
	JMP  pad; \
padded:

// A run of at most 8 bytes as one 8-byte word, the padding as words of
// zeros. A word spills past its run into the next one, written after it,
// and past the row into the next row, also written after; the caller
// guarantees 8 bytes of slack after the last row and after the last
// source byte read.
#define MOVE_WORD \
	MOVQ (R10), R14; \
	MOVQ R14, (R11)

#define PAD_WORDS \
pad: \
	MOVQ $0, (DI)(R14*1); \
	ADDQ $8, R14; \
	CMPQ R14, BX; \
	JB   pad

// OP8(op, A) applies op with operand A to the eight rows Y0-Y7.
#define OP8(op, A) \
	op A, Y0, Y0; op A, Y1, Y1; op A, Y2, Y2; op A, Y3, Y3; \
	op A, Y4, Y4; op A, Y5, Y5; op A, Y6, Y6; op A, Y7, Y7

// PAIR8(op1, op2) is a fused pair on the eight rows: op1 with the
// operand (Y8), then op2 with the next operand row (loaded into Y9, R12
// stepped to it).
#define PAIR8(op1, op2) \
	VMOVUPS (R12)(BX*4), Y9; \
	LEAQ    (R12)(BX*4), R12; \
	OP8(op1, Y8); \
	OP8(op2, Y9)

// QUANT turns the floats of Y into mapAVX2's levels in its low 8 bytes:
// Quantize (divide, clamp, round to even), the level offset, then the low
// byte of each lane.
#define QUANT(Y) \
	VDIVPS    Y12, Y, Y; \
	VMAXPS    Y13, Y, Y; \
	VMINPS    Y14, Y, Y; \
	VCVTPS2DQ Y, Y; \
	VPSUBD    Y10, Y, Y; \
	VPSHUFB   Y15, Y, Y; \
	VPERMD    Y, Y11, Y

// func dwRowU8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int)
// func dwRowS8AVX2(acc *int32, x *uint8, offs *int, w *int32, taps, c, npix, step int)
// depthwise.rowGo on channels [0, c &^ 7), for unsigned and signed input
// bytes: for each of npix pixels (its window step bytes after the last's),
// eight channels at a time, the sum over the taps of the tap's bytes (at
// offs[t]) times its weights (row t of w), in int32. Pixels are taken four
// at a time (then one by one), sharing each tap's weights.
//   AX channel; DX tap; R14 weights of the tap; R15, R13 input bytes.
#define DWROW(LOAD) \
	MOVQ acc+0(FP), DI; \
	MOVQ x+8(FP), SI; \
	MOVQ offs+16(FP), R8; \
	MOVQ w+24(FP), R9; \
	MOVQ taps+32(FP), R10; \
	MOVQ c+40(FP), BX; \
	MOVQ npix+48(FP), R11; \
	MOVQ step+56(FP), R12; \
p4pix: \
	CMPQ R11, $4; \
	JL   p1pix; \
	XORQ AX, AX; \
p4block: \
	MOVQ  BX, CX; \
	SUBQ  AX, CX; \
	CMPQ  CX, $8; \
	JL    p4next; \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	XORQ  DX, DX; \
	LEAQ  (R9)(AX*4), R14; \
p4tap: \
	CMPQ    DX, R10; \
	JGE     p4store; \
	VMOVDQU (R14), Y8; \
	MOVQ    (R8)(DX*8), R15; \
	ADDQ    SI, R15; \
	ADDQ    AX, R15; \
	LEAQ    (R15)(R12*2), R13; \
	LOAD    (R15), Y4; \
	LOAD (R15)(R12*1), Y5; \
	LOAD (R13), Y6; \
	LOAD (R13)(R12*1), Y7; \
	VPMULLD Y8, Y4, Y4; \
	VPMULLD Y8, Y5, Y5; \
	VPMULLD Y8, Y6, Y6; \
	VPMULLD Y8, Y7, Y7; \
	VPADDD  Y4, Y0, Y0; \
	VPADDD  Y5, Y1, Y1; \
	VPADDD  Y6, Y2, Y2; \
	VPADDD  Y7, Y3, Y3; \
	INCQ    DX; \
	LEAQ    (R14)(BX*4), R14; \
	JMP     p4tap; \
p4store: \
	LEAQ    (DI)(AX*4), R13; \
	VMOVDQU Y0, (R13); \
	LEAQ    (R13)(BX*4), R13; \
	VMOVDQU Y1, (R13); \
	LEAQ    (R13)(BX*4), R13; \
	VMOVDQU Y2, (R13); \
	LEAQ    (R13)(BX*4), R13; \
	VMOVDQU Y3, (R13); \
	ADDQ    $8, AX; \
	JMP     p4block; \
p4next: \
	LEAQ (SI)(R12*4), SI; \
	LEAQ (DI)(BX*8), DI; \
	LEAQ (DI)(BX*8), DI; \
	SUBQ $4, R11; \
	JMP  p4pix; \
p1pix: \
	TESTQ R11, R11; \
	JZ    p1done; \
	XORQ  AX, AX; \
p1block: \
	MOVQ  BX, CX; \
	SUBQ  AX, CX; \
	CMPQ  CX, $8; \
	JL    p1next; \
	VPXOR Y0, Y0, Y0; \
	XORQ  DX, DX; \
	LEAQ  (R9)(AX*4), R14; \
p1tap: \
	CMPQ    DX, R10; \
	JGE     p1store; \
	MOVQ    (R8)(DX*8), R15; \
	ADDQ    SI, R15; \
	ADDQ    AX, R15; \
	LOAD    (R15), Y4; \
	VPMULLD (R14), Y4, Y4; \
	VPADDD  Y4, Y0, Y0; \
	INCQ    DX; \
	LEAQ    (R14)(BX*4), R14; \
	JMP     p1tap; \
p1store: \
	VMOVDQU Y0, (DI)(AX*4); \
	ADDQ    $8, AX; \
	JMP     p1block; \
p1next: \
	ADDQ R12, SI; \
	LEAQ (DI)(BX*4), DI; \
	DECQ R11; \
	JMP  p1pix; \
p1done: \
	VZEROUPPER; \
	RET

// func im2colValidAVX2(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)
TEXT ·im2colValidAVX2(SB), NOSPLIT, $0-88
	IM2COL(MOVE_BLOCKS, PAD_BYTES)

// func im2colWords(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)
TEXT ·im2colWords(SB), NOSPLIT, $0-88
	IM2COL(MOVE_WORD, PAD_WORDS)

// func im2colWords3(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int)
//
// im2colWords for three kernel rows whose padding fits one word (lda ≤ k
// + 8): each patch row is three word moves and one word of zeros, with
// every count and stride in a register. The same slack as im2colWords.
//   DI patch row; BX lda; R9 first source byte of the output row; R8 rows
//   left; AX source of the patch; CX patches left in the row; R12 rowLen;
//   R13 run; DX k; R15 sw; SI sh; R10, R11, R14 the words.
TEXT ·im2colWords3(SB), NOSPLIT, $0-80
	W3ARGS
	TESTQ R8, R8
	JZ    w3done

w3row:
	MOVQ  R9, AX
	MOVQ  ow+32(FP), CX
	TESTQ CX, CX
	JZ    w3next

w3patch:
	PATCH3(AX)
	ADDQ R15, AX
	DECQ CX
	JNZ  w3patch

w3next:
	ADDQ SI, R9
	DECQ R8
	JNZ  w3row

w3done:
	RET

// func im2colWords3Pool(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, run, k int)
//
// im2colWords3 in the order of 2×2 pool windows: for oh rows of ow
// windows, the patches of positions (2i, 2j), (2i, 2j+1), (2i+1, 2j) and
// (2i+1, 2j+1) one after the other (sh and sw are the steps of one
// position). The rows are written in order, so every spill lands on a row
// written after it. Registers as im2colWords3's; AX walks a window's
// four positions.
TEXT ·im2colWords3Pool(SB), NOSPLIT, $0-80
	W3ARGS
	TESTQ R8, R8
	JZ    wpdone

wprow:
	MOVQ  R9, AX
	MOVQ  ow+32(FP), CX
	TESTQ CX, CX
	JZ    wpnext

wpwin:
	PATCH3(AX)
	ADDQ R15, AX
	PATCH3(AX)
	ADDQ SI, AX
	SUBQ R15, AX
	PATCH3(AX)
	ADDQ R15, AX
	PATCH3(AX)
	SUBQ SI, AX
	ADDQ R15, AX
	DECQ CX
	JNZ  wpwin

wpnext:
	LEAQ (R9)(SI*2), R9
	DECQ R8
	JNZ  wprow

wpdone:
	RET

// func im2col3x3Pool1(dst *uint8, src *uint8, oh, ow, rowLen int)
//
// im2colWords3Pool for a 3×3 kernel of stride 1 on one channel, rows of
// lda = 12 (k = 9, then three zero bytes): a pool window's four patches
// read a 4×4 block of the image, gathered into X0 (a dword per image row)
// and spread by three VPSHUFB (pool3x3: the indices of the 48 patch bytes,
// 0x80 for the zeros) into three 16-byte stores, where the word moves
// took twelve loads and sixteen stores. Every read lies within the image
// (OH ≤ H − 2 and OW ≤ W − 2).
//   DI patch rows; R8 the window row's first image byte; R9 the window's;
//   R12 rowLen, R13 3·rowLen; BX window rows left, CX windows left.
TEXT ·im2col3x3Pool1(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), R8
	MOVQ    oh+16(FP), BX
	MOVQ    rowLen+32(FP), R12
	LEAQ    (R12)(R12*2), R13
	VMOVDQU pool3x3<>+0(SB), X5
	VMOVDQU pool3x3<>+16(SB), X6
	VMOVDQU pool3x3<>+32(SB), X7
	TESTQ   BX, BX
	JZ      p3done

p3row:
	MOVQ  R8, R9
	MOVQ  ow+24(FP), CX
	TESTQ CX, CX
	JZ    p3next

p3win:
	VMOVD   (R9), X0
	VPINSRD $1, (R9)(R12*1), X0, X0
	VPINSRD $2, (R9)(R12*2), X0, X0
	VPINSRD $3, (R9)(R13*1), X0, X0
	VPSHUFB X5, X0, X1
	VPSHUFB X6, X0, X2
	VPSHUFB X7, X0, X3
	VMOVDQU X1, (DI)
	VMOVDQU X2, 16(DI)
	VMOVDQU X3, 32(DI)
	ADDQ    $2, R9
	ADDQ    $48, DI
	DECQ    CX
	JNZ     p3win

p3next:
	LEAQ (R8)(R12*2), R8
	DECQ BX
	JNZ  p3row

p3done:
	RET

// The bytes of the four patches of a 2×2 window, (0, 0), (0, 1), (1, 0),
// (1, 1), as indices into its 4×4 block (row-major), three zeros after
// each.
DATA pool3x3<>+0(SB)/8, $0x0908060504020100
DATA pool3x3<>+8(SB)/8, $0x050302018080800a
DATA pool3x3<>+16(SB)/8, $0x8080800b0a090706
DATA pool3x3<>+24(SB)/8, $0x0d0c0a0908060504
DATA pool3x3<>+32(SB)/8, $0x090706058080800e
DATA pool3x3<>+40(SB)/8, $0x8080800f0e0d0b0a
GLOBL pool3x3<>(SB), RODATA|NOPTR, $48

// The requantisation's pixel loops (RQPIXELS for requantAVX512 and
// requantFMA512, RQ2PIXELS for requantAVX2), one pixel of n channels at a
// time, for a source of four vectors (LOAD4: the maximum of x0…x3, a 2×2
// pool) or of one (LOAD1: x0 alone, no pool); STEP and TAILSTEP are a
// whole and the masked step of sixteen channels, done where the loop
// ends, and the other labels are the loop's own.
#define RQ512LOAD4 \
	VMOVDQU32 (R8)(AX*4), Z0; \
	VPMAXSD   (R9)(AX*4), Z0, Z0; \
	VPMAXSD   (R10)(AX*4), Z0, Z0; \
	VPMAXSD   (R11)(AX*4), Z0, Z0
#define RQ512LOAD1 VMOVDQU32 (R8)(AX*4), Z0
#define RQ512TAIL4 \
	VMOVDQU32.Z (R8)(AX*4), K1, Z0; \
	VMOVDQU32.Z (R9)(AX*4), K1, Z1; \
	VMOVDQU32.Z (R10)(AX*4), K1, Z2; \
	VMOVDQU32.Z (R11)(AX*4), K1, Z3; \
	VPMAXSD     Z1, Z0, Z0; \
	VPMAXSD     Z2, Z0, Z0; \
	VPMAXSD     Z3, Z0, Z0
#define RQ512TAIL1 VMOVDQU32.Z (R8)(AX*4), K1, Z0

// RQNEXTPIXEL steps the sources and the output to the next pixel and
// loops to pixel.
#define RQNEXTPIXEL(pixel) \
	ADDQ R15, R8; \
	ADDQ R15, R9; \
	ADDQ R15, R10; \
	ADDQ R15, R11; \
	ADDQ BX, DI; \
	DECQ R14; \
	JMP  pixel

#define RQPIXELS(STEP, TAILSTEP, done, pixel, loop, tail, next) \
pixel: \
	TESTQ R14, R14; \
	JZ    done; \
	XORQ  AX, AX; \
	MOVQ  BX, CX; \
loop: \
	CMPQ CX, $16; \
	JL   tail; \
	STEP; \
	ADDQ $16, AX; \
	SUBQ $16, CX; \
	JMP  loop; \
tail: \
	TESTQ CX, CX; \
	JZ    next; \
	TAILSTEP; \
next: \
	RQNEXTPIXEL(pixel)

// A whole and a masked step of requantAVX512 (the four-operation form).
#define RQ512STEP(LOAD) \
	LOAD; \
	VCVTDQ2PS Z0, Z0; \
	VMULPS    (R12)(AX*4), Z0, Z0; \
	VADDPS    (R13)(AX*4), Z0, Z0; \
	VDIVPS    Z28, Z0, Z0; \
	VMAXPS    Z29, Z0, Z0; \
	VMINPS    Z30, Z0, Z0; \
	VCVTPS2DQ Z0, Z0; \
	VPMOVDB   Z0, X0; \
	VMOVDQU   X0, (DI)(AX*1)
#define RQ512TAILSTEP(TAILLOAD) \
	TAILLOAD; \
	VMOVUPS.Z   (R12)(AX*4), K1, Z4; \
	VMOVUPS.Z   (R13)(AX*4), K1, Z5; \
	VCVTDQ2PS   Z0, Z0; \
	VMULPS      Z4, Z0, Z0; \
	VADDPS      Z5, Z0, Z0; \
	VDIVPS      Z28, Z0, Z0; \
	VMAXPS      Z29, Z0, Z0; \
	VMINPS      Z30, Z0, Z0; \
	VCVTPS2DQ   Z0, Z0; \
	VPMOVDB     Z0, K1, (DI)(AX*1)

#define RQ2LOAD4 \
	VMOVDQU (R8)(AX*4), Y0; \
	VPMAXSD (R9)(AX*4), Y0, Y0; \
	VPMAXSD (R10)(AX*4), Y0, Y0; \
	VPMAXSD (R11)(AX*4), Y0, Y0
#define RQ2LOAD1 VMOVDQU (R8)(AX*4), Y0

#define RQ2PIXELS(LOAD, pixel, loop, next) \
pixel: \
	TESTQ R14, R14; \
	JZ    r2done; \
	XORQ  AX, AX; \
	MOVQ  BX, CX; \
loop: \
	CMPQ CX, $8; \
	JL   next; \
	LOAD; \
	VCVTDQ2PS Y0, Y0; \
	VMULPS    (R12)(AX*4), Y0, Y0; \
	VADDPS    (R13)(AX*4), Y0, Y0; \
	VDIVPS    Y12, Y0, Y0; \
	VMAXPS    Y13, Y0, Y0; \
	VMINPS    Y14, Y0, Y0; \
	VCVTPS2DQ Y0, Y0; \
	VPSHUFB   Y15, Y0, Y0; \
	VPERMD    Y0, Y11, Y0; \
	VMOVQ     X0, (DI)(AX*1); \
	ADDQ      $8, AX; \
	SUBQ      $8, CX; \
	JMP       loop; \
next: \
	RQNEXTPIXEL(pixel)

// The fused form's corrections (requantFMA512) in a whole step (FIX) and
// the masked one (FIXTAIL): Z0 the accumulators, Z1 the levels.
#define RQFMAFIX \
	VPCMPEQD (SI)(AX*4), Z0, K2; \
	VPADDD   (DX)(AX*4), Z1, K2, Z1
#define RQFMAFIXTAIL \
	VMOVDQU32.Z (SI)(AX*4), K1, Z2; \
	VPCMPEQD    Z2, Z0, K1, K2; \
	VPADDD      (DX)(AX*4), Z1, K2, Z1
#define RQFMANOFIX

// A whole and a masked step of requantFMA512: LOAD and TAILLOAD as for
// RQ512STEP, FIX and FIXTAIL the corrections (Z0 the accumulators, Z1 the
// levels).
#define RQFMASTEP(LOAD, FIX) \
	LOAD; \
	VCVTDQ2PS   Z0, Z1; \
	VMOVUPS     (R12)(AX*4), Z2; \
	VFMADD213PS (R13)(AX*4), Z2, Z1; \
	VCVTPS2DQ   Z1, Z1; \
	FIX; \
	VPMAXSD     Z29, Z1, Z1; \
	VPMINSD     Z30, Z1, Z1; \
	VPMOVDB     Z1, X1; \
	VMOVDQU     X1, (DI)(AX*1)
#define RQFMATAILSTEP(TAILLOAD, FIXTAIL) \
	TAILLOAD; \
	VCVTDQ2PS   Z0, Z1; \
	VMOVUPS.Z   (R12)(AX*4), K1, Z2; \
	VMOVUPS.Z   (R13)(AX*4), K1, Z3; \
	VFMADD213PS Z3, Z2, Z1; \
	VCVTPS2DQ   Z1, Z1; \
	FIXTAIL; \
	VPMAXSD     Z29, Z1, Z1; \
	VPMINSD     Z30, Z1, Z1; \
	VPMOVDB     Z1, K1, (DI)(AX*1)

// The steps of requantFMARows512: FIX checks the step's accumulators
// against the corrected ones and jumps to hit, whose masked adds correct
// the levels, when one matches; PACKB, MAXB, MINB the byte pack and clamp
// of the output's signedness; the labels are the loop's own.
#define FRFIX(hit, pack) \
	VPCMPEQD Z16, Z8, K2; \
	VPCMPEQD Z17, Z9, K3; \
	VPCMPEQD Z18, Z10, K4; \
	VPCMPEQD Z19, Z11, K5; \
	KORW     K2, K3, K6; \
	KORW     K4, K5, K7; \
	KORTESTW K6, K7; \
	JZ       pack; \
hit: \
	VPADDD 256(R9), Z0, K2, Z0; \
	VPADDD 320(R9), Z1, K3, Z1; \
	VPADDD 384(R9), Z2, K4, Z2; \
	VPADDD 448(R9), Z3, K5, Z3
#define FRNOFIX(hit, pack)

#define FMAROWS(FIX, PACKB, MAXB, MINB, loop, hit, pack) \
loop: \
	VMOVDQU32   (SI), Z8; \
	VMOVDQU32   64(SI), Z9; \
	VMOVDQU32   128(SI), Z10; \
	VMOVDQU32   192(SI), Z11; \
	VCVTDQ2PS   Z8, Z0; \
	VCVTDQ2PS   Z9, Z1; \
	VCVTDQ2PS   Z10, Z2; \
	VCVTDQ2PS   Z11, Z3; \
	VFMADD213PS Z12, Z4, Z0; \
	VFMADD213PS Z13, Z5, Z1; \
	VFMADD213PS Z14, Z6, Z2; \
	VFMADD213PS Z15, Z7, Z3; \
	VCVTPS2DQ   Z0, Z0; \
	VCVTPS2DQ   Z1, Z1; \
	VCVTPS2DQ   Z2, Z2; \
	VCVTPS2DQ   Z3, Z3; \
	FIX(hit, pack); \
pack: \
	VPACKSSDW   Z1, Z0, Z0; \
	VPACKSSDW   Z3, Z2, Z2; \
	PACKB       Z2, Z0, Z0; \
	VPERMD      Z0, Z27, Z0; \
	MAXB        Z29, Z0, Z0; \
	MINB        Z30, Z0, Z0; \
	VMOVDQU64   Z0, (DI); \
	ADDQ        $256, SI; \
	ADDQ        $64, DI; \
	SUBQ        $64, CX; \
	JG          loop; \
	JMP         frdone

// func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32)
//
// For pix pixels p and channels c < n: v = max(x0[p·step+c], x1[…], x2[…],
// x3[…]); o[p·n+c] = byte(int32(RoundToEven(min(max((float32(v)·scale[c] +
// bias[c]) / div, lo), hi)))), sixteen channels per step, the last step of
// a pixel masked. Each operation rounds to float32 as the scalar code does
// (multiply, then add: never fused). Whole steps narrow to bytes in a
// register and store them with a plain move: VPMOVDB to memory is slow on
// AMD's cores.
//   DI o; R8–R11 x0–x3; R12 scale; R13 bias; BX n; CX channels left;
//   AX channel; R14 pixels left; R15 step in bytes;
//   Z28 div, Z29 lo, Z30 hi; K1 tail mask.
TEXT ·requantAVX512(SB), NOSPLIT, $0-92
	MOVQ o+0(FP), DI
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ x2+24(FP), R10
	MOVQ x3+32(FP), R11
	MOVQ scale+40(FP), R12
	MOVQ bias+48(FP), R13
	MOVQ n+56(FP), BX
	MOVQ pix+64(FP), R14
	MOVQ step+72(FP), R15
	SHLQ $2, R15
	VBROADCASTSS div+80(FP), Z28
	VBROADCASTSS lo+84(FP), Z29
	VBROADCASTSS hi+88(FP), Z30
	MOVQ  BX, CX
	ANDQ  $15, CX
	MOVQ  $1, DX
	SHLQ  CX, DX
	DECQ  DX
	KMOVW DX, K1

	// One source (x0 = x1 = x2 = x3: no pool) loads one vector a step.
	CMPQ R8, R9
	JNE  pixels4
	CMPQ R8, R10
	JNE  pixels4
	CMPQ R8, R11
	JNE  pixels4
	RQPIXELS(RQ512STEP(RQ512LOAD1), RQ512TAILSTEP(RQ512TAIL1), done, pixel1, loop1, tail1, next1)

pixels4:
	RQPIXELS(RQ512STEP(RQ512LOAD4), RQ512TAILSTEP(RQ512TAIL4), done, pixel4, loop4, tail4, next4)

done:
	VZEROUPPER
	RET

// func quantizeAVX512(o *uint8, x *float32, n int, div, lo, hi float32)
//
// o[i] = byte(int32(RoundToEven(min(max(x[i] / div, lo), hi)))) for i < n:
// quant.Quantize, sixteen values per step, the last step masked.
TEXT ·quantizeAVX512(SB), NOSPLIT, $0-36
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS div+24(FP), Z28
	VBROADCASTSS lo+28(FP), Z29
	VBROADCASTSS hi+32(FP), Z30
	XORQ AX, AX

qloop:
	CMPQ CX, $16
	JL   qtail
	VMOVUPS   (SI)(AX*4), Z1
	VDIVPS    Z28, Z1, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPMOVDB   Z0, X0
	VMOVDQU   X0, (DI)(AX*1)
	ADDQ      $16, AX
	SUBQ      $16, CX
	JMP       qloop

qtail:
	TESTQ CX, CX
	JZ    qdone
	MOVQ  $1, DX
	SHLQ  CX, DX
	DECQ  DX
	KMOVW DX, K1
	VMOVUPS.Z (SI)(AX*4), K1, Z1
	VDIVPS    Z28, Z1, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPMOVDB   Z0, K1, (DI)(AX*1)

qdone:
	VZEROUPPER
	RET

// The AVX2 forms of requantAVX512 and quantizeAVX512 take eight values per
// step and leave the last n mod 8 to the caller. A step narrows its eight
// int32 levels to bytes by truncation: VPSHUFB gathers the low byte of
// each into the first dword of its 128-bit lane, VPERMD puts the two dwords
// side by side.

// Low byte of each dword, per 128-bit lane, into the lane's first dword.
DATA lowbytes<>+0(SB)/8, $0x808080800c080400
DATA lowbytes<>+8(SB)/8, $0x8080808080808080
DATA lowbytes<>+16(SB)/8, $0x808080800c080400
DATA lowbytes<>+24(SB)/8, $0x8080808080808080
GLOBL lowbytes<>(SB), RODATA|NOPTR, $32

// VPERMD indices: dword 0, then dword 4.
DATA lanes<>+0(SB)/8, $0x0000000400000000
DATA lanes<>+8(SB)/8, $0x0000000000000000
DATA lanes<>+16(SB)/8, $0x0000000000000000
DATA lanes<>+24(SB)/8, $0x0000000000000000
GLOBL lanes<>(SB), RODATA|NOPTR, $32

// func requantAVX2(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32)
TEXT ·requantAVX2(SB), NOSPLIT, $0-92
	MOVQ o+0(FP), DI
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ x2+24(FP), R10
	MOVQ x3+32(FP), R11
	MOVQ scale+40(FP), R12
	MOVQ bias+48(FP), R13
	MOVQ n+56(FP), BX
	MOVQ pix+64(FP), R14
	MOVQ step+72(FP), R15
	SHLQ $2, R15
	VBROADCASTSS div+80(FP), Y12
	VBROADCASTSS lo+84(FP), Y13
	VBROADCASTSS hi+88(FP), Y14
	VMOVDQU lowbytes<>(SB), Y15
	VMOVDQU lanes<>(SB), Y11

	// One source (x0 = x1 = x2 = x3: no pool) loads one vector a step.
	CMPQ R8, R9
	JNE  r2pixels4
	CMPQ R8, R10
	JNE  r2pixels4
	CMPQ R8, R11
	JNE  r2pixels4
	RQ2PIXELS(RQ2LOAD1, r2pixel1, r2loop1, r2next1)

r2pixels4:
	RQ2PIXELS(RQ2LOAD4, r2pixel4, r2loop4, r2next4)

r2done:
	VZEROUPPER
	RET

// func quantizeAVX2(o *uint8, x *float32, n int, div, lo, hi float32)
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-36
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS div+24(FP), Y12
	VBROADCASTSS lo+28(FP), Y13
	VBROADCASTSS hi+32(FP), Y14
	VMOVDQU lowbytes<>(SB), Y15
	VMOVDQU lanes<>(SB), Y11
	XORQ AX, AX

q2loop:
	CMPQ CX, $8
	JL   q2done
	VMOVUPS   (SI)(AX*4), Y1
	VDIVPS    Y12, Y1, Y0
	VMAXPS    Y13, Y0, Y0
	VMINPS    Y14, Y0, Y0
	VCVTPS2DQ Y0, Y0
	VPSHUFB   Y15, Y0, Y0
	VPERMD    Y0, Y11, Y0
	VMOVQ     X0, (DI)(AX*1)
	ADDQ      $8, AX
	SUBQ      $8, CX
	JMP       q2loop

q2done:
	VZEROUPPER
	RET

// func mapAVX2(o *uint8, x *int32, ops *int64, nops int, par *float32, n, rows int, div, lo, hi float32, off int32)
// vecMap.rows on the first n &^ 7 channels of each row: the accumulators
// to float, the program's operations with their per-channel operands (the
// next row of par for each operand, two for a fused pair), then Quantize
// and the level offset.
// Rows are taken eight at a time (then one by one), each block of 8
// channels of the eight rows together: they share the operands and give
// the processor eight independent chains of operations.
//   AX channel; CX rows left; DX operation; R12 operand; R13 opcode or
//   scratch; R14 x of the rows; R15 o of the rows.
TEXT ·mapAVX2(SB), NOSPLIT, $0-72
	MOVQ         o+0(FP), R15
	MOVQ         x+8(FP), R14
	MOVQ         ops+16(FP), R8
	MOVQ         nops+24(FP), R9
	MOVQ         par+32(FP), R10
	MOVQ         n+40(FP), BX
	MOVQ         rows+48(FP), CX
	VBROADCASTSS div+56(FP), Y12
	VBROADCASTSS lo+60(FP), Y13
	VBROADCASTSS hi+64(FP), Y14
	MOVL         off+68(FP), R13
	VMOVD        R13, X10
	VPBROADCASTD X10, Y10
	VMOVDQU      lowbytes<>(SB), Y15
	VMOVDQU      lanes<>(SB), Y11

m8rows:
	CMPQ CX, $8
	JL   m1rows
	XORQ AX, AX

m8block:
	MOVQ      BX, R13
	SUBQ      AX, R13
	CMPQ      R13, $8
	JL        m8next
	LEAQ      (R14)(AX*4), R13
	VMOVDQU   (R13), Y0
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y1
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y2
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y3
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y4
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y5
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y6
	LEAQ      (R13)(BX*4), R13
	VMOVDQU   (R13), Y7
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y4, Y4
	VCVTDQ2PS Y5, Y5
	VCVTDQ2PS Y6, Y6
	VCVTDQ2PS Y7, Y7
	XORQ      DX, DX
	LEAQ      (R10)(AX*4), R12

m8op:
	CMPQ    DX, R9
	JGE     m8quant
	VMOVUPS (R12), Y8
	MOVQ    (R8)(DX*8), R13
	CMPQ    R13, $0
	JEQ     m8mul
	CMPQ    R13, $1
	JEQ     m8add
	CMPQ    R13, $2
	JEQ     m8sub
	CMPQ    R13, $5
	JEQ     m8muladd
	CMPQ    R13, $6
	JEQ     m8submul
	CMPQ    R13, $3
	JEQ     m8max
	VMINPS Y8, Y0, Y0
	VMINPS Y8, Y1, Y1
	VMINPS Y8, Y2, Y2
	VMINPS Y8, Y3, Y3
	VMINPS Y8, Y4, Y4
	VMINPS Y8, Y5, Y5
	VMINPS Y8, Y6, Y6
	VMINPS Y8, Y7, Y7
	JMP     m8opnext

m8muladd:
	PAIR8(VMULPS, VADDPS)
	JMP m8opnext

m8submul:
	PAIR8(VSUBPS, VMULPS)
	JMP m8opnext

m8mul:
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3
	VMULPS Y8, Y4, Y4
	VMULPS Y8, Y5, Y5
	VMULPS Y8, Y6, Y6
	VMULPS Y8, Y7, Y7
	JMP    m8opnext

m8add:
	VADDPS Y8, Y0, Y0
	VADDPS Y8, Y1, Y1
	VADDPS Y8, Y2, Y2
	VADDPS Y8, Y3, Y3
	VADDPS Y8, Y4, Y4
	VADDPS Y8, Y5, Y5
	VADDPS Y8, Y6, Y6
	VADDPS Y8, Y7, Y7
	JMP    m8opnext

m8sub:
	VSUBPS Y8, Y0, Y0
	VSUBPS Y8, Y1, Y1
	VSUBPS Y8, Y2, Y2
	VSUBPS Y8, Y3, Y3
	VSUBPS Y8, Y4, Y4
	VSUBPS Y8, Y5, Y5
	VSUBPS Y8, Y6, Y6
	VSUBPS Y8, Y7, Y7
	JMP    m8opnext

m8max:
	VMAXPS Y8, Y0, Y0
	VMAXPS Y8, Y1, Y1
	VMAXPS Y8, Y2, Y2
	VMAXPS Y8, Y3, Y3
	VMAXPS Y8, Y4, Y4
	VMAXPS Y8, Y5, Y5
	VMAXPS Y8, Y6, Y6
	VMAXPS Y8, Y7, Y7

m8opnext:
	INCQ DX
	LEAQ (R12)(BX*4), R12
	JMP  m8op

m8quant:
	QUANT(Y0)
	QUANT(Y1)
	QUANT(Y2)
	QUANT(Y3)
	QUANT(Y4)
	QUANT(Y5)
	QUANT(Y6)
	QUANT(Y7)
	LEAQ  (R15)(AX*1), R13
	VMOVQ X0, (R13)
	ADDQ  BX, R13
	VMOVQ X1, (R13)
	ADDQ  BX, R13
	VMOVQ X2, (R13)
	ADDQ  BX, R13
	VMOVQ X3, (R13)
	ADDQ  BX, R13
	VMOVQ X4, (R13)
	ADDQ  BX, R13
	VMOVQ X5, (R13)
	ADDQ  BX, R13
	VMOVQ X6, (R13)
	ADDQ  BX, R13
	VMOVQ X7, (R13)
	ADDQ  $8, AX
	JMP   m8block

m8next:
	MOVQ BX, R13
	SHLQ $5, R13
	ADDQ R13, R14
	SHRQ $2, R13
	ADDQ R13, R15
	SUBQ $8, CX
	JMP  m8rows

m1rows:
	TESTQ CX, CX
	JZ    mdone
	XORQ  AX, AX

m1block:
	MOVQ      BX, R13
	SUBQ      AX, R13
	CMPQ      R13, $8
	JL        m1next
	VMOVDQU   (R14)(AX*4), Y0
	VCVTDQ2PS Y0, Y0
	XORQ      DX, DX
	LEAQ      (R10)(AX*4), R12

m1op:
	CMPQ    DX, R9
	JGE     m1quant
	VMOVUPS (R12), Y8
	MOVQ    (R8)(DX*8), R13
	CMPQ    R13, $0
	JEQ     m1mul
	CMPQ    R13, $1
	JEQ     m1add
	CMPQ    R13, $2
	JEQ     m1sub
	CMPQ    R13, $5
	JEQ     m1muladd
	CMPQ    R13, $6
	JEQ     m1submul
	CMPQ    R13, $3
	JEQ     m1max
	VMINPS  Y8, Y0, Y0
	JMP     m1opnext

m1muladd:
	VMULPS Y8, Y0, Y0
	VADDPS (R12)(BX*4), Y0, Y0
	LEAQ   (R12)(BX*4), R12
	JMP    m1opnext

m1submul:
	VSUBPS Y8, Y0, Y0
	VMULPS (R12)(BX*4), Y0, Y0
	LEAQ   (R12)(BX*4), R12
	JMP    m1opnext

m1mul:
	VMULPS Y8, Y0, Y0
	JMP    m1opnext

m1add:
	VADDPS Y8, Y0, Y0
	JMP    m1opnext

m1sub:
	VSUBPS Y8, Y0, Y0
	JMP    m1opnext

m1max:
	VMAXPS Y8, Y0, Y0

m1opnext:
	INCQ DX
	LEAQ (R12)(BX*4), R12
	JMP  m1op

m1quant:
	QUANT(Y0)
	VMOVQ X0, (R15)(AX*1)
	ADDQ  $8, AX
	JMP   m1block

m1next:
	LEAQ (R14)(BX*4), R14
	ADDQ BX, R15
	DECQ CX
	JMP  m1rows

mdone:
	VZEROUPPER
	RET

// The depthwise row kernels (DWROW above) for unsigned and signed bytes.
TEXT ·dwRowU8AVX2(SB), NOSPLIT, $0-64
	DWROW(VPMOVZXBD)

TEXT ·dwRowS8AVX2(SB), NOSPLIT, $0-64
	DWROW(VPMOVSXBD)

// func widenAddAVX2(sum *int32, b *uint8, n int, lo int32, set bool)
// addLevels on the first n &^ 7 values: sum[i] = b[i] + lo, or (set false)
// sum[i] + b[i] + lo, in int32.
TEXT ·widenAddAVX2(SB), NOSPLIT, $0-29
	MOVQ         sum+0(FP), DI
	MOVQ         b+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         lo+24(FP), AX
	VMOVD        AX, X2
	VPBROADCASTD X2, Y2
	MOVBLZX      set+28(FP), DX
	SHRQ         $3, CX
	TESTQ        DX, DX
	JNZ          waset

waadd:
	TESTQ     CX, CX
	JZ        wadone
	VPMOVZXBD (SI), Y0
	VPADDD    Y2, Y0, Y0
	VPADDD    (DI), Y0, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, DI
	DECQ      CX
	JMP       waadd

waset:
	TESTQ     CX, CX
	JZ        wadone
	VPMOVZXBD (SI), Y0
	VPADDD    Y2, Y0, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, DI
	DECQ      CX
	JMP       waset

wadone:
	VZEROUPPER
	RET

// func requantFMA512(o *uint8, x0, x1, x2, x3 *int32, m, c *float32, fix *int32, n, pix, step int, lo, hi int32)
//
// The fused form (fmaForm): for pix pixels p and channels c < n, with v =
// max(x0[p·step+c], x1[…], x2[…], x3[…]), o[p·n+c] = clamp(int32(
// RoundToEven(fma(float32(v), m[c], c[c])) + d), lo, hi), d = fix[n+c]
// where v = fix[c] and 0 elsewhere (fix nil: no corrections), sixteen
// channels per step, the last step of a pixel masked. The product and sum round once, as VFMADD does.
//   DI o; R8–R11 x0–x3; R12 m; R13 c; SI fix (accumulators); DX fix
//   (corrections); BX n; CX channels left; AX channel; R14 pixels left;
//   R15 step in bytes; Z29 lo, Z30 hi; K1 tail mask.
TEXT ·requantFMA512(SB), NOSPLIT, $0-96
	MOVQ o+0(FP), DI
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ x2+24(FP), R10
	MOVQ x3+32(FP), R11
	MOVQ m+40(FP), R12
	MOVQ c+48(FP), R13
	MOVQ fix+56(FP), SI
	MOVQ n+64(FP), BX
	MOVQ pix+72(FP), R14
	MOVQ step+80(FP), R15
	SHLQ $2, R15
	LEAQ (SI)(BX*4), DX
	MOVL lo+88(FP), AX
	VPBROADCASTD AX, Z29
	MOVL hi+92(FP), AX
	VPBROADCASTD AX, Z30
	MOVQ  BX, CX
	ANDQ  $15, CX
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	TESTQ SI, SI
	JZ    fmanofix
	CMPQ R8, R9
	JNE  fmafix4
	CMPQ R8, R10
	JNE  fmafix4
	CMPQ R8, R11
	JNE  fmafix4
	RQPIXELS(RQFMASTEP(RQ512LOAD1, RQFMAFIX), RQFMATAILSTEP(RQ512TAIL1, RQFMAFIXTAIL), fmadone, fpix1f, floop1f, ftail1f, fnext1f)
fmafix4:
	RQPIXELS(RQFMASTEP(RQ512LOAD4, RQFMAFIX), RQFMATAILSTEP(RQ512TAIL4, RQFMAFIXTAIL), fmadone, fpix4f, floop4f, ftail4f, fnext4f)
fmanofix:
	CMPQ R8, R9
	JNE  fmaplain4
	CMPQ R8, R10
	JNE  fmaplain4
	CMPQ R8, R11
	JNE  fmaplain4
	RQPIXELS(RQFMASTEP(RQ512LOAD1, RQFMANOFIX), RQFMATAILSTEP(RQ512TAIL1, RQFMANOFIX), fmadone, fpix1, floop1, ftail1, fnext1)
fmaplain4:
	RQPIXELS(RQFMASTEP(RQ512LOAD4, RQFMANOFIX), RQFMATAILSTEP(RQ512TAIL4, RQFMANOFIX), fmadone, fpix4, floop4, ftail4, fnext4)
fmadone:
	VZEROUPPER
	RET

// func requantFMARows512(o *uint8, x *int32, m, c *float32, fix *int32, total int, lo, hi int32)
//
// requantFMA512 on whole rows of 64 accumulators, total of them (a multiple
// of 64), for a layer whose channels divide 64: m, c and fix (64
// accumulators, then 64 corrections; nil for none) hold the channels'
// values repeated to 64. The parameters stay in registers, four vectors
// are converted per step, and their levels are narrowed with saturating
// packs, which clamp to the byte range (unsigned when lo ≥ 0, signed
// otherwise), then to [lo, hi] as bytes. A correction costs a compare per
// vector; the masked adds run only in the rare step that hits one.
//   DI o; SI x; R9 fix; CX values left; Z4–Z7 m; Z12–Z15 c; Z16–Z19 the
//   corrected accumulators; Z27 the order of the packed double words;
//   Z29 lo, Z30 hi (bytes); Z8–Z11 the accumulators; Z0–Z3 the levels.
TEXT ·requantFMARows512(SB), NOSPLIT, $0-56
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ m+16(FP), R12
	MOVQ c+24(FP), R13
	MOVQ fix+32(FP), R9
	MOVQ total+40(FP), CX
	MOVL lo+48(FP), AX
	MOVL hi+52(FP), BX
	VPBROADCASTB AX, Z29
	VPBROADCASTB BX, Z30
	VMOVDQU32 packorder<>(SB), Z27
	VMOVUPS (R12), Z4
	VMOVUPS 64(R12), Z5
	VMOVUPS 128(R12), Z6
	VMOVUPS 192(R12), Z7
	VMOVUPS (R13), Z12
	VMOVUPS 64(R13), Z13
	VMOVUPS 128(R13), Z14
	VMOVUPS 192(R13), Z15
	TESTQ CX, CX
	JLE   frdone
	TESTQ R9, R9
	JZ    frplain
	VMOVDQU32 (R9), Z16
	VMOVDQU32 64(R9), Z17
	VMOVDQU32 128(R9), Z18
	VMOVDQU32 192(R9), Z19
	TESTL AX, AX
	JS    frfixs
	FMAROWS(FRFIX, VPACKUSWB, VPMAXUB, VPMINUB, frfixu, frhitu, frpacku)
frfixs:
	FMAROWS(FRFIX, VPACKSSWB, VPMAXSB, VPMINSB, frfixs1, frhits, frpacks)
frplain:
	TESTL AX, AX
	JS    frplains
	FMAROWS(FRNOFIX, VPACKUSWB, VPMAXUB, VPMINUB, frplainu, frnohitu, frnopacku)
frplains:
	FMAROWS(FRNOFIX, VPACKSSWB, VPMAXSB, VPMINSB, frplains1, frnohits, frnopacks)
frdone:
	VZEROUPPER
	RET

// The double words of a step's packed bytes are in lane-major order
// (VPACKSSDW and the byte pack work within 128-bit lanes): vector v's
// lane l is double word 4·l + v. packorder puts them back in vector order.
DATA packorder<>+0(SB)/8, $0x0000000400000000
DATA packorder<>+8(SB)/8, $0x0000000c00000008
DATA packorder<>+16(SB)/8, $0x0000000500000001
DATA packorder<>+24(SB)/8, $0x0000000d00000009
DATA packorder<>+32(SB)/8, $0x0000000600000002
DATA packorder<>+40(SB)/8, $0x0000000e0000000a
DATA packorder<>+48(SB)/8, $0x0000000700000003
DATA packorder<>+56(SB)/8, $0x0000000f0000000b
GLOBL packorder<>(SB), RODATA|NOPTR, $64
