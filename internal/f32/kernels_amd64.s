//go:build !noasm

#include "textflag.h"

// The AVX2 kernels. Each reproduces its Go twin in kernels_go.go bit for
// bit: products and sums are separate VMULPS and VADDPS (never fused), and
// every addition and product takes as its first source operand the left
// operand of the Go source (m in m += v), which decides the result when
// both are NaN. Vector bodies of 32 and 8 floats are followed by a scalar
// tail, so any length works and nothing outside the slices is touched.

// RQARGS loads the arguments the three requantisation backward kernels
// share (ds, db, ga, d and its length in bytes, a at argument A, scale at
// S and its length at SL) and jumps to rqbdone when there are no channels.
// It is defined before the first TEXT: go vet reads the FP references of
// a definition as those of the function above it.
#define RQARGS(A, S, SL) \
	MOVQ  ds_base+0(FP), R8; \
	MOVQ  db_base+24(FP), R9; \
	MOVQ  ga_base+48(FP), R10; \
	MOVQ  d_base+72(FP), SI; \
	MOVQ  d_len+80(FP), R12; \
	MOVQ  A(FP), DI; \
	MOVQ  S(FP), R11; \
	MOVQ  SL(FP), CX; \
	TESTQ CX, CX; \
	JZ    rqbdone; \
	SHLQ  $2, R12; \
	MOVQ  CX, R13; \
	SHLQ  $2, R13

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

// The ReLU backward kernels share one loop (RELUGRADLOOP): blocks of 32,
// then 8, then single floats, each body advancing BX. Y8 holds +0; a
// mask lane is set where 0 < out (false for NaN).
//   DI g; SI d; R8 out; CX len(g) (loaded by each kernel); BX index;
//   DX block end.
#define RELUGRADLOOP(BODY8, BODY1) \
	VXORPS Y8, Y8, Y8; \
	XORQ   BX, BX; \
rg32: \
	LEAQ 32(BX), DX; \
	CMPQ DX, CX; \
	JA   rg8; \
	BODY8; \
	BODY8; \
	BODY8; \
	BODY8; \
	JMP  rg32; \
rg8: \
	LEAQ 8(BX), DX; \
	CMPQ DX, CX; \
	JA   rg1; \
	BODY8; \
	JMP  rg8; \
rg1: \
	CMPQ BX, CX; \
	JAE  rgdone; \
	BODY1; \
	JMP  rg1; \
rgdone: \
	VZEROUPPER; \
	RET

// RELUGRAD8 adds 8 floats of d into g where out > 0, blending so that g
// keeps its bits elsewhere; RELUGRAD1 does one.
#define RELUGRAD8 \
	VCMPPS    $0x11, (R8)(BX*4), Y8, Y4; \
	VMOVUPS   (DI)(BX*4), Y0; \
	VADDPS    (SI)(BX*4), Y0, Y1; \
	VBLENDVPS Y4, Y1, Y0, Y0; \
	VMOVUPS   Y0, (DI)(BX*4); \
	ADDQ      $8, BX

#define RELUGRAD1 \
	VMOVSS    (R8)(BX*4), X2; \
	VCMPPS    $0x11, X2, X8, X4; \
	VMOVSS    (DI)(BX*4), X0; \
	VMOVSS    (SI)(BX*4), X1; \
	VADDSS    X1, X0, X1; \
	VBLENDVPS X4, X1, X0, X0; \
	VMOVSS    X0, (DI)(BX*4); \
	INCQ      BX

// RELUGRADTO8 writes 8 floats of g, 0 + d where out > 0 and +0 elsewhere,
// without reading g; RELUGRADTO1 one.
#define RELUGRADTO8 \
	VCMPPS    $0x11, (R8)(BX*4), Y8, Y4; \
	VADDPS    (SI)(BX*4), Y8, Y1; \
	VBLENDVPS Y4, Y1, Y8, Y0; \
	VMOVUPS   Y0, (DI)(BX*4); \
	ADDQ      $8, BX

#define RELUGRADTO1 \
	VMOVSS    (R8)(BX*4), X2; \
	VCMPPS    $0x11, X2, X8, X4; \
	VMOVSS    (SI)(BX*4), X1; \
	VADDSS    X1, X8, X1; \
	VBLENDVPS X4, X1, X8, X0; \
	VMOVSS    X0, (DI)(BX*4); \
	INCQ      BX

// func reluGradAVX2(g, d, out []float32)
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ g_base+0(FP), DI
	MOVQ g_len+8(FP), CX
	MOVQ d_base+24(FP), SI
	MOVQ out_base+48(FP), R8
	RELUGRADLOOP(RELUGRAD8, RELUGRAD1)

// func reluGradToAVX2(g, d, out []float32)
TEXT ·reluGradToAVX2(SB), NOSPLIT, $0-72
	MOVQ g_base+0(FP), DI
	MOVQ g_len+8(FP), CX
	MOVQ d_base+24(FP), SI
	MOVQ out_base+48(FP), R8
	RELUGRADLOOP(RELUGRADTO8, RELUGRADTO1)


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

// GRADSET(ptr, POS) writes 0 + d (Y0) to the 8 floats at ptr where the
// recorded positions (Y5) equal POS, +0 to the others.
#define GRADSET(ptr, POS) \
	VPCMPEQD POS, Y5, Y4 \
	VADDPS   Y0, Y12, Y1 \
	VANDPS   Y4, Y1, Y1  \
	VMOVUPS  Y1, ptr

// The single-float tails: add d to the recorded tap (DX), or write 0 + d
// there after +0 to all four taps (GRADZERO1, before the recorded one is
// looked up, so that a position above 3 leaves them all +0).
#define GRADADD1 \
	VMOVSS (DX)(BX*4), X1     \
	VADDSS (DI)(BX*4), X1, X1 \
	VMOVSS X1, (DX)(BX*4)

#define GRADSET1 \
	VMOVSS (DI)(BX*4), X1     \
	VADDSS X12, X1, X1        \
	VMOVSS X1, (DX)(BX*4)

#define GRADKEEP1
#define GRADZERO1 \
	MOVL $0, (SI)(BX*4)  \
	MOVL $0, (R12)(BX*4) \
	MOVL $0, (R9)(BX*4)  \
	MOVL $0, (R13)(BX*4)

// MAXPOOL2GRAD is the loop of maxPool2GradAVX2 and maxPool2GradToAVX2,
// with TAP the 8-wide operation on one tap of 8 channels, PRE1 what the
// four taps of a single float get first and TAP1 the single-float
// operation on its recorded tap; the caller loads c (CX), dx0 (SI), dx1
// (R9), dy (DI, its length in AX) and arg (R8). Registers as in
// maxPool2AVX2, with DI at dy[o*c].
#define MAXPOOL2GRAD(TAP, PRE1, TAP1) \
	LEAQ  (DI)(AX*4), R11        \
	MOVQ  CX, R10                \
	SHLQ  $2, R10                \
	VPXOR Y12, Y12, Y12          \
	BCAST32($1, X13, Y13)        \
	BCAST32($2, X14, Y14)        \
	BCAST32($3, X15, Y15)        \
mgpix:                           \
	CMPQ DI, R11                 \
	JAE  mgdone                  \
	LEAQ (SI)(R10*1), R12        \
	LEAQ (R9)(R10*1), R13        \
	XORQ BX, BX                  \
mg8:                             \
	LEAQ      8(BX), DX          \
	CMPQ      DX, CX             \
	JA        mg1                \
	VPMOVZXBD (R8)(BX*1), Y5     \
	VMOVUPS   (DI)(BX*4), Y0     \
	TAP((SI)(BX*4), Y12)         \
	TAP((R12)(BX*4), Y13)        \
	TAP((R9)(BX*4), Y14)         \
	TAP((R13)(BX*4), Y15)        \
	MOVQ      DX, BX             \
	JMP       mg8                \
mg1:                             \
	CMPQ    BX, CX               \
	JAE     mgnext               \
	PRE1                         \
	MOVBLZX (R8)(BX*1), AX       \
	MOVQ    SI, DX               \
	CMPQ    AX, $0               \
	JEQ     mgadd                \
	MOVQ    R12, DX              \
	CMPQ    AX, $1               \
	JEQ     mgadd                \
	MOVQ    R9, DX               \
	CMPQ    AX, $2               \
	JEQ     mgadd                \
	MOVQ    R13, DX              \
	CMPQ    AX, $3               \
	JNE     mgskip               \
mgadd:                           \
	TAP1                         \
mgskip:                          \
	INCQ BX                      \
	JMP  mg1                     \
mgnext:                          \
	ADDQ R10, DI                 \
	ADDQ CX, R8                  \
	LEAQ (SI)(R10*2), SI         \
	LEAQ (R9)(R10*2), R9         \
	JMP  mgpix                   \
mgdone:                          \
	VZEROUPPER                   \
	RET

// func maxPool2GradAVX2(c int, dx0, dx1, dy []float32, arg []uint8)
TEXT ·maxPool2GradAVX2(SB), NOSPLIT, $0-104
	MOVQ c+0(FP), CX
	MOVQ dx0_base+8(FP), SI
	MOVQ dx1_base+32(FP), R9
	MOVQ dy_base+56(FP), DI
	MOVQ dy_len+64(FP), AX
	MOVQ arg_base+80(FP), R8
	MAXPOOL2GRAD(GRADTAP, GRADKEEP1, GRADADD1)

// func maxPool2GradToAVX2(c int, dx0, dx1, dy []float32, arg []uint8)
TEXT ·maxPool2GradToAVX2(SB), NOSPLIT, $0-104
	MOVQ c+0(FP), CX
	MOVQ dx0_base+8(FP), SI
	MOVQ dx1_base+32(FP), R9
	MOVQ dy_base+56(FP), DI
	MOVQ dy_len+64(FP), AX
	MOVQ arg_base+80(FP), R8
	MAXPOOL2GRAD(GRADSET, GRADZERO1, GRADSET1)

// REQUANT8(off, Y) writes 8 outputs: the product a·scale rounded, then
// the bias added; REQUANT1 one output.
#define REQUANT8(off, Y) \
	VMOVUPS off(SI)(BX*4), Y      \
	VMULPS  off(R8)(BX*4), Y, Y   \
	VADDPS  off(R9)(BX*4), Y, Y   \
	VMOVUPS Y, off(DI)(BX*4)

#define REQUANT1 \
	VMOVSS (SI)(BX*4), X0     \
	VMULSS (R8)(BX*4), X0, X0 \
	VADDSS (R9)(BX*4), X0, X0 \
	VMOVSS X0, (DI)(BX*4)

// RQROWS(BODY8, BODY1) walks rows of CX channels from a at SI to the
// outputs at DI (scale at R8, bias at R9), each row in blocks of 32, 8
// and 1 channel: BODY8(off, Y) writes 8 outputs of channel BX+off/4,
// BODY1 the output of channel BX (both may clobber Y4, Y5). AX holds
// len(a); the walk ends at the function's rqdone.
#define RQROWS(BODY8, BODY1) \
	TESTQ CX, CX; \
	JZ    rqdone; \
	LEAQ  (SI)(AX*4), R11; \
rqrow: \
	CMPQ SI, R11; \
	JAE  rqdone; \
	XORQ BX, BX; \
rq32: \
	LEAQ 32(BX), DX; \
	CMPQ DX, CX; \
	JA   rq8; \
	BODY8(0, Y0); \
	BODY8(32, Y1); \
	BODY8(64, Y2); \
	BODY8(96, Y3); \
	MOVQ DX, BX; \
	JMP  rq32; \
rq8: \
	LEAQ 8(BX), DX; \
	CMPQ DX, CX; \
	JA   rq1; \
	BODY8(0, Y0); \
	MOVQ DX, BX; \
	JMP  rq8; \
rq1: \
	CMPQ BX, CX; \
	JAE  rqnext; \
	BODY1; \
	INCQ BX; \
	JMP  rq1; \
rqnext: \
	LEAQ (SI)(CX*4), SI; \
	LEAQ (DI)(CX*4), DI; \
	JMP  rqrow

// func requantAVX2(out, a, scale, bias []float32)
TEXT ·requantAVX2(SB), NOSPLIT, $0-96
	MOVQ out_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), AX
	MOVQ scale_base+48(FP), R8
	MOVQ scale_len+56(FP), CX
	MOVQ bias_base+72(FP), R9
	RQROWS(REQUANT8, REQUANT1)

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

// RQBLOCKS(BODY8, BODY1) walks the column blocks of 32, 8 and 1 channels,
// keeping each block's ds and db in registers (Y0–Y3 and Y4–Y7; X0 and
// X4 for one channel) while BODY8(off, S, B) or BODY1 visits the rows in
// order; AX is the byte offset of the block in the current row of d, a
// (and ga, out), R12 the bytes of d, R13 a row's bytes, BX the block's
// first channel, CX the channels. It ends at the function's rqbdone.
#define RQBLOCKS(BODY8, BODY1) \
	XORQ BX, BX; \
rqb32: \
	LEAQ    32(BX), DX; \
	CMPQ    DX, CX; \
	JA      rqb8; \
	VMOVUPS (R8)(BX*4), Y0; \
	VMOVUPS 32(R8)(BX*4), Y1; \
	VMOVUPS 64(R8)(BX*4), Y2; \
	VMOVUPS 96(R8)(BX*4), Y3; \
	VMOVUPS (R9)(BX*4), Y4; \
	VMOVUPS 32(R9)(BX*4), Y5; \
	VMOVUPS 64(R9)(BX*4), Y6; \
	VMOVUPS 96(R9)(BX*4), Y7; \
	LEAQ    (BX*4), AX; \
rqb32r: \
	CMPQ AX, R12; \
	JAE  rqb32s; \
	BODY8(0, Y0, Y4); \
	BODY8(32, Y1, Y5); \
	BODY8(64, Y2, Y6); \
	BODY8(96, Y3, Y7); \
	ADDQ R13, AX; \
	JMP  rqb32r; \
rqb32s: \
	VMOVUPS Y0, (R8)(BX*4); \
	VMOVUPS Y1, 32(R8)(BX*4); \
	VMOVUPS Y2, 64(R8)(BX*4); \
	VMOVUPS Y3, 96(R8)(BX*4); \
	VMOVUPS Y4, (R9)(BX*4); \
	VMOVUPS Y5, 32(R9)(BX*4); \
	VMOVUPS Y6, 64(R9)(BX*4); \
	VMOVUPS Y7, 96(R9)(BX*4); \
	MOVQ    DX, BX; \
	JMP     rqb32; \
rqb8: \
	LEAQ    8(BX), DX; \
	CMPQ    DX, CX; \
	JA      rqb1; \
	VMOVUPS (R8)(BX*4), Y0; \
	VMOVUPS (R9)(BX*4), Y4; \
	LEAQ    (BX*4), AX; \
rqb8r: \
	CMPQ AX, R12; \
	JAE  rqb8s; \
	BODY8(0, Y0, Y4); \
	ADDQ R13, AX; \
	JMP  rqb8r; \
rqb8s: \
	VMOVUPS Y0, (R8)(BX*4); \
	VMOVUPS Y4, (R9)(BX*4); \
	MOVQ    DX, BX; \
	JMP     rqb8; \
rqb1: \
	CMPQ   BX, CX; \
	JAE    rqbdone; \
	VMOVSS (R8)(BX*4), X0; \
	VMOVSS (R9)(BX*4), X4; \
	LEAQ   (BX*4), AX; \
rqb1r: \
	CMPQ AX, R12; \
	JAE  rqb1s; \
	BODY1; \
	ADDQ R13, AX; \
	JMP  rqb1r; \
rqb1s: \
	VMOVSS X0, (R8)(BX*4); \
	VMOVSS X4, (R9)(BX*4); \
	INCQ   BX; \
	JMP    rqb1

// func requantGradAVX2(ds, db, ga, d, a, scale []float32)
//
// requantGrad without the accumulators' gradient (ga empty).
TEXT ·requantGradAVX2(SB), NOSPLIT, $0-144
	RQARGS(a_base+96, scale_base+120, scale_len+128)
	RQBLOCKS(RQGRAD8, RQGRAD1)

rqbdone:
	VZEROUPPER
	RET

// func requantGradGaAVX2(ds, db, ga, d, a, scale []float32)
//
// requantGrad adding into ga.
TEXT ·requantGradGaAVX2(SB), NOSPLIT, $0-144
	RQARGS(a_base+96, scale_base+120, scale_len+128)
	RQBLOCKS(RQGRADGA8, RQGRADGA1)

rqbdone:
	VZEROUPPER
	RET

// RQRGRAD8(off, S, B) is one row of 8 channels of requantReLUGradToAVX2:
// with out at AX(R14) and Y13 zero, dv = +0 + d where 0 < out, else +0;
// S += dv·a, B += dv, and ga at AX(R10) = +0 + dv·scale.
#define RQRGRAD8(off, S, B) \
	VCMPPS  $0x11, off(R14)(AX*1), Y13, Y12 \
	VADDPS  off(SI)(AX*1), Y13, Y8          \
	VANDPS  Y12, Y8, Y8                     \
	VMULPS  off(DI)(AX*1), Y8, Y9           \
	VADDPS  Y9, S, S                        \
	VADDPS  Y8, B, B                        \
	VMULPS  off(R11)(BX*4), Y8, Y10         \
	VADDPS  Y13, Y10, Y10                   \
	VMOVUPS Y10, off(R10)(AX*1)

// RQRGRAD1 is RQRGRAD8 for the one channel in X0 (ds) and X4 (db).
#define RQRGRAD1 \
	VMOVSS (R14)(AX*1), X12     \
	VCMPSS $0x11, X12, X13, X12 \
	VMOVSS (SI)(AX*1), X8       \
	VADDSS X8, X13, X8          \
	VANDPS X12, X8, X8          \
	VMULSS (DI)(AX*1), X8, X9   \
	VADDSS X9, X0, X0           \
	VADDSS X8, X4, X4           \
	VMULSS (R11)(BX*4), X8, X10 \
	VADDSS X13, X10, X10        \
	VMOVSS X10, (R10)(AX*1)

// func requantReLUGradToAVX2(ds, db, ga, d, out, a, scale []float32)
//
// requantGrad's column blocks with the gradient masked by out (R14) and
// ga written (Y13 zero).
TEXT ·requantReLUGradToAVX2(SB), NOSPLIT, $0-168
	MOVQ   out_base+96(FP), R14
	VXORPS Y13, Y13, Y13
	RQARGS(a_base+120, scale_base+144, scale_len+152)
	RQBLOCKS(RQRGRAD8, RQRGRAD1)

rqbdone:
	VZEROUPPER
	RET

// MINF(A, B, T1, T2) sets A to the builtin min(A, B) as the Go compiler
// computes it on amd64 (cmd/compile's AMD64.rules): t1 = MINPS(A, B) is
// wrong only where A is NaN or A = −0 < B = +0 by sign, t2 = MINPS(t1, A)
// is A there, and their bitwise OR is the minimum, −0 for two zeros of
// which one is −0, and A|B (a NaN) when either is a NaN.
#define MINF(A, B, T1, T2) \
	VMINPS B, A, T1  \
	VMINPS A, T1, T2 \
	VORPS  T1, T2, A

// CLAMP(V, T1, T2, NLO, HI, SGN) sets V to min(max(V, lo), hi) with the
// builtin max and min, max(x, y) being −min(−x, −y) as the compiler
// computes it: NLO holds −lo, HI hi, SGN the sign bit (Y9, Y10, Y11 or
// their low halves).
#define CLAMP(V, T1, T2, NLO, HI, SGN) \
	VXORPS SGN, V, V     \
	MINF(V, NLO, T1, T2) \
	VXORPS SGN, V, V     \
	MINF(V, HI, T1, T2)

// QUANT8(off, V) writes 8 values of thresh.Quantize: x/s rounded half to
// even (VROUNDPS mode 0, inexact suppressed), then clamped.
#define QUANT8(off, V) \
	VMOVUPS  off(SI)(BX*4), V \
	VDIVPS   Y8, V, V         \
	VROUNDPS $8, V, V         \
	CLAMP(V, Y4, Y5, Y9, Y10, Y11) \
	VMOVUPS  V, off(DI)(BX*4)

// func quantizeAVX2(dst, x []float32, s, lo, hi float32)
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS s+48(FP), Y8
	VBROADCASTSS lo+52(FP), Y9
	VBROADCASTSS hi+56(FP), Y10
	BCAST32($0x80000000, X11, Y11)
	VXORPS       Y11, Y9, Y9      // −lo
	XORQ         BX, BX

qz32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   qz8
	QUANT8(0, Y0)
	QUANT8(32, Y1)
	QUANT8(64, Y2)
	QUANT8(96, Y3)
	MOVQ DX, BX
	JMP  qz32

qz8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   qz1
	QUANT8(0, Y0)
	MOVQ DX, BX
	JMP  qz8

qz1:
	CMPQ     BX, CX
	JAE      qzdone
	VMOVSS   (SI)(BX*4), X0
	VDIVPS   X8, X0, X0
	VROUNDPS $8, X0, X0
	CLAMP(X0, X4, X5, X9, X10, X11)
	VMOVSS   X0, (DI)(BX*4)
	INCQ     BX
	JMP      qz1

qzdone:
	VZEROUPPER
	RET

// tailmask holds 8 all-ones and 8 zero dwords: the 8 dwords from index
// 8−r are the mask of a tail of r lanes.
DATA tailmask<>+0(SB)/8, $-1
DATA tailmask<>+8(SB)/8, $-1
DATA tailmask<>+16(SB)/8, $-1
DATA tailmask<>+24(SB)/8, $-1
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// QGBOUNDS loads the quantizer's backward constants: Y8 = s, Y9 = lo−0.5
// and Y10 = hi+0.5 from the arguments S, LO and HI (clobbers AX, X7).
#define QGBOUNDS(S, LO, HI) \
	VBROADCASTSS S, Y8; \
	MOVL         $0x3f000000, AX; \
	VMOVD        AX, X7; \
	VMOVSS       LO, X9; \
	VSUBSS       X7, X9, X9; \
	VBROADCASTSS X9, Y9; \
	VMOVSS       HI, X10; \
	VADDSS       X7, X10, X10; \
	VBROADCASTSS X10, Y10

// QGSUM stores into RET the float64 sum of the eight partial sums p[0..3]
// in YA (XA its low half) and p[4..7] in YB (XB), added pairwise:
// ((p0+p4)+(p2+p6)) + ((p1+p5)+(p3+p7)).
#define QGSUM(YA, XA, YB, XB, RET) \
	VADDPD       YB, YA, YA; \
	VEXTRACTF128 $1, YA, XB; \
	VADDPD       XB, XA, XA; \
	VUNPCKHPD    XA, XA, XB; \
	VADDSD       XB, XA, XA; \
	VMOVSD       XA, RET

// QGRADU loads 8 values of x and d at BX into Y0 and Y2 and sets Y0 to
// u = x/s and Y1 to the mask of the clamped lanes, u < lo−0.5 or
// hi+0.5 < u (false for a NaN).
#define QGRADU \
	VMOVUPS (SI)(BX*4), Y0     \
	VDIVPS  Y8, Y0, Y0         \
	VCMPPS  $0x11, Y9, Y0, Y1  \
	VCMPPS  $0x11, Y0, Y10, Y3 \
	VORPS   Y3, Y1, Y1         \
	VMOVUPS (DX)(BX*4), Y2

// QGRADGX computes gx + d/s in Y3 from the gx in Y4, keeping gx where Y1
// marks the lane clamped.
#define QGRADGX \
	VDIVPS    Y8, Y2, Y3     \
	VADDPS    Y3, Y4, Y3     \
	VBLENDVPS Y1, Y4, Y3, Y3

// QGRADSUM subtracts the products d·u of the lanes not clamped, in
// float64, from the partial sums Y12 (lanes 0–3) and Y13 (lanes 4–7);
// clamped lanes subtract +0·+0, which leaves a sum's bits unchanged.
#define QGRADSUM \
	VANDNPS      Y0, Y1, Y0  \
	VANDNPS      Y2, Y1, Y2  \
	VCVTPS2PD    X0, Y3      \
	VCVTPS2PD    X2, Y4      \
	VMULPD       Y3, Y4, Y4  \
	VSUBPD       Y4, Y12, Y12 \
	VEXTRACTF128 $1, Y0, X0  \
	VEXTRACTF128 $1, Y2, X2  \
	VCVTPS2PD    X0, Y3      \
	VCVTPS2PD    X2, Y4      \
	VMULPD       Y3, Y4, Y4  \
	VSUBPD       Y4, Y13, Y13

// func quantizeGradAVX2(gx, d, x []float32, s, lo, hi float32, set bool) float64
//
// Lane k of the 8-float blocks keeps the partial sum p[k]; a tail of
// fewer than 8 values is read and written through a lane mask (x and d
// read as +0 beyond it, u zeroed there, so those lanes subtract +0·+0 and
// store nothing). With set, gx is not read: its blocks are +0 (as if
// cleared) before d/s is added, so clamped lanes store +0.
TEXT ·quantizeGradAVX2(SB), NOSPLIT, $0-96
	MOVQ         gx_base+0(FP), DI
	MOVQ         gx_len+8(FP), R8
	MOVQ         d_base+24(FP), DX
	MOVQ         x_base+48(FP), SI
	MOVQ         x_len+56(FP), CX
	QGBOUNDS(s+72(FP), lo+76(FP), hi+80(FP))
	VXORPD       Y12, Y12, Y12
	VXORPD       Y13, Y13, Y13
	MOVBQZX      set+84(FP), R11
	XORQ         BX, BX
	TESTQ        R8, R8
	JNZ          qg8

qn8:
	LEAQ 8(BX), AX
	CMPQ AX, CX
	JA   qntail
	QGRADU
	QGRADSUM
	MOVQ AX, BX
	JMP  qn8

qntail:
	CMPQ       BX, CX
	JAE        qgsum
	LEAQ       tailmask<>(SB), R9
	MOVQ       CX, AX
	SUBQ       BX, AX
	NEGQ       AX
	VMOVUPS    32(R9)(AX*4), Y6     // mask of the CX−BX lanes left
	VMASKMOVPS (SI)(BX*4), Y6, Y0
	VDIVPS     Y8, Y0, Y0
	VANDPS     Y6, Y0, Y0
	VCMPPS     $0x11, Y9, Y0, Y1
	VCMPPS     $0x11, Y0, Y10, Y3
	VORPS      Y3, Y1, Y1
	VMASKMOVPS (DX)(BX*4), Y6, Y2
	QGRADSUM
	JMP        qgsum

qg8:
	LEAQ    8(BX), AX
	CMPQ    AX, CX
	JA      qgtail
	QGRADU
	VXORPS  Y4, Y4, Y4
	TESTQ   R11, R11
	JNZ     qg8set
	VMOVUPS (DI)(BX*4), Y4

qg8set:
	QGRADGX
	VMOVUPS Y3, (DI)(BX*4)
	QGRADSUM
	MOVQ    AX, BX
	JMP     qg8

qgtail:
	CMPQ       BX, CX
	JAE        qgsum
	LEAQ       tailmask<>(SB), R9
	MOVQ       CX, AX
	SUBQ       BX, AX
	NEGQ       AX
	VMOVUPS    32(R9)(AX*4), Y6
	VMASKMOVPS (SI)(BX*4), Y6, Y0
	VDIVPS     Y8, Y0, Y0
	VANDPS     Y6, Y0, Y0
	VCMPPS     $0x11, Y9, Y0, Y1
	VCMPPS     $0x11, Y0, Y10, Y3
	VORPS      Y3, Y1, Y1
	VMASKMOVPS (DX)(BX*4), Y6, Y2
	VXORPS     Y4, Y4, Y4
	TESTQ      R11, R11
	JNZ        qgtailset
	VMASKMOVPS (DI)(BX*4), Y6, Y4

qgtailset:
	QGRADGX
	VMASKMOVPS Y3, Y6, (DI)(BX*4)
	QGRADSUM

qgsum:
	QGSUM(Y12, X12, Y13, X13, ret+88(FP))
	VZEROUPPER
	RET

// absmask holds 8 dwords 0x7fffffff, the ReLU's sign clearing of the
// fused requantisation kernels (which take their all-ones and zero dwords
// from tailmask).
DATA absmask<>+0(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+8(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+16(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+24(SB)/8, $0x7fffffff7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $32

// RQQFLOOR sets up the optional ReLU of the fused kernels: with relu (the
// byte at argument RELU) Y12 = +0, R13 the sign-clearing mask and R14 the
// zero dwords, so that VMAXPS with Y12 as its first operand and VANDPS
// with (R13) are RELU8's ReLU and (Y12 < y) | (R14) is the ReLU's
// gradient mask; without, Y12 = −Inf and R13 = R14 all-ones, which leave
// y unchanged and the mask all-ones. Clobbers AX.
#define RQQFLOOR(RELU) \
	LEAQ    tailmask<>(SB), R13; \
	MOVQ    R13, R14; \
	BCAST32($0xff800000, X12, Y12); \
	MOVBQZX RELU(FP), AX; \
	TESTQ   AX, AX; \
	JZ      rqqfloor; \
	VXORPS  Y12, Y12, Y12; \
	LEAQ    32(R14), R14; \
	LEAQ    absmask<>(SB), R13; \
rqqfloor:

// RQQ8(off, V) writes 8 values of requantQuantize: REQUANT8's product and
// sum, the ReLU (RQQFLOOR), then QUANT8's quotient, rounding and clamp;
// RQQ1 one value.
#define RQQ8(off, V) \
	VMOVUPS  off(SI)(BX*4), V    \
	VMULPS   off(R8)(BX*4), V, V \
	VADDPS   off(R9)(BX*4), V, V \
	VMAXPS   V, Y12, V           \
	VANDPS   Y13, V, V           \
	VDIVPS   Y8, V, V            \
	VROUNDPS $8, V, V            \
	CLAMP(V, Y4, Y5, Y9, Y10, Y11) \
	VMOVUPS  V, off(DI)(BX*4)

#define RQQ1 \
	VMOVSS   (SI)(BX*4), X0     \
	VMULSS   (R8)(BX*4), X0, X0 \
	VADDSS   (R9)(BX*4), X0, X0 \
	VMAXSS   X0, X12, X0        \
	VANDPS   X13, X0, X0        \
	VDIVPS   X8, X0, X0         \
	VROUNDPS $8, X0, X0         \
	CLAMP(X0, X4, X5, X9, X10, X11) \
	VMOVSS   X0, (DI)(BX*4)

// func requantQuantizeAVX2(xi, a, scale, bias []float32, relu bool, s, lo, hi float32)
TEXT ·requantQuantizeAVX2(SB), NOSPLIT, $0-112
	RQQFLOOR(relu+96)
	VMOVUPS      (R13), Y13
	VBROADCASTSS s+100(FP), Y8
	VBROADCASTSS lo+104(FP), Y9
	VBROADCASTSS hi+108(FP), Y10
	BCAST32($0x80000000, X11, Y11)
	VXORPS       Y11, Y9, Y9      // −lo
	MOVQ         xi_base+0(FP), DI
	MOVQ         a_base+24(FP), SI
	MOVQ         a_len+32(FP), AX
	MOVQ         scale_base+48(FP), R8
	MOVQ         scale_len+56(FP), CX
	MOVQ         bias_base+72(FP), R9
	RQROWS(RQQ8, RQQ1)

rqdone:
	VZEROUPPER
	RET

// Loads and stores of whole 8-lane blocks (RQQLD, RQQST) and of a row's
// last block of fewer lanes, through the mask in Y14 (RQQLDM, RQQSTM,
// which read +0 and write nothing beyond it).
#define RQQLD(m, r) VMOVUPS m, r
#define RQQST(r, m) VMOVUPS r, m
#define RQQLDM(m, r) VMASKMOVPS m, Y14, r
#define RQQSTM(r, m) VMASKMOVPS r, Y14, m
#define RQQALL
#define RQQTAILU VANDPS Y14, Y2, Y2

// RQQGRAD(LD, ST, MASKU) is one block of 8 channels of
// requantQuantizeGradToAVX2 at channel BX: y recomputed from a (Y0),
// scale (Y6) and bias; u = y/s (Y2, zeroed beyond a tail by MASKU); the
// clamped lanes (Y3) and those also through the ReLU (Y5 kept); the
// products d·u of the unclamped lanes subtracted from the float64 sums Y11
// (lanes 0–3) and Y15 (lanes 4–7) as QGRADSUM does; dv = (+0 + d/s)
// where kept (Y4); ds += dv·a, db += dv, ga = +0 + dv·scale.
#define RQQGRAD(LD, ST, MASKU) \
	LD((SI)(BX*4), Y0)          \
	LD((R11)(BX*4), Y6)         \
	VMULPS       Y6, Y0, Y1     \
	LD((R10)(BX*4), Y7)         \
	VADDPS       Y7, Y1, Y1     \
	VMAXPS       Y1, Y12, Y1    \
	VANDPS       (R13), Y1, Y1  \
	VDIVPS       Y8, Y1, Y2     \
	MASKU                       \
	VCMPPS       $0x11, Y9, Y2, Y3  \
	VCMPPS       $0x11, Y2, Y10, Y5 \
	VORPS        Y5, Y3, Y3     \
	VCMPPS       $0x11, Y1, Y12, Y5 \
	VORPS        (R14), Y5, Y5  \
	VANDNPS      Y5, Y3, Y5     \
	LD((DX)(BX*4), Y4)          \
	VANDNPS      Y2, Y3, Y2     \
	VANDNPS      Y4, Y3, Y3     \
	VCVTPS2PD    X2, Y7         \
	VCVTPS2PD    X3, Y13        \
	VMULPD       Y7, Y13, Y13   \
	VSUBPD       Y13, Y11, Y11  \
	VEXTRACTF128 $1, Y2, X2     \
	VEXTRACTF128 $1, Y3, X3     \
	VCVTPS2PD    X2, Y7         \
	VCVTPS2PD    X3, Y13        \
	VMULPD       Y7, Y13, Y13   \
	VSUBPD       Y13, Y15, Y15  \
	VDIVPS       Y8, Y4, Y4     \
	VXORPS       Y7, Y7, Y7     \
	VADDPS       Y4, Y7, Y4     \
	VANDPS       Y5, Y4, Y4     \
	VMULPS       Y0, Y4, Y2     \
	LD((R8)(BX*4), Y3)          \
	VADDPS       Y2, Y3, Y3     \
	ST(Y3, (R8)(BX*4))          \
	LD((R9)(BX*4), Y3)          \
	VADDPS       Y4, Y3, Y3     \
	ST(Y3, (R9)(BX*4))          \
	VMULPS       Y6, Y4, Y2     \
	VADDPS       Y2, Y7, Y2     \
	ST(Y2, (DI)(BX*4))

// func requantQuantizeGradToAVX2(ds, db, ga, d, a, scale, bias []float32, relu bool, s, lo, hi float32) float64
//
// Rows in order, each in blocks of 8 channels and a masked last block
// (the mask of c mod 8 lanes in Y14), so that lane k of the sums holds
// p[k] over channels k, k+8, … of every row.
TEXT ·requantQuantizeGradToAVX2(SB), NOSPLIT, $0-192
	RQQFLOOR(relu+168)
	MOVQ         ds_base+0(FP), R8
	MOVQ         db_base+24(FP), R9
	MOVQ         ga_base+48(FP), DI
	MOVQ         d_base+72(FP), DX
	MOVQ         d_len+80(FP), R12
	MOVQ         a_base+96(FP), SI
	MOVQ         scale_base+120(FP), R11
	MOVQ         scale_len+128(FP), CX
	MOVQ         bias_base+144(FP), R10
	QGBOUNDS(s+172(FP), lo+176(FP), hi+180(FP))
	VXORPD       Y11, Y11, Y11
	VXORPD       Y15, Y15, Y15
	TESTQ        CX, CX
	JZ           rqgsum
	MOVQ         CX, AX
	ANDQ         $7, AX
	NEGQ         AX
	LEAQ         tailmask<>(SB), BX
	VMOVUPS      32(BX)(AX*4), Y14 // mask of the c mod 8 lanes of a row's last block
	LEAQ         (DX)(R12*4), R12  // end of d

rqgrow:
	CMPQ DX, R12
	JAE  rqgsum
	XORQ BX, BX

rqg8:
	LEAQ 8(BX), AX
	CMPQ AX, CX
	JA   rqgtail
	RQQGRAD(RQQLD, RQQST, RQQALL)
	MOVQ AX, BX
	JMP  rqg8

rqgtail:
	CMPQ BX, CX
	JAE  rqgnext
	RQQGRAD(RQQLDM, RQQSTM, RQQTAILU)

rqgnext:
	LEAQ (DX)(CX*4), DX
	LEAQ (SI)(CX*4), SI
	LEAQ (DI)(CX*4), DI
	JMP  rqgrow

rqgsum:
	QGSUM(Y11, X11, Y15, X15, ret+184(FP))
	VZEROUPPER
	RET

// DWTAP(off, A, T) adds the product of 8 inputs at off(SI)(CX*4) and 8
// weights at off(DX)(R12*4) into A (the input the product's first
// operand, the sum's the accumulator).
#define DWTAP(off, A, T) \
	VMOVUPS off(SI)(CX*4), T   \
	VMULPS  off(DX)(R12*4), T, T \
	VADDPS  T, A, A

// DWTAPOFF loads the tap at AX (bytes into the taps at R8) as indices
// CX (input) and R12 (weight) of channel BX.
#define DWTAPOFF \
	MOVQ (R8)(AX*1), CX  \
	ADDQ BX, CX          \
	MOVQ 8(R8)(AX*1), R12 \
	ADDQ BX, R12

// func depthwiseRunAVX2(out []float32, ostep int, x []float32, xstep int, w []float32, taps []Tap, n, c int, acc bool)
//
// Per pixel, blocks of 32, 8 and 1 channels are summed in registers over
// the taps, then stored.
TEXT ·depthwiseRunAVX2(SB), NOSPLIT, $0-129
	MOVQ taps_base+88(FP), R8
	MOVQ taps_len+96(FP), R9
	SHLQ $4, R9              // bytes of taps
	MOVQ out_base+0(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ w_base+64(FP), DX
	MOVQ n+112(FP), R10
	MOVQ c+120(FP), R11

drpix:
	XORQ BX, BX

dr32:
	LEAQ  32(BX), R13
	CMPQ  R13, R11
	JA    dr8
	CMPB  acc+128(FP), $0
	JEQ   dr32z
	VMOVUPS (DI)(BX*4), Y0
	VMOVUPS 32(DI)(BX*4), Y1
	VMOVUPS 64(DI)(BX*4), Y2
	VMOVUPS 96(DI)(BX*4), Y3
	JMP   dr32t0

dr32z:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dr32t0:
	XORQ AX, AX

dr32t:
	CMPQ AX, R9
	JAE  dr32s
	DWTAPOFF
	DWTAP(0, Y0, Y4)
	DWTAP(32, Y1, Y5)
	DWTAP(64, Y2, Y6)
	DWTAP(96, Y3, Y7)
	ADDQ $16, AX
	JMP  dr32t

dr32s:
	VMOVUPS Y0, (DI)(BX*4)
	VMOVUPS Y1, 32(DI)(BX*4)
	VMOVUPS Y2, 64(DI)(BX*4)
	VMOVUPS Y3, 96(DI)(BX*4)
	MOVQ    R13, BX
	JMP     dr32

dr8:
	LEAQ  8(BX), R13
	CMPQ  R13, R11
	JA    dr1
	VXORPS Y0, Y0, Y0
	CMPB  acc+128(FP), $0
	JEQ   dr8t0
	VMOVUPS (DI)(BX*4), Y0

dr8t0:
	XORQ AX, AX

dr8t:
	CMPQ AX, R9
	JAE  dr8s
	DWTAPOFF
	DWTAP(0, Y0, Y4)
	ADDQ $16, AX
	JMP  dr8t

dr8s:
	VMOVUPS Y0, (DI)(BX*4)
	MOVQ    R13, BX
	JMP     dr8

dr1:
	CMPQ   BX, R11
	JAE    drnext
	VXORPS X0, X0, X0
	CMPB   acc+128(FP), $0
	JEQ    dr1t0
	VMOVSS (DI)(BX*4), X0

dr1t0:
	XORQ AX, AX

dr1t:
	CMPQ   AX, R9
	JAE    dr1s
	DWTAPOFF
	VMOVSS (SI)(CX*4), X4
	VMULSS (DX)(R12*4), X4, X4
	VADDSS X4, X0, X0
	ADDQ   $16, AX
	JMP    dr1t

dr1s:
	VMOVSS X0, (DI)(BX*4)
	INCQ   BX
	JMP    dr1

drnext:
	MOVQ ostep+24(FP), CX
	LEAQ (DI)(CX*4), DI
	MOVQ xstep+56(FP), CX
	LEAQ (SI)(CX*4), SI
	DECQ R10
	JNZ  drpix
	VZEROUPPER
	RET

// DWGRAD(off, A, T) adds the product of 8 output gradients at off(R13)
// and 8 inputs at off(DI) into A.
#define DWGRAD(off, A, T) \
	VMOVUPS off(R13), T  \
	VMULPS  off(DI), T, T \
	VADDPS  T, A, A

// DWGRADTAP sets CX to the weight gradient of channel BX of the tap at AX
// (bytes into the taps at R9), DI to its input in pixel 0 and R13 to the
// output gradient of channel BX in pixel 0.
#define DWGRADTAP \
	MOVQ 8(R9)(AX*1), CX  \
	ADDQ BX, CX           \
	LEAQ (DX)(CX*4), CX   \
	MOVQ (R9)(AX*1), DI   \
	ADDQ BX, DI           \
	LEAQ (SI)(DI*4), DI   \
	LEAQ (R8)(BX*4), R13

// func depthwiseGradRunAVX2(dw, d []float32, dstep int, x []float32, xstep int, taps []Tap, n, c int)
//
// Per block of 32, 8 or 1 channels and per tap, the weight gradient is
// summed in registers over the pixels, then stored.
TEXT ·depthwiseGradRunAVX2(SB), NOSPLIT, $0-128
	MOVQ dw_base+0(FP), DX
	MOVQ d_base+24(FP), R8
	MOVQ dstep+48(FP), R11
	SHLQ $2, R11             // bytes between pixels of d
	MOVQ x_base+56(FP), SI
	MOVQ xstep+80(FP), R12
	SHLQ $2, R12             // bytes between pixels of x
	MOVQ taps_base+88(FP), R9
	XORQ BX, BX

gr32:
	LEAQ 32(BX), AX
	CMPQ AX, c+120(FP)
	JA   gr8
	XORQ AX, AX

gr32t:
	MOVQ taps_len+96(FP), CX
	SHLQ $4, CX
	CMPQ AX, CX
	JAE  gr32n
	DWGRADTAP
	MOVQ    n+112(FP), R10
	VMOVUPS (CX), Y0
	VMOVUPS 32(CX), Y1
	VMOVUPS 64(CX), Y2
	VMOVUPS 96(CX), Y3

gr32p:
	DWGRAD(0, Y0, Y4)
	DWGRAD(32, Y1, Y5)
	DWGRAD(64, Y2, Y6)
	DWGRAD(96, Y3, Y7)
	ADDQ R11, R13
	ADDQ R12, DI
	DECQ R10
	JNZ  gr32p
	VMOVUPS Y0, (CX)
	VMOVUPS Y1, 32(CX)
	VMOVUPS Y2, 64(CX)
	VMOVUPS Y3, 96(CX)
	ADDQ    $16, AX
	JMP     gr32t

gr32n:
	ADDQ $32, BX
	JMP  gr32

gr8:
	LEAQ 8(BX), AX
	CMPQ AX, c+120(FP)
	JA   gr1
	XORQ AX, AX

gr8t:
	MOVQ taps_len+96(FP), CX
	SHLQ $4, CX
	CMPQ AX, CX
	JAE  gr8n
	DWGRADTAP
	MOVQ    n+112(FP), R10
	VMOVUPS (CX), Y0

gr8p:
	DWGRAD(0, Y0, Y4)
	ADDQ R11, R13
	ADDQ R12, DI
	DECQ R10
	JNZ  gr8p
	VMOVUPS Y0, (CX)
	ADDQ    $16, AX
	JMP     gr8t

gr8n:
	ADDQ $8, BX
	JMP  gr8

gr1:
	CMPQ BX, c+120(FP)
	JAE  grdone
	XORQ AX, AX

gr1t:
	MOVQ taps_len+96(FP), CX
	SHLQ $4, CX
	CMPQ AX, CX
	JAE  gr1n
	DWGRADTAP
	MOVQ    n+112(FP), R10
	VMOVSS (CX), X0

gr1p:
	VMOVSS (R13), X4
	VMULSS (DI), X4, X4
	VADDSS X4, X0, X0
	ADDQ   R11, R13
	ADDQ   R12, DI
	DECQ   R10
	JNZ    gr1p
	VMOVSS X0, (CX)
	ADDQ   $16, AX
	JMP    gr1t

gr1n:
	INCQ BX
	JMP  gr1

grdone:
	VZEROUPPER
	RET

// COLSQ4(off, S, P, A, B) adds 4 values of x at off(SI), as float64, into
// S, and their squares into P.
#define COLSQ4(off, S, P, A, B) \
	VCVTPS2PD off(SI), A \
	VADDPD    A, S, S    \
	VMULPD    A, A, B    \
	VADDPD    B, P, P

// func colSums64AVX2(sum, sq []float64, x []float32, rows, stride int)
//
// Column blocks of 16, 4 and 1 are kept in registers while the rows are
// added in order.
TEXT ·colSums64AVX2(SB), NOSPLIT, $0-88
	MOVQ sum_base+0(FP), R8
	MOVQ sum_len+8(FP), R11
	MOVQ sq_base+24(FP), R9
	MOVQ x_base+48(FP), R12
	MOVQ stride+80(FP), DX
	SHLQ $2, DX              // row stride in bytes
	XORQ BX, BX

cs16:
	LEAQ    16(BX), AX
	CMPQ    AX, R11
	JA      cs4
	VMOVUPD (R8)(BX*8), Y0
	VMOVUPD 32(R8)(BX*8), Y1
	VMOVUPD 64(R8)(BX*8), Y2
	VMOVUPD 96(R8)(BX*8), Y3
	VMOVUPD (R9)(BX*8), Y4
	VMOVUPD 32(R9)(BX*8), Y5
	VMOVUPD 64(R9)(BX*8), Y6
	VMOVUPD 96(R9)(BX*8), Y7
	LEAQ    (R12)(BX*4), SI
	MOVQ    rows+72(FP), CX
	TESTQ   CX, CX
	JZ      cs16s

cs16r:
	COLSQ4(0, Y0, Y4, Y8, Y12)
	COLSQ4(16, Y1, Y5, Y9, Y13)
	COLSQ4(32, Y2, Y6, Y10, Y14)
	COLSQ4(48, Y3, Y7, Y11, Y15)
	ADDQ DX, SI
	DECQ CX
	JNZ  cs16r

cs16s:
	VMOVUPD Y0, (R8)(BX*8)
	VMOVUPD Y1, 32(R8)(BX*8)
	VMOVUPD Y2, 64(R8)(BX*8)
	VMOVUPD Y3, 96(R8)(BX*8)
	VMOVUPD Y4, (R9)(BX*8)
	VMOVUPD Y5, 32(R9)(BX*8)
	VMOVUPD Y6, 64(R9)(BX*8)
	VMOVUPD Y7, 96(R9)(BX*8)
	MOVQ    AX, BX
	JMP     cs16

cs4:
	LEAQ    4(BX), AX
	CMPQ    AX, R11
	JA      cs1
	VMOVUPD (R8)(BX*8), Y0
	VMOVUPD (R9)(BX*8), Y4
	LEAQ    (R12)(BX*4), SI
	MOVQ    rows+72(FP), CX
	TESTQ   CX, CX
	JZ      cs4s

cs4r:
	COLSQ4(0, Y0, Y4, Y8, Y12)
	ADDQ DX, SI
	DECQ CX
	JNZ  cs4r

cs4s:
	VMOVUPD Y0, (R8)(BX*8)
	VMOVUPD Y4, (R9)(BX*8)
	MOVQ    AX, BX
	JMP     cs4

cs1:
	CMPQ   BX, R11
	JAE    csdone
	VMOVSD (R8)(BX*8), X0
	VMOVSD (R9)(BX*8), X4
	LEAQ   (R12)(BX*4), SI
	MOVQ   rows+72(FP), CX
	TESTQ  CX, CX
	JZ     cs1s

cs1r:
	VCVTSS2SD (SI), X8, X8
	VADDSD    X8, X0, X0
	VMULSD    X8, X8, X12
	VADDSD    X12, X4, X4
	ADDQ      DX, SI
	DECQ      CX
	JNZ       cs1r

cs1s:
	VMOVSD X0, (R8)(BX*8)
	VMOVSD X4, (R9)(BX*8)
	INCQ   BX
	JMP    cs1

csdone:
	VZEROUPPER
	RET

// BNSUM8(off, offhi, S0, S1, P0, P1) adds 8 output gradients d at off(SI)
// (the upper 4 at offhi), as float64, into S0 and S1, and their products
// with x̂ = (x − μ)·invStd of the 8 inputs at off(DI) (μ and invStd at
// off(R10) and off(R11)) into P0 and P1.
#define BNSUM8(off, offhi, S0, S1, P0, P1) \
	VMOVUPS      off(DI), Y8     \
	VSUBPS       off(R10), Y8, Y8 \
	VMULPS       off(R11), Y8, Y8 \
	VCVTPS2PD    off(SI), Y9     \
	VCVTPS2PD    offhi(SI), Y10  \
	VADDPD       Y9, S0, S0      \
	VADDPD       Y10, S1, S1     \
	VCVTPS2PD    X8, Y11         \
	VEXTRACTF128 $1, Y8, X8      \
	VCVTPS2PD    X8, Y12         \
	VMULPD       Y11, Y9, Y11    \
	VMULPD       Y12, Y10, Y12   \
	VADDPD       Y11, P0, P0     \
	VADDPD       Y12, P1, P1

// BNSUMCOLS sets SI and DI to column BX of the first rows of d and x, and
// R10 and R11, holding μ and invStd, to their column BX.
#define BNSUMCOLS \
	LEAQ (R12)(BX*4), SI  \
	LEAQ (R13)(BX*4), DI  \
	LEAQ (R10)(BX*4), R10 \
	LEAQ (R11)(BX*4), R11

// func batchNormSumsAVX2(sum, prod []float64, d, x, mu, invStd []float32, rows, stride int)
//
// Column blocks of 16, 4 and 1 are kept in registers while the rows are
// added in order.
TEXT ·batchNormSumsAVX2(SB), NOSPLIT, $0-160
	MOVQ sum_base+0(FP), R8
	MOVQ sum_len+8(FP), R9
	MOVQ d_base+48(FP), R12
	MOVQ x_base+72(FP), R13
	MOVQ stride+152(FP), DX
	SHLQ $2, DX              // row stride in bytes
	XORQ BX, BX

ns16:
	LEAQ    16(BX), AX
	CMPQ    AX, R9
	JA      ns4
	VMOVUPD (R8)(BX*8), Y0
	VMOVUPD 32(R8)(BX*8), Y1
	VMOVUPD 64(R8)(BX*8), Y2
	VMOVUPD 96(R8)(BX*8), Y3
	MOVQ    prod_base+24(FP), R10
	VMOVUPD (R10)(BX*8), Y4
	VMOVUPD 32(R10)(BX*8), Y5
	VMOVUPD 64(R10)(BX*8), Y6
	VMOVUPD 96(R10)(BX*8), Y7
	MOVQ    mu_base+96(FP), R10
	MOVQ    invStd_base+120(FP), R11
	BNSUMCOLS
	MOVQ    rows+144(FP), CX
	TESTQ   CX, CX
	JZ      ns16s

ns16r:
	BNSUM8(0, 16, Y0, Y1, Y4, Y5)
	BNSUM8(32, 48, Y2, Y3, Y6, Y7)
	ADDQ DX, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  ns16r

ns16s:
	VMOVUPD Y0, (R8)(BX*8)
	VMOVUPD Y1, 32(R8)(BX*8)
	VMOVUPD Y2, 64(R8)(BX*8)
	VMOVUPD Y3, 96(R8)(BX*8)
	MOVQ    prod_base+24(FP), R10
	VMOVUPD Y4, (R10)(BX*8)
	VMOVUPD Y5, 32(R10)(BX*8)
	VMOVUPD Y6, 64(R10)(BX*8)
	VMOVUPD Y7, 96(R10)(BX*8)
	MOVQ    AX, BX
	JMP     ns16

ns4:
	LEAQ    4(BX), AX
	CMPQ    AX, R9
	JA      ns1
	VMOVUPD (R8)(BX*8), Y0
	MOVQ    prod_base+24(FP), R10
	VMOVUPD (R10)(BX*8), Y4
	MOVQ    mu_base+96(FP), R10
	MOVQ    invStd_base+120(FP), R11
	BNSUMCOLS
	MOVQ    rows+144(FP), CX
	TESTQ   CX, CX
	JZ      ns4s

ns4r:
	VMOVUPS   (DI), X8
	VSUBPS    (R10), X8, X8
	VMULPS    (R11), X8, X8
	VCVTPS2PD (SI), Y9
	VADDPD    Y9, Y0, Y0
	VCVTPS2PD X8, Y11
	VMULPD    Y11, Y9, Y11
	VADDPD    Y11, Y4, Y4
	ADDQ      DX, SI
	ADDQ      DX, DI
	DECQ      CX
	JNZ       ns4r

ns4s:
	VMOVUPD Y0, (R8)(BX*8)
	MOVQ    prod_base+24(FP), R10
	VMOVUPD Y4, (R10)(BX*8)
	MOVQ    AX, BX
	JMP     ns4

ns1:
	CMPQ   BX, R9
	JAE    nsdone
	VMOVSD (R8)(BX*8), X0
	MOVQ   prod_base+24(FP), R10
	VMOVSD (R10)(BX*8), X4
	MOVQ    mu_base+96(FP), R10
	MOVQ    invStd_base+120(FP), R11
	BNSUMCOLS
	MOVQ    rows+144(FP), CX
	TESTQ  CX, CX
	JZ     ns1s

ns1r:
	VMOVSS    (DI), X8
	VSUBSS    (R10), X8, X8
	VMULSS    (R11), X8, X8
	VCVTSS2SD (SI), X9, X9
	VADDSD    X9, X0, X0
	VCVTSS2SD X8, X11, X11
	VMULSD    X11, X9, X11
	VADDSD    X11, X4, X4
	ADDQ      DX, SI
	ADDQ      DX, DI
	DECQ      CX
	JNZ       ns1r

ns1s:
	VMOVSD X0, (R8)(BX*8)
	MOVQ   prod_base+24(FP), R10
	VMOVSD X4, (R10)(BX*8)
	INCQ   BX
	JMP    ns1

nsdone:
	VZEROUPPER
	RET

// BNROW(off, V, T) writes γ·(x − μ)·invStd + β for 8 values of x at
// off(SI) to off(DI) (channel BX).
#define BNROW(off, V, T) \
	VMOVUPS off(SI), V             \
	VSUBPS  off(R9)(BX*4), V, V    \
	VMULPS  off(R10)(BX*4), V, V   \
	VMOVUPS off(R11)(BX*4), T      \
	VMULPS  V, T, T                \
	VADDPS  off(R12)(BX*4), T, T   \
	VMOVUPS T, off(DI)

// func batchNormRowsAVX2(out, x, mu, invStd, gamma, beta []float32)
TEXT ·batchNormRowsAVX2(SB), NOSPLIT, $0-144
	MOVQ  out_base+0(FP), DI
	MOVQ  x_base+24(FP), SI
	MOVQ  x_len+32(FP), R13
	MOVQ  mu_base+48(FP), R9
	MOVQ  mu_len+56(FP), CX
	MOVQ  invStd_base+72(FP), R10
	MOVQ  gamma_base+96(FP), R11
	MOVQ  beta_base+120(FP), R12
	TESTQ CX, CX
	JZ    bndone
	LEAQ  (SI)(R13*4), R13   // end of x

bnrow:
	CMPQ SI, R13
	JAE  bndone
	XORQ BX, BX

bn32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   bn8
	BNROW(0, Y0, Y4)
	BNROW(32, Y1, Y5)
	BNROW(64, Y2, Y6)
	BNROW(96, Y3, Y7)
	ADDQ $128, SI
	ADDQ $128, DI
	MOVQ DX, BX
	JMP  bn32

bn8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   bn1
	BNROW(0, Y0, Y4)
	ADDQ $32, SI
	ADDQ $32, DI
	MOVQ DX, BX
	JMP  bn8

bn1:
	CMPQ   BX, CX
	JAE    bnrow
	VMOVSS (SI), X0
	VSUBSS (R9)(BX*4), X0, X0
	VMULSS (R10)(BX*4), X0, X0
	VMOVSS (R11)(BX*4), X4
	VMULSS X0, X4, X4
	VADDSS (R12)(BX*4), X4, X4
	VMOVSS X4, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	INCQ   BX
	JMP    bn1

bndone:
	VZEROUPPER
	RET

// BNGRAD(off, V, T) computes 8 values of a·((d − b1) − x̂·b2) into V, with
// x̂ = (x − μ)·invStd (row pointers SI for d, R8 for x; channel BX).
#define BNGRAD(off, V, T) \
	VMOVUPS off(R8), T            \
	VSUBPS  off(AX)(BX*4), T, T   \
	VMULPS  off(R12)(BX*4), T, T  \
	VMULPS  off(R11)(BX*4), T, T  \
	VMOVUPS off(SI), V            \
	VSUBPS  off(R10)(BX*4), V, V  \
	VSUBPS  T, V, V               \
	VMOVUPS off(R9)(BX*4), T      \
	VMULPS  V, T, V

// BNGACC(off, V, T) adds V to 8 values of g at off(DI).
#define BNGACC(off, V, T) \
	VMOVUPS off(DI), T \
	VADDPS  V, T, T    \
	VMOVUPS T, off(DI)

// BNGSET(off, V, T) writes +0 + V (Y15 is +0) to 8 values of g at off(DI).
#define BNGSET(off, V, T) \
	VADDPS  V, Y15, T \
	VMOVUPS T, off(DI)

// BNGSCALAR computes one value of a·((d − b1) − x̂·b2) into X0.
#define BNGSCALAR \
	VMOVSS (R8), X4            \
	VSUBSS (AX)(BX*4), X4, X4  \
	VMULSS (R12)(BX*4), X4, X4 \
	VMULSS (R11)(BX*4), X4, X4 \
	VMOVSS (SI), X0            \
	VSUBSS (R10)(BX*4), X0, X0 \
	VSUBSS X4, X0, X0          \
	VMOVSS (R9)(BX*4), X4      \
	VMULSS X0, X4, X0

// func batchNormGradRowsAVX2(g, d, x, mu, invStd, a, b1, b2 []float32, acc bool)
TEXT ·batchNormGradRowsAVX2(SB), NOSPLIT, $0-193
	MOVQ   g_base+0(FP), DI
	MOVQ   g_len+8(FP), R13
	MOVQ   d_base+24(FP), SI
	MOVQ   x_base+48(FP), R8
	MOVQ   mu_base+72(FP), AX
	MOVQ   invStd_base+96(FP), R12
	MOVQ   a_base+120(FP), R9
	MOVQ   a_len+128(FP), CX
	MOVQ   b1_base+144(FP), R10
	MOVQ   b2_base+168(FP), R11
	VXORPS Y15, Y15, Y15
	TESTQ  CX, CX
	JZ     bgdone
	LEAQ   (DI)(R13*4), R13  // end of g
	CMPB   acc+192(FP), $0
	JEQ    bsrow

bgrow:
	CMPQ DI, R13
	JAE  bgdone
	XORQ BX, BX

bg32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   bg8
	BNGRAD(0, Y0, Y4)
	BNGRAD(32, Y1, Y5)
	BNGRAD(64, Y2, Y6)
	BNGRAD(96, Y3, Y7)
	BNGACC(0, Y0, Y4)
	BNGACC(32, Y1, Y5)
	BNGACC(64, Y2, Y6)
	BNGACC(96, Y3, Y7)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, DI
	MOVQ DX, BX
	JMP  bg32

bg8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   bg1
	BNGRAD(0, Y0, Y4)
	BNGACC(0, Y0, Y4)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, DI
	MOVQ DX, BX
	JMP  bg8

bg1:
	CMPQ BX, CX
	JAE  bgrow
	BNGSCALAR
	VMOVSS (DI), X4
	VADDSS X0, X4, X4
	VMOVSS X4, (DI)
	ADDQ   $4, SI
	ADDQ   $4, R8
	ADDQ   $4, DI
	INCQ   BX
	JMP    bg1

bsrow:
	CMPQ DI, R13
	JAE  bgdone
	XORQ BX, BX

bs32:
	LEAQ 32(BX), DX
	CMPQ DX, CX
	JA   bs8
	BNGRAD(0, Y0, Y4)
	BNGRAD(32, Y1, Y5)
	BNGRAD(64, Y2, Y6)
	BNGRAD(96, Y3, Y7)
	BNGSET(0, Y0, Y4)
	BNGSET(32, Y1, Y5)
	BNGSET(64, Y2, Y6)
	BNGSET(96, Y3, Y7)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, DI
	MOVQ DX, BX
	JMP  bs32

bs8:
	LEAQ 8(BX), DX
	CMPQ DX, CX
	JA   bs1
	BNGRAD(0, Y0, Y4)
	BNGSET(0, Y0, Y4)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, DI
	MOVQ DX, BX
	JMP  bs8

bs1:
	CMPQ BX, CX
	JAE  bsrow
	BNGSCALAR
	VADDSS X0, X15, X4
	VMOVSS X4, (DI)
	ADDQ   $4, SI
	ADDQ   $4, R8
	ADDQ   $4, DI
	INCQ   BX
	JMP    bs1

bgdone:
	VZEROUPPER
	RET
