//go:build !noasm

#include "textflag.h"

// The AVX2 kernels. Each reproduces its Go twin in kernels_go.go bit for
// bit: products and sums are separate VMULPS and VADDPS (never fused), and
// every addition and product takes as its first source operand the left
// operand of the Go source (m in m += v), which decides the result when
// both are NaN. Vector bodies of 32 and 8 floats are followed by a scalar
// tail, so any length works and nothing outside the slices is touched.

// BCAST32(imm, X, Y) fills Y with the 32-bit constant imm (clobbers AX).
#define BCAST32(imm, X, Y) \
	MOVL         imm, AX \
	VMOVD        AX, X   \
	VPBROADCASTD X, Y

// func addRowsAVX2(m, v []float32)
TEXT ·addRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ  m_base+0(FP), DI
	MOVQ  m_len+8(FP), AX
	MOVQ  v_base+24(FP), SI
	MOVQ  v_len+32(FP), CX
	TESTQ CX, CX
	JZ    ardone
	LEAQ  (DI)(AX*4), R8     // end of m

arrow:
	CMPQ DI, R8
	JAE  ardone
	XORQ BX, BX

ar32:
	LEAQ    32(BX), DX
	CMPQ    DX, CX
	JA      ar8
	VMOVUPS (DI)(BX*4), Y0
	VMOVUPS 32(DI)(BX*4), Y1
	VMOVUPS 64(DI)(BX*4), Y2
	VMOVUPS 96(DI)(BX*4), Y3
	VADDPS  (SI)(BX*4), Y0, Y0
	VADDPS  32(SI)(BX*4), Y1, Y1
	VADDPS  64(SI)(BX*4), Y2, Y2
	VADDPS  96(SI)(BX*4), Y3, Y3
	VMOVUPS Y0, (DI)(BX*4)
	VMOVUPS Y1, 32(DI)(BX*4)
	VMOVUPS Y2, 64(DI)(BX*4)
	VMOVUPS Y3, 96(DI)(BX*4)
	MOVQ    DX, BX
	JMP     ar32

ar8:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JA      ar1
	VMOVUPS (DI)(BX*4), Y0
	VADDPS  (SI)(BX*4), Y0, Y0
	VMOVUPS Y0, (DI)(BX*4)
	MOVQ    DX, BX
	JMP     ar8

ar1:
	CMPQ   BX, CX
	JAE    arnext
	VMOVSS (DI)(BX*4), X0
	VADDSS (SI)(BX*4), X0, X0
	VMOVSS X0, (DI)(BX*4)
	INCQ   BX
	JMP    ar1

arnext:
	LEAQ (DI)(CX*4), DI
	JMP  arrow

ardone:
	VZEROUPPER
	RET

// RELU8(off) writes the ReLU of 8 floats at off: VMAXPS with 0 as its
// first operand gives x for x ≥ ±0 and for NaN, 0 for x < 0; clearing the
// sign bit then turns −0 into +0 and gives a NaN the builtin max's sign.
#define RELU8(off, Y) \
	VMAXPS  off(SI)(BX*4), Y8, Y \
	VANDPS  Y9, Y, Y             \
	VMOVUPS Y, off(DI)(BX*4)

// func reluAVX2(dst, src []float32)
TEXT ·reluAVX2(SB), NOSPLIT, $0-48
	MOVQ   dst_base+0(FP), DI
	MOVQ   src_base+24(FP), SI
	MOVQ   src_len+32(FP), CX
	VXORPS Y8, Y8, Y8
	BCAST32($0x7fffffff, X9, Y9)
	XORQ   BX, BX

re32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   re8
	RELU8(0, Y0)
	RELU8(32, Y1)
	RELU8(64, Y2)
	RELU8(96, Y3)
	MOVQ DX, BX
	JMP  re32

re8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   re1
	RELU8(0, Y0)
	MOVQ DX, BX
	JMP  re8

re1:
	CMPQ   BX, CX
	JAE    redone
	VMOVSS (SI)(BX*4), X0
	VMAXSS X0, X8, X0
	VANDPS X9, X0, X0
	VMOVSS X0, (DI)(BX*4)
	INCQ   BX
	JMP    re1

redone:
	VZEROUPPER
	RET

// RELUGRAD8(off) adds 8 floats of d into g where out > 0 (0 < out, false
// for NaN), blending so that g keeps its bits elsewhere.
#define RELUGRAD8(off) \
	VCMPPS    $0x11, off(R8)(BX*4), Y8, Y4 \
	VMOVUPS   off(DI)(BX*4), Y0            \
	VADDPS    off(SI)(BX*4), Y0, Y1        \
	VBLENDVPS Y4, Y1, Y0, Y0               \
	VMOVUPS   Y0, off(DI)(BX*4)

// func reluGradAVX2(g, d, out []float32)
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ   g_base+0(FP), DI
	MOVQ   g_len+8(FP), CX
	MOVQ   d_base+24(FP), SI
	MOVQ   out_base+48(FP), R8
	VXORPS Y8, Y8, Y8
	XORQ   BX, BX

rg32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   rg8
	RELUGRAD8(0)
	RELUGRAD8(32)
	RELUGRAD8(64)
	RELUGRAD8(96)
	MOVQ DX, BX
	JMP  rg32

rg8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   rg1
	RELUGRAD8(0)
	MOVQ DX, BX
	JMP  rg8

rg1:
	CMPQ      BX, CX
	JAE       rgdone
	VMOVSS    (R8)(BX*4), X2
	VCMPPS    $0x11, X2, X8, X4
	VMOVSS    (DI)(BX*4), X0
	VMOVSS    (SI)(BX*4), X1
	VADDSS    X1, X0, X1
	VBLENDVPS X4, X1, X0, X0
	VMOVSS    X0, (DI)(BX*4)
	INCQ      BX
	JMP       rg1

rgdone:
	VZEROUPPER
	RET

// func sumRowsAVX2(acc, m []float32)
//
// Column blocks of 32, 8 and 1 are kept in registers while the rows are
// added in order.
TEXT ·sumRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ  acc_base+0(FP), DI
	MOVQ  acc_len+8(FP), CX
	MOVQ  m_base+24(FP), SI
	MOVQ  m_len+32(FP), AX
	TESTQ CX, CX
	JZ    srdone
	SHLQ  $2, AX             // bytes of m
	MOVQ  CX, R9
	SHLQ  $2, R9             // row stride in bytes
	XORQ  BX, BX

sr32:
	LEAQ    32(BX), DX
	CMPQ    DX, CX
	JA      sr8
	VMOVUPS (DI)(BX*4), Y0
	VMOVUPS 32(DI)(BX*4), Y1
	VMOVUPS 64(DI)(BX*4), Y2
	VMOVUPS 96(DI)(BX*4), Y3
	LEAQ    (SI)(BX*4), R10
	LEAQ    (SI)(AX*1), R11  // end of m

sr32r:
	CMPQ   R10, R11
	JAE    sr32s
	VADDPS (R10), Y0, Y0
	VADDPS 32(R10), Y1, Y1
	VADDPS 64(R10), Y2, Y2
	VADDPS 96(R10), Y3, Y3
	ADDQ   R9, R10
	JMP    sr32r

sr32s:
	VMOVUPS Y0, (DI)(BX*4)
	VMOVUPS Y1, 32(DI)(BX*4)
	VMOVUPS Y2, 64(DI)(BX*4)
	VMOVUPS Y3, 96(DI)(BX*4)
	MOVQ    DX, BX
	JMP     sr32

sr8:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JA      sr1
	VMOVUPS (DI)(BX*4), Y0
	LEAQ    (SI)(BX*4), R10
	LEAQ    (SI)(AX*1), R11

sr8r:
	CMPQ   R10, R11
	JAE    sr8s
	VADDPS (R10), Y0, Y0
	ADDQ   R9, R10
	JMP    sr8r

sr8s:
	VMOVUPS Y0, (DI)(BX*4)
	MOVQ    DX, BX
	JMP     sr8

sr1:
	CMPQ   BX, CX
	JAE    srdone
	VMOVSS (DI)(BX*4), X0
	LEAQ   (SI)(BX*4), R10
	LEAQ   (SI)(AX*1), R11

sr1r:
	CMPQ   R10, R11
	JAE    sr1s
	VADDSS (R10), X0, X0
	ADDQ   R9, R10
	JMP    sr1r

sr1s:
	VMOVSS X0, (DI)(BX*4)
	INCQ   BX
	JMP    sr1

srdone:
	VZEROUPPER
	RET

// TAP(V, M, MASK, P, POS) is keepGreater for the tap in V: where V > M
// (false when either is NaN) M becomes V and the position P becomes POS.
#define TAP(V, M, MASK, P, POS) \
	VCMPPS    $0x1e, M, V, MASK      \
	VBLENDVPS MASK, V, M, M          \
	VBLENDVPS MASK, POS, P, P

// func maxPool2AVX2(c int, y []float32, arg []uint8, x0, x1 []float32)
//
// Per output pixel o: SI and R12 point at x0[2o] and x0[2o+1], R9 and R13
// at x1[2o] and x1[2o+1], DI at y[o*c], R8 at arg[o*c]; 8 channels at a
// time, then one.
TEXT ·maxPool2AVX2(SB), NOSPLIT, $0-104
	MOVQ c+0(FP), CX
	MOVQ y_base+8(FP), DI
	MOVQ y_len+16(FP), AX
	MOVQ arg_base+32(FP), R8
	MOVQ x0_base+56(FP), SI
	MOVQ x1_base+80(FP), R9
	LEAQ (DI)(AX*4), R11     // end of y
	MOVQ CX, R10
	SHLQ $2, R10             // pixel stride in bytes
	BCAST32($1, X13, Y13)
	BCAST32($2, X14, Y14)
	BCAST32($3, X15, Y15)

mppix:
	CMPQ DI, R11
	JAE  mpdone
	LEAQ (SI)(R10*1), R12
	LEAQ (R9)(R10*1), R13
	XORQ BX, BX

mp8:
	LEAQ         8(BX), DX
	CMPQ         DX, CX
	JA           mp1
	VMOVUPS      (SI)(BX*4), Y0
	VMOVUPS      (R12)(BX*4), Y1
	VCMPPS       $0x1e, Y0, Y1, Y4
	VBLENDVPS    Y4, Y1, Y0, Y0
	VPAND        Y13, Y4, Y5
	VMOVUPS      (R9)(BX*4), Y1
	TAP(Y1, Y0, Y4, Y5, Y14)
	VMOVUPS      (R13)(BX*4), Y1
	TAP(Y1, Y0, Y4, Y5, Y15)
	VMOVUPS      Y0, (DI)(BX*4)
	VEXTRACTI128 $1, Y5, X6
	VPACKSSDW    X6, X5, X5
	VPACKUSWB    X5, X5, X5
	VMOVQ        X5, (R8)(BX*1)
	MOVQ         DX, BX
	JMP          mp8

mp1:
	CMPQ      BX, CX
	JAE       mpnext
	VMOVSS    (SI)(BX*4), X0
	VMOVSS    (R12)(BX*4), X1
	VCMPPS    $0x1e, X0, X1, X4
	VBLENDVPS X4, X1, X0, X0
	VPAND     X13, X4, X5
	VMOVSS    (R9)(BX*4), X1
	TAP(X1, X0, X4, X5, X14)
	VMOVSS    (R13)(BX*4), X1
	TAP(X1, X0, X4, X5, X15)
	VMOVSS    X0, (DI)(BX*4)
	VMOVD     X5, AX
	MOVB      AX, (R8)(BX*1)
	INCQ      BX
	JMP       mp1

mpnext:
	ADDQ R10, DI
	ADDQ CX, R8
	LEAQ (SI)(R10*2), SI
	LEAQ (R9)(R10*2), R9
	JMP  mppix

mpdone:
	VZEROUPPER
	RET

// GRADTAP(ptr, POS) adds d (Y0) to the 8 floats at ptr where the recorded
// positions (Y5) equal POS, storing the others back unchanged.
#define GRADTAP(ptr, POS) \
	VPCMPEQD  POS, Y5, Y4 \
	VMOVUPS   ptr, Y1     \
	VADDPS    Y0, Y1, Y2  \
	VBLENDVPS Y4, Y2, Y1, Y1 \
	VMOVUPS   Y1, ptr

// func maxPool2GradAVX2(c int, dx0, dx1, dy []float32, arg []uint8)
//
// Registers as in maxPool2AVX2, with DI at dy[o*c].
TEXT ·maxPool2GradAVX2(SB), NOSPLIT, $0-104
	MOVQ  c+0(FP), CX
	MOVQ  dx0_base+8(FP), SI
	MOVQ  dx1_base+32(FP), R9
	MOVQ  dy_base+56(FP), DI
	MOVQ  dy_len+64(FP), AX
	MOVQ  arg_base+80(FP), R8
	LEAQ  (DI)(AX*4), R11    // end of dy
	MOVQ  CX, R10
	SHLQ  $2, R10            // pixel stride in bytes
	VPXOR Y12, Y12, Y12
	BCAST32($1, X13, Y13)
	BCAST32($2, X14, Y14)
	BCAST32($3, X15, Y15)

mgpix:
	CMPQ DI, R11
	JAE  mgdone
	LEAQ (SI)(R10*1), R12
	LEAQ (R9)(R10*1), R13
	XORQ BX, BX

mg8:
	LEAQ      8(BX), DX
	CMPQ      DX, CX
	JA        mg1
	VPMOVZXBD (R8)(BX*1), Y5
	VMOVUPS   (DI)(BX*4), Y0
	GRADTAP((SI)(BX*4), Y12)
	GRADTAP((R12)(BX*4), Y13)
	GRADTAP((R9)(BX*4), Y14)
	GRADTAP((R13)(BX*4), Y15)
	MOVQ      DX, BX
	JMP       mg8

mg1:
	CMPQ    BX, CX
	JAE     mgnext
	MOVBLZX (R8)(BX*1), AX
	MOVQ    SI, DX
	CMPQ    AX, $0
	JEQ     mgadd
	MOVQ    R12, DX
	CMPQ    AX, $1
	JEQ     mgadd
	MOVQ    R9, DX
	CMPQ    AX, $2
	JEQ     mgadd
	MOVQ    R13, DX
	CMPQ    AX, $3
	JNE     mgskip

mgadd:
	VMOVSS (DX)(BX*4), X1
	VADDSS (DI)(BX*4), X1, X1
	VMOVSS X1, (DX)(BX*4)

mgskip:
	INCQ BX
	JMP  mg1

mgnext:
	ADDQ R10, DI
	ADDQ CX, R8
	LEAQ (SI)(R10*2), SI
	LEAQ (R9)(R10*2), R9
	JMP  mgpix

mgdone:
	VZEROUPPER
	RET

// REQUANT8(off, Y) writes 8 outputs: the product a·scale rounded, then
// the bias added.
#define REQUANT8(off, Y) \
	VMOVUPS off(SI)(BX*4), Y      \
	VMULPS  off(R8)(BX*4), Y, Y   \
	VADDPS  off(R9)(BX*4), Y, Y   \
	VMOVUPS Y, off(DI)(BX*4)

// func requantAVX2(out, a, scale, bias []float32)
TEXT ·requantAVX2(SB), NOSPLIT, $0-96
	MOVQ  out_base+0(FP), DI
	MOVQ  a_base+24(FP), SI
	MOVQ  a_len+32(FP), AX
	MOVQ  scale_base+48(FP), R8
	MOVQ  scale_len+56(FP), CX
	MOVQ  bias_base+72(FP), R9
	TESTQ CX, CX
	JZ    rqdone
	LEAQ  (SI)(AX*4), R11    // end of a

rqrow:
	CMPQ SI, R11
	JAE  rqdone
	XORQ BX, BX

rq32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   rq8
	REQUANT8(0, Y0)
	REQUANT8(32, Y1)
	REQUANT8(64, Y2)
	REQUANT8(96, Y3)
	MOVQ DX, BX
	JMP  rq32

rq8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   rq1
	REQUANT8(0, Y0)
	MOVQ DX, BX
	JMP  rq8

rq1:
	CMPQ   BX, CX
	JAE    rqnext
	VMOVSS (SI)(BX*4), X0
	VMULSS (R8)(BX*4), X0, X0
	VADDSS (R9)(BX*4), X0, X0
	VMOVSS X0, (DI)(BX*4)
	INCQ   BX
	JMP    rq1

rqnext:
	LEAQ (SI)(CX*4), SI
	LEAQ (DI)(CX*4), DI
	JMP  rqrow

rqdone:
	VZEROUPPER
	RET

// RQGRAD8(off, S, B) is one row of 8 channels of the backward pass: with
// d at AX(SI) and a at AX(DI), S += d·a and B += d.
#define RQGRAD8(off, S, B) \
	VMOVUPS off(SI)(AX*1), Y8    \
	VMULPS  off(DI)(AX*1), Y8, Y9 \
	VADDPS  Y9, S, S             \
	VADDPS  Y8, B, B

// RQGRADGA8(off, S, B) is RQGRAD8 that also adds d·scale into ga at
// AX(R10).
#define RQGRADGA8(off, S, B) \
	RQGRAD8(off, S, B)               \
	VMULPS  off(R11)(BX*4), Y8, Y10  \
	VMOVUPS off(R10)(AX*1), Y11      \
	VADDPS  Y10, Y11, Y11            \
	VMOVUPS Y11, off(R10)(AX*1)

// RQGRAD1 is RQGRAD8 for the one channel in X0 (ds) and X4 (db).
#define RQGRAD1 \
	VMOVSS (SI)(AX*1), X8    \
	VMULSS (DI)(AX*1), X8, X9 \
	VADDSS X9, X0, X0        \
	VADDSS X8, X4, X4

// RQGRADGA1 is RQGRADGA8 for one channel.
#define RQGRADGA1 \
	RQGRAD1                   \
	VMULSS (R11)(BX*4), X8, X10 \
	VMOVSS (R10)(AX*1), X11   \
	VADDSS X10, X11, X11      \
	VMOVSS X11, (R10)(AX*1)

// func requantGradAVX2(ds, db, ga, d, a, scale []float32)
//
// Column blocks of 32, 8 and 1 keep their ds and db in registers (Y0–Y3
// and Y4–Y7) while the rows are visited in order; AX is the byte offset of
// the block in the current row of d, a and ga, R12 the bytes of d.
TEXT ·requantGradAVX2(SB), NOSPLIT, $0-144
	MOVQ  ds_base+0(FP), R8
	MOVQ  db_base+24(FP), R9
	MOVQ  ga_base+48(FP), R10
	MOVQ  d_base+72(FP), SI
	MOVQ  d_len+80(FP), R12
	MOVQ  a_base+96(FP), DI
	MOVQ  scale_base+120(FP), R11
	MOVQ  scale_len+128(FP), CX
	TESTQ CX, CX
	JZ    gqdone
	SHLQ  $2, R12            // bytes of d
	MOVQ  CX, R13
	SHLQ  $2, R13            // row stride in bytes
	XORQ  BX, BX
	MOVQ  ga_len+56(FP), AX
	TESTQ AX, AX
	JNZ   ga32

gq32:
	LEAQ    32(BX), DX
	CMPQ    DX, CX
	JA      gq8
	VMOVUPS (R8)(BX*4), Y0
	VMOVUPS 32(R8)(BX*4), Y1
	VMOVUPS 64(R8)(BX*4), Y2
	VMOVUPS 96(R8)(BX*4), Y3
	VMOVUPS (R9)(BX*4), Y4
	VMOVUPS 32(R9)(BX*4), Y5
	VMOVUPS 64(R9)(BX*4), Y6
	VMOVUPS 96(R9)(BX*4), Y7
	LEAQ    (BX*4), AX

gq32r:
	CMPQ AX, R12
	JAE  gq32s
	RQGRAD8(0, Y0, Y4)
	RQGRAD8(32, Y1, Y5)
	RQGRAD8(64, Y2, Y6)
	RQGRAD8(96, Y3, Y7)
	ADDQ R13, AX
	JMP  gq32r

gq32s:
	VMOVUPS Y0, (R8)(BX*4)
	VMOVUPS Y1, 32(R8)(BX*4)
	VMOVUPS Y2, 64(R8)(BX*4)
	VMOVUPS Y3, 96(R8)(BX*4)
	VMOVUPS Y4, (R9)(BX*4)
	VMOVUPS Y5, 32(R9)(BX*4)
	VMOVUPS Y6, 64(R9)(BX*4)
	VMOVUPS Y7, 96(R9)(BX*4)
	MOVQ    DX, BX
	JMP     gq32

gq8:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JA      gq1
	VMOVUPS (R8)(BX*4), Y0
	VMOVUPS (R9)(BX*4), Y4
	LEAQ    (BX*4), AX

gq8r:
	CMPQ AX, R12
	JAE  gq8s
	RQGRAD8(0, Y0, Y4)
	ADDQ R13, AX
	JMP  gq8r

gq8s:
	VMOVUPS Y0, (R8)(BX*4)
	VMOVUPS Y4, (R9)(BX*4)
	MOVQ    DX, BX
	JMP     gq8

gq1:
	CMPQ   BX, CX
	JAE    gqdone
	VMOVSS (R8)(BX*4), X0
	VMOVSS (R9)(BX*4), X4
	LEAQ   (BX*4), AX

gq1r:
	CMPQ AX, R12
	JAE  gq1s
	RQGRAD1
	ADDQ R13, AX
	JMP  gq1r

gq1s:
	VMOVSS X0, (R8)(BX*4)
	VMOVSS X4, (R9)(BX*4)
	INCQ   BX
	JMP    gq1

ga32:
	LEAQ    32(BX), DX
	CMPQ    DX, CX
	JA      ga8
	VMOVUPS (R8)(BX*4), Y0
	VMOVUPS 32(R8)(BX*4), Y1
	VMOVUPS 64(R8)(BX*4), Y2
	VMOVUPS 96(R8)(BX*4), Y3
	VMOVUPS (R9)(BX*4), Y4
	VMOVUPS 32(R9)(BX*4), Y5
	VMOVUPS 64(R9)(BX*4), Y6
	VMOVUPS 96(R9)(BX*4), Y7
	LEAQ    (BX*4), AX

ga32r:
	CMPQ AX, R12
	JAE  ga32s
	RQGRADGA8(0, Y0, Y4)
	RQGRADGA8(32, Y1, Y5)
	RQGRADGA8(64, Y2, Y6)
	RQGRADGA8(96, Y3, Y7)
	ADDQ R13, AX
	JMP  ga32r

ga32s:
	VMOVUPS Y0, (R8)(BX*4)
	VMOVUPS Y1, 32(R8)(BX*4)
	VMOVUPS Y2, 64(R8)(BX*4)
	VMOVUPS Y3, 96(R8)(BX*4)
	VMOVUPS Y4, (R9)(BX*4)
	VMOVUPS Y5, 32(R9)(BX*4)
	VMOVUPS Y6, 64(R9)(BX*4)
	VMOVUPS Y7, 96(R9)(BX*4)
	MOVQ    DX, BX
	JMP     ga32

ga8:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JA      ga1
	VMOVUPS (R8)(BX*4), Y0
	VMOVUPS (R9)(BX*4), Y4
	LEAQ    (BX*4), AX

ga8r:
	CMPQ AX, R12
	JAE  ga8s
	RQGRADGA8(0, Y0, Y4)
	ADDQ R13, AX
	JMP  ga8r

ga8s:
	VMOVUPS Y0, (R8)(BX*4)
	VMOVUPS Y4, (R9)(BX*4)
	MOVQ    DX, BX
	JMP     ga8

ga1:
	CMPQ   BX, CX
	JAE    gqdone
	VMOVSS (R8)(BX*4), X0
	VMOVSS (R9)(BX*4), X4
	LEAQ   (BX*4), AX

ga1r:
	CMPQ AX, R12
	JAE  ga1s
	RQGRADGA1
	ADDQ R13, AX
	JMP  ga1r

ga1s:
	VMOVSS X0, (R8)(BX*4)
	VMOVSS X4, (R9)(BX*4)
	INCQ   BX
	JMP    ga1

gqdone:
	VZEROUPPER
	RET
