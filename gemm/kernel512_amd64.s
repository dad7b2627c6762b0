//go:build !noasm

#include "textflag.h"
#include "gather_amd64.h"

// The 12×32 AVX-512 micro-kernels keep row i of the C tile in Z(4+2i) and
// Z(5+2i) (Z4..Z27), load the packed B row into Z0, Z1 and broadcast A
// values through Z2, Z3.

// FMA12 multiplies the broadcast values of rows (r, r+1) into their rows.
#define FMA2(ra0, ra1, rb0, rb1) \
	VFMADD231PS Z0, Z2, ra0 \
	VFMADD231PS Z1, Z2, ra1 \
	VFMADD231PS Z0, Z3, rb0 \
	VFMADD231PS Z1, Z3, rb1

// P12 is one k step of the packed kernel; ao is the byte offset of the step's
// A column inside the panel (the twelve values at ao..ao+44), bo that of the
// B row.
#define P12(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, b0, b1) \
	VMOVUPS      b0(DI), Z0              \
	VMOVUPS      b1(DI), Z1              \
	VBROADCASTSS a0(SI), Z2              \
	VBROADCASTSS a1(SI), Z3              \
	FMA2(Z4, Z5, Z6, Z7)                 \
	VBROADCASTSS a2(SI), Z2              \
	VBROADCASTSS a3(SI), Z3              \
	FMA2(Z8, Z9, Z10, Z11)               \
	VBROADCASTSS a4(SI), Z2              \
	VBROADCASTSS a5(SI), Z3              \
	FMA2(Z12, Z13, Z14, Z15)             \
	VBROADCASTSS a6(SI), Z2              \
	VBROADCASTSS a7(SI), Z3              \
	FMA2(Z16, Z17, Z18, Z19)             \
	VBROADCASTSS a8(SI), Z2              \
	VBROADCASTSS a9(SI), Z3              \
	FMA2(Z20, Z21, Z22, Z23)             \
	VBROADCASTSS a10(SI), Z2             \
	VBROADCASTSS a11(SI), Z3             \
	FMA2(Z24, Z25, Z26, Z27)

// D12 is one k step of the direct kernel: row i of A at byte offset ao from
// the base of its group of three rows (SI, R11, R12, R13), AX = lda bytes.
#define D12(ao, b0, b1) \
	VMOVUPS      b0(DI), Z0              \
	VMOVUPS      b1(DI), Z1              \
	VBROADCASTSS ao(SI), Z2              \
	VBROADCASTSS ao(SI)(AX*1), Z3        \
	FMA2(Z4, Z5, Z6, Z7)                 \
	VBROADCASTSS ao(SI)(AX*2), Z2        \
	VBROADCASTSS ao(R11), Z3             \
	FMA2(Z8, Z9, Z10, Z11)               \
	VBROADCASTSS ao(R11)(AX*1), Z2       \
	VBROADCASTSS ao(R11)(AX*2), Z3       \
	FMA2(Z12, Z13, Z14, Z15)             \
	VBROADCASTSS ao(R12), Z2             \
	VBROADCASTSS ao(R12)(AX*1), Z3       \
	FMA2(Z16, Z17, Z18, Z19)             \
	VBROADCASTSS ao(R12)(AX*2), Z2       \
	VBROADCASTSS ao(R13), Z3             \
	FMA2(Z20, Z21, Z22, Z23)             \
	VBROADCASTSS ao(R13)(AX*1), Z2       \
	VBROADCASTSS ao(R13)(AX*2), Z3       \
	FMA2(Z24, Z25, Z26, Z27)

#define ZERO24 \
	VPXORD Z4, Z4, Z4    \
	VPXORD Z5, Z5, Z5    \
	VPXORD Z6, Z6, Z6    \
	VPXORD Z7, Z7, Z7    \
	VPXORD Z8, Z8, Z8    \
	VPXORD Z9, Z9, Z9    \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23 \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27

// CROWS points DX, R9, R10, R11 at C rows 0, 3, 6, 9 (R8 = ldc bytes);
// clobbers AX.
#define CROWS \
	LEAQ (R8)(R8*2), AX \
	LEAQ (DX)(AX*1), R9 \
	LEAQ (R9)(AX*1), R10 \
	LEAQ (R10)(AX*1), R11

// Row group g of C (three rows at base, base+R8, base+2*R8) with beta in Z0.
#define SCALE3(base, r0a, r0b, r1a, r1b, r2a, r2b) \
	VFMADD231PS (base), Z0, r0a           \
	VFMADD231PS 64(base), Z0, r0b         \
	VFMADD231PS (base)(R8*1), Z0, r1a     \
	VFMADD231PS 64(base)(R8*1), Z0, r1b   \
	VFMADD231PS (base)(R8*2), Z0, r2a     \
	VFMADD231PS 64(base)(R8*2), Z0, r2b

#define STORE3(base, r0a, r0b, r1a, r1b, r2a, r2b) \
	VMOVUPS r0a, (base)           \
	VMOVUPS r0b, 64(base)         \
	VMOVUPS r1a, (base)(R8*1)     \
	VMOVUPS r1b, 64(base)(R8*1)   \
	VMOVUPS r2a, (base)(R8*2)     \
	VMOVUPS r2b, 64(base)(R8*2)

// EPILOGUE writes the tile: C = acc when beta (at betaoff(FP)) is ±0,
// C = beta·C + acc otherwise.
#define EPILOGUE(betaarg, storelabel) \
	CROWS                                             \
	MOVL betaarg, BX                                  \
	SHLL $1, BX                                       \
	JZ   storelabel                                   \
	VBROADCASTSS betaarg, Z0                          \
	SCALE3(DX, Z4, Z5, Z6, Z7, Z8, Z9)                \
	SCALE3(R9, Z10, Z11, Z12, Z13, Z14, Z15)          \
	SCALE3(R10, Z16, Z17, Z18, Z19, Z20, Z21)         \
	SCALE3(R11, Z22, Z23, Z24, Z25, Z26, Z27)         \
storelabel:                                           \
	STORE3(DX, Z4, Z5, Z6, Z7, Z8, Z9)                \
	STORE3(R9, Z10, Z11, Z12, Z13, Z14, Z15)          \
	STORE3(R10, Z16, Z17, Z18, Z19, Z20, Z21)         \
	STORE3(R11, Z22, Z23, Z24, Z25, Z26, Z27)         \
	VZEROUPPER                                        \
	RET

// func kernel12x32(kc int, a, b, c []float32, ldc int, beta float32)
TEXT ·kernel12x32(SB), NOSPLIT, $0-92
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ b_base+32(FP), DI
	MOVQ c_base+56(FP), DX
	MOVQ ldc+80(FP), R8
	SHLQ $2, R8              // ldc in bytes
	ZERO24

	MOVQ  CX, BX
	SHRQ  $1, BX             // BX = kc / 2
	ANDQ  $1, CX             // CX = kc % 2
	TESTQ BX, BX
	JZ    p12tail

p12loop:
	PREFETCHT0 1024(DI)
	P12(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 0, 64)
	PREFETCHT0 1088(DI)
	P12(48, 52, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92, 128, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  p12loop

p12tail:
	TESTQ CX, CX
	JZ    p12done
	P12(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 0, 64)

p12done:
	EPILOGUE(beta+88(FP), p12store)

// func kernel12x32Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)
TEXT ·kernel12x32Direct(SB), NOSPLIT, $0-100
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ lda+32(FP), AX
	SHLQ $2, AX              // lda in bytes
	LEAQ (AX)(AX*2), BX      // 3·lda
	LEAQ (SI)(BX*1), R11     // row 3
	LEAQ (R11)(BX*1), R12    // row 6
	LEAQ (R12)(BX*1), R13    // row 9
	MOVQ b_base+40(FP), DI
	MOVQ c_base+64(FP), DX
	MOVQ ldc+88(FP), R8
	SHLQ $2, R8              // ldc in bytes
	ZERO24

	MOVQ  CX, BX
	SHRQ  $1, BX             // BX = kc / 2
	ANDQ  $1, CX             // CX = kc % 2
	TESTQ BX, BX
	JZ    d12tail

d12loop:
	PREFETCHT0 1024(DI)
	D12(0, 0, 64)
	PREFETCHT0 1088(DI)
	D12(4, 128, 192)
	ADDQ $8, SI
	ADDQ $8, R11
	ADDQ $8, R12
	ADDQ $8, R13
	ADDQ $256, DI
	DECQ BX
	JNZ  d12loop

d12tail:
	TESTQ CX, CX
	JZ    d12done
	D12(0, 0, 64)

d12done:
	EPILOGUE(beta+96(FP), d12store)

// func packATrans12(dst, src []float32, kb, lda int)
TEXT ·packATrans12(SB), NOSPLIT, $0-64
	MOVQ  dst_base+0(FP), DI
	MOVQ  src_base+24(FP), SI
	MOVQ  kb+48(FP), CX
	MOVQ  lda+56(FP), R9
	SHLQ  $2, R9             // lda in bytes
	TESTQ CX, CX
	JLE   pat12done

pat12loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), X1
	VMOVUPS Y0, (DI)
	VMOVUPS X1, 32(DI)
	ADDQ    R9, SI
	ADDQ    $48, DI
	DECQ    CX
	JNZ     pat12loop

pat12done:
	VZEROUPPER
	RET

// func fmaLoop512(n int)
TEXT ·fmaLoop512(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	ZERO24
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JLE    fma512done

fma512loop:
	VFMADD231PS Z0, Z1, Z4
	VFMADD231PS Z0, Z1, Z5
	VFMADD231PS Z0, Z1, Z6
	VFMADD231PS Z0, Z1, Z7
	VFMADD231PS Z0, Z1, Z8
	VFMADD231PS Z0, Z1, Z9
	VFMADD231PS Z0, Z1, Z10
	VFMADD231PS Z0, Z1, Z11
	VFMADD231PS Z0, Z1, Z12
	VFMADD231PS Z0, Z1, Z13
	VFMADD231PS Z0, Z1, Z14
	VFMADD231PS Z0, Z1, Z15
	DECQ        CX
	JNZ         fma512loop

fma512done:
	VZEROUPPER
	RET

// One k step of the 6×32 gathering micro-kernel: the offset of column p is
// loaded from R12 into AX, and row i of the strip is read at its row
// pointer + 4·AX (row pointers SI, BX, R8, R9, R10, R11); row i of the C
// tile is in Z(4+2i), Z(5+2i) (Z4..Z15).
#define G6(oo, bo0, bo1) \
	MOVL         oo(R12), AX      \
	VMOVUPS      bo0(DI), Z0      \
	VMOVUPS      bo1(DI), Z1      \
	VBROADCASTSS (SI)(AX*4), Z2   \
	VBROADCASTSS (BX)(AX*4), Z3   \
	FMA2(Z4, Z5, Z6, Z7)          \
	VBROADCASTSS (R8)(AX*4), Z2   \
	VBROADCASTSS (R9)(AX*4), Z3   \
	FMA2(Z8, Z9, Z10, Z11)        \
	VBROADCASTSS (R10)(AX*4), Z2  \
	VBROADCASTSS (R11)(AX*4), Z3  \
	FMA2(Z12, Z13, Z14, Z15)

// func kernel6x32Gather(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32)
TEXT ·kernel6x32Gather(SB), NOSPLIT, $0-140
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

	GATHERROWS

	GATHERK(G6, 64, 1024, 1280)

gkdone:
	// C rows at DX, +R8, +2·R8 and R9 = DX+3·R8, +R8, +2·R8.
	MOVQ c_base+104(FP), DX
	MOVQ ldc+128(FP), R8
	SHLQ $2, R8              // ldc in bytes
	LEAQ (R8)(R8*2), AX
	LEAQ (DX)(AX*1), R9
	MOVL beta+136(FP), BX
	SHLL $1, BX
	JZ   g6store
	VBROADCASTSS beta+136(FP), Z0
	SCALE3(DX, Z4, Z5, Z6, Z7, Z8, Z9)
	SCALE3(R9, Z10, Z11, Z12, Z13, Z14, Z15)

g6store:
	STORE3(DX, Z4, Z5, Z6, Z7, Z8, Z9)
	STORE3(R9, Z10, Z11, Z12, Z13, Z14, Z15)
	VZEROUPPER
	RET
