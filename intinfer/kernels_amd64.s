//go:build !noasm

#include "textflag.h"

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

// func im2colValidAVX2(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)
TEXT ·im2colValidAVX2(SB), NOSPLIT, $0-88
	IM2COL(MOVE_BLOCKS, PAD_BYTES)

// func im2colWords(dst *uint8, lda int, src *uint8, oh, ow, sh, sw, rowLen, kh, run, k int)
TEXT ·im2colWords(SB), NOSPLIT, $0-88
	IM2COL(MOVE_WORD, PAD_WORDS)

// func requantAVX512(o *uint8, x0, x1, x2, x3 *int32, scale, bias *float32, n, pix, step int, div, lo, hi float32)
//
// For pix pixels p and channels c < n: v = max(x0[p·step+c], x1[…], x2[…],
// x3[…]); o[p·n+c] = byte(int32(RoundToEven(min(max((float32(v)·scale[c] +
// bias[c]) / div, lo), hi)))), sixteen channels per step, the last step of
// a pixel masked. Each operation rounds to float32 as the scalar code does
// (multiply, then add: never fused).
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

pixel:
	TESTQ R14, R14
	JZ    done
	XORQ  AX, AX
	MOVQ  BX, CX

loop:
	CMPQ CX, $16
	JL   tail
	VMOVDQU32 (R8)(AX*4), Z0
	VPMAXSD   (R9)(AX*4), Z0, Z0
	VPMAXSD   (R10)(AX*4), Z0, Z0
	VPMAXSD   (R11)(AX*4), Z0, Z0
	VCVTDQ2PS Z0, Z0
	VMULPS    (R12)(AX*4), Z0, Z0
	VADDPS    (R13)(AX*4), Z0, Z0
	VDIVPS    Z28, Z0, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPMOVDB   Z0, (DI)(AX*1)
	ADDQ      $16, AX
	SUBQ      $16, CX
	JMP       loop

tail:
	TESTQ CX, CX
	JZ    next
	VMOVDQU32.Z (R8)(AX*4), K1, Z0
	VMOVDQU32.Z (R9)(AX*4), K1, Z1
	VMOVDQU32.Z (R10)(AX*4), K1, Z2
	VMOVDQU32.Z (R11)(AX*4), K1, Z3
	VMOVUPS.Z   (R12)(AX*4), K1, Z4
	VMOVUPS.Z   (R13)(AX*4), K1, Z5
	VPMAXSD     Z1, Z0, Z0
	VPMAXSD     Z2, Z0, Z0
	VPMAXSD     Z3, Z0, Z0
	VCVTDQ2PS   Z0, Z0
	VMULPS      Z4, Z0, Z0
	VADDPS      Z5, Z0, Z0
	VDIVPS      Z28, Z0, Z0
	VMAXPS      Z29, Z0, Z0
	VMINPS      Z30, Z0, Z0
	VCVTPS2DQ   Z0, Z0
	VPMOVDB     Z0, K1, (DI)(AX*1)

next:
	ADDQ R15, R8
	ADDQ R15, R9
	ADDQ R15, R10
	ADDQ R15, R11
	ADDQ BX, DI
	DECQ R14
	JMP  pixel

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
	VPMOVDB   Z0, (DI)(AX*1)
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

r2pixel:
	TESTQ R14, R14
	JZ    r2done
	XORQ  AX, AX
	MOVQ  BX, CX

r2loop:
	CMPQ CX, $8
	JL   r2next
	VMOVDQU   (R8)(AX*4), Y0
	VPMAXSD   (R9)(AX*4), Y0, Y0
	VPMAXSD   (R10)(AX*4), Y0, Y0
	VPMAXSD   (R11)(AX*4), Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    (R12)(AX*4), Y0, Y0
	VADDPS    (R13)(AX*4), Y0, Y0
	VDIVPS    Y12, Y0, Y0
	VMAXPS    Y13, Y0, Y0
	VMINPS    Y14, Y0, Y0
	VCVTPS2DQ Y0, Y0
	VPSHUFB   Y15, Y0, Y0
	VPERMD    Y0, Y11, Y0
	VMOVQ     X0, (DI)(AX*1)
	ADDQ      $8, AX
	SUBQ      $8, CX
	JMP       r2loop

r2next:
	ADDQ R15, R8
	ADDQ R15, R9
	ADDQ R15, R10
	ADDQ R15, R11
	ADDQ BX, DI
	DECQ R14
	JMP  r2pixel

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
// to float, the program's operations with their per-channel operands
// (row k of par for operation k), then Quantize and the level offset. A
// block of 8 channels is taken four rows at a time, which share the
// operands and give the processor four independent chains of operations.
//   AX channel; CX rows left; DX operation; R12 operand; R13 opcode or
//   scratch; R14 x of (row, channel); R15 o of (row, channel).
#define QUANT(Y, X) \
	VDIVPS    Y12, Y, Y; \
	VMAXPS    Y13, Y, Y; \
	VMINPS    Y14, Y, Y; \
	VCVTPS2DQ Y, Y; \
	VPSUBD    Y10, Y, Y; \
	VPSHUFB   Y15, Y, Y; \
	VPERMD    Y, Y11, Y

TEXT ·mapAVX2(SB), NOSPLIT, $0-72
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ops+16(FP), R8
	MOVQ nops+24(FP), R9
	MOVQ par+32(FP), R10
	MOVQ n+40(FP), BX
	VBROADCASTSS div+56(FP), Y12
	VBROADCASTSS lo+60(FP), Y13
	VBROADCASTSS hi+64(FP), Y14
	MOVL         off+68(FP), R13
	VMOVD        R13, X10
	VPBROADCASTD X10, Y10
	VMOVDQU lowbytes<>(SB), Y15
	VMOVDQU lanes<>(SB), Y11
	XORQ    AX, AX

mblock:
	MOVQ BX, CX
	SUBQ AX, CX
	CMPQ CX, $8
	JL   mdone
	MOVQ rows+48(FP), CX
	LEAQ (SI)(AX*4), R14
	LEAQ (DI)(AX*1), R15

mfour:
	CMPQ      CX, $4
	JL        mone
	VMOVDQU   (R14), Y0
	VMOVDQU   (R14)(BX*4), Y1
	LEAQ      (R14)(BX*8), R13
	VMOVDQU   (R13), Y2
	VMOVDQU   (R13)(BX*4), Y3
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	XORQ      DX, DX
	LEAQ      (R10)(AX*4), R12

m4op:
	CMPQ    DX, R9
	JGE     m4quant
	VMOVUPS (R12), Y4
	MOVQ    (R8)(DX*8), R13
	CMPQ    R13, $0
	JEQ     m4mul
	CMPQ    R13, $1
	JEQ     m4add
	CMPQ    R13, $2
	JEQ     m4sub
	CMPQ    R13, $3
	JEQ     m4max
	VMINPS  Y4, Y0, Y0
	VMINPS  Y4, Y1, Y1
	VMINPS  Y4, Y2, Y2
	VMINPS  Y4, Y3, Y3
	JMP     m4next

m4mul:
	VMULPS Y4, Y0, Y0
	VMULPS Y4, Y1, Y1
	VMULPS Y4, Y2, Y2
	VMULPS Y4, Y3, Y3
	JMP    m4next

m4add:
	VADDPS Y4, Y0, Y0
	VADDPS Y4, Y1, Y1
	VADDPS Y4, Y2, Y2
	VADDPS Y4, Y3, Y3
	JMP    m4next

m4sub:
	VSUBPS Y4, Y0, Y0
	VSUBPS Y4, Y1, Y1
	VSUBPS Y4, Y2, Y2
	VSUBPS Y4, Y3, Y3
	JMP    m4next

m4max:
	VMAXPS Y4, Y0, Y0
	VMAXPS Y4, Y1, Y1
	VMAXPS Y4, Y2, Y2
	VMAXPS Y4, Y3, Y3

m4next:
	INCQ DX
	LEAQ (R12)(BX*4), R12
	JMP  m4op

m4quant:
	QUANT(Y0, X0)
	QUANT(Y1, X1)
	QUANT(Y2, X2)
	QUANT(Y3, X3)
	VMOVQ X0, (R15)
	VMOVQ X1, (R15)(BX*1)
	LEAQ  (R15)(BX*2), R13
	VMOVQ X2, (R13)
	VMOVQ X3, (R13)(BX*1)
	LEAQ  (R14)(BX*8), R14
	LEAQ  (R14)(BX*8), R14
	LEAQ  (R15)(BX*4), R15
	SUBQ  $4, CX
	JMP   mfour

mone:
	TESTQ     CX, CX
	JZ        mnextblock
	VMOVDQU   (R14), Y0
	VCVTDQ2PS Y0, Y0
	XORQ      DX, DX
	LEAQ      (R10)(AX*4), R12

m1op:
	CMPQ    DX, R9
	JGE     m1quant
	VMOVUPS (R12), Y4
	MOVQ    (R8)(DX*8), R13
	CMPQ    R13, $0
	JEQ     m1mul
	CMPQ    R13, $1
	JEQ     m1add
	CMPQ    R13, $2
	JEQ     m1sub
	CMPQ    R13, $3
	JEQ     m1max
	VMINPS  Y4, Y0, Y0
	JMP     m1next

m1mul:
	VMULPS Y4, Y0, Y0
	JMP    m1next

m1add:
	VADDPS Y4, Y0, Y0
	JMP    m1next

m1sub:
	VSUBPS Y4, Y0, Y0
	JMP    m1next

m1max:
	VMAXPS Y4, Y0, Y0

m1next:
	INCQ DX
	LEAQ (R12)(BX*4), R12
	JMP  m1op

m1quant:
	QUANT(Y0, X0)
	VMOVQ X0, (R15)
	LEAQ  (R14)(BX*4), R14
	ADDQ  BX, R15
	DECQ  CX
	JMP   mone

mnextblock:
	ADDQ $8, AX
	JMP  mblock

mdone:
	VZEROUPPER
	RET
