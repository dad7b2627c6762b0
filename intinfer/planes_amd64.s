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

// PLROW gathers the vectors V(ρ, 0) and V(ρ, 1) of the image row at DX
// into v0 and v1 (planarVNNI).
#define PLROW(v0, v1) \
	VMOVDQU64 (DX), Z18; \
	VMOVDQU64 64(DX), Z19; \
	VMOVDQA64 Z16, v0; \
	VPERMI2B  Z19, Z18, v0; \
	VMOVDQA64 Z17, v1; \
	VPERMI2B  Z19, Z18, v1

// func planarVNNI(img *uint8, nimg, imgLen int, tab *uint8, nblk int, w *int32, n int, m, c *float32, fix *int32, planes *uint8, ldp, perImg, rowLen int, lo, hi int32)
//
// A first layer straight into the next one's planes (planarRun): a 3×3
// convolution of stride 1 on one unsigned byte channel, its 2×2 max pool
// and its requantisation in the fused form (fmaForm), sixteen pool windows
// per vector lane set. For each image and block of 16 windows (tab: per
// block, 192 bytes: the byte indices of taps dx = 0 and dx = 1, the
// block's first image row, its lane mask and its first window), the eight
// vectors V(ρ, dx), lane k holding bytes dx + 2j_k + (row of window k) … +3
// of image row ρ below the window's top, are gathered from two 64-byte
// loads per row by VPERMI2B. Channel o's four positions of each window
// then take three VPDPBUSD each, the weights of kernel row r broadcast
// (w: 3 double words per channel, bytes w(r, 0), w(r, 1), w(r, 2), 0):
// position (dy, dx) is Σ_r V(dy + r, dx)·w(r). Their maximum is
// requantised (m, c broadcast; fix as for requantFMA512: n corrected
// accumulators, then their n corrections, or nil) and its 16 bytes go to
// plane o at the block's windows (masked for the last block of an image).
//   SI image; R10 images left; BX the image's planes; R8 block; R9 blocks
//   left; DX image row, then the corrections; DI plane of channel o; R11
//   w; R12 m; R13 c; R14 fix; R15 channel o's offset in m, c and fix; CX
//   channels left; Z8–Z11 V(0…3, 0), Z12–Z15 V(0…3, 1); Z16, Z17 the
//   block's indices; Z29 lo, Z30 hi; K1 the block's lanes.
TEXT ·planarVNNI(SB), NOSPLIT, $0-120
	MOVL lo+112(FP), AX
	VPBROADCASTD AX, Z29
	MOVL hi+116(FP), AX
	VPBROADCASTD AX, Z30
	MOVQ img+0(FP), SI
	MOVQ nimg+8(FP), R10
	MOVQ planes+80(FP), BX
	MOVQ m+56(FP), R12
	MOVQ c+64(FP), R13
	MOVQ fix+72(FP), R14
	TESTQ R10, R10
	JZ    pldone

plimg:
	MOVQ tab+24(FP), R8
	MOVQ nblk+32(FP), R9

plblk:
	VMOVDQU64 0(R8), Z16
	VMOVDQU64 64(R8), Z17
	MOVL      128(R8), AX
	LEAQ      (SI)(AX*1), DX
	KMOVW     132(R8), K1
	MOVL      136(R8), AX
	LEAQ      (BX)(AX*1), DI
	MOVQ      rowLen+104(FP), AX
	PLROW(Z8, Z12)
	ADDQ      AX, DX
	PLROW(Z9, Z13)
	ADDQ      AX, DX
	PLROW(Z10, Z14)
	ADDQ      AX, DX
	PLROW(Z11, Z15)
	MOVQ w+40(FP), R11
	MOVQ n+48(FP), CX
	LEAQ (R14)(CX*4), DX
	XORQ R15, R15

plch:
	VPXORD        Z0, Z0, Z0
	VPXORD        Z1, Z1, Z1
	VPXORD        Z2, Z2, Z2
	VPXORD        Z3, Z3, Z3
	VPDPBUSD.BCST 0(R11), Z8, Z0
	VPDPBUSD.BCST 0(R11), Z12, Z1
	VPDPBUSD.BCST 0(R11), Z9, Z2
	VPDPBUSD.BCST 0(R11), Z13, Z3
	VPDPBUSD.BCST 4(R11), Z9, Z0
	VPDPBUSD.BCST 4(R11), Z13, Z1
	VPDPBUSD.BCST 4(R11), Z10, Z2
	VPDPBUSD.BCST 4(R11), Z14, Z3
	VPDPBUSD.BCST 8(R11), Z10, Z0
	VPDPBUSD.BCST 8(R11), Z14, Z1
	VPDPBUSD.BCST 8(R11), Z11, Z2
	VPDPBUSD.BCST 8(R11), Z15, Z3
	VPMAXSD       Z1, Z0, Z0
	VPMAXSD       Z3, Z2, Z2
	VPMAXSD       Z2, Z0, Z0
	VCVTDQ2PS     Z0, Z1
	VBROADCASTSS  (R12)(R15*1), Z4
	VFMADD213PS.BCST (R13)(R15*1), Z4, Z1
	VCVTPS2DQ     Z1, Z1
	TESTQ         R14, R14
	JZ            plnofix
	MOVL          (DX)(R15*1), AX
	TESTL         AX, AX
	JZ            plnofix
	VPBROADCASTD  (R14)(R15*1), Z4
	VPCMPEQD      Z4, Z0, K2
	VPBROADCASTD  AX, Z5
	VPADDD        Z5, Z1, K2, Z1

plnofix:
	VPMAXSD   Z29, Z1, Z1
	VPMINSD   Z30, Z1, Z1
	VPMOVDB   Z1, X1
	VMOVDQU8  X1, K1, (DI)
	ADDQ      $12, R11
	ADDQ      $4, R15
	ADDQ      ldp+88(FP), DI
	DECQ      CX
	JNZ       plch
	ADDQ      $192, R8
	DECQ      R9
	JNZ       plblk
	ADDQ      imgLen+16(FP), SI
	ADDQ      perImg+96(FP), BX
	DECQ      R10
	JNZ       plimg

pldone:
	VZEROUPPER
	RET
