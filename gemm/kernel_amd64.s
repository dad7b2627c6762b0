//go:build !noasm

#include "textflag.h"
#include "gather_amd64.h"

// One k step of the 6×16 micro-kernel: two 8-wide loads of the packed B
// row, six broadcasts of the packed A column, twelve FMAs into Y4..Y15
// (row i of the tile lives in Y(4+2i), Y(5+2i)).
#define KSTEP(ao0, ao1, ao2, ao3, ao4, ao5, bo0, bo1) \
	VMOVUPS      bo0(DI), Y0    \
	VMOVUPS      bo1(DI), Y1    \
	VBROADCASTSS ao0(SI), Y2    \
	VBROADCASTSS ao1(SI), Y3    \
	VFMADD231PS  Y0, Y2, Y4     \
	VFMADD231PS  Y1, Y2, Y5     \
	VFMADD231PS  Y0, Y3, Y6     \
	VFMADD231PS  Y1, Y3, Y7     \
	VBROADCASTSS ao2(SI), Y2    \
	VBROADCASTSS ao3(SI), Y3    \
	VFMADD231PS  Y0, Y2, Y8     \
	VFMADD231PS  Y1, Y2, Y9     \
	VFMADD231PS  Y0, Y3, Y10    \
	VFMADD231PS  Y1, Y3, Y11    \
	VBROADCASTSS ao4(SI), Y2    \
	VBROADCASTSS ao5(SI), Y3    \
	VFMADD231PS  Y0, Y2, Y12    \
	VFMADD231PS  Y1, Y2, Y13    \
	VFMADD231PS  Y0, Y3, Y14    \
	VFMADD231PS  Y1, Y3, Y15

// PROLOGUE6 prefetches the 6×16 tile of C (rows at DX, DX+R8, R9,
// R9+R8, R10, R10+R8) and zeroes its accumulators Y4–Y15.
#define PROLOGUE6 \
	PREFETCHT0 (DX); PREFETCHT0 60(DX); \
	PREFETCHT0 (DX)(R8*1); PREFETCHT0 60(DX)(R8*1); \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); \
	PREFETCHT0 (R9)(R8*1); PREFETCHT0 60(R9)(R8*1); \
	PREFETCHT0 (R10); PREFETCHT0 60(R10); \
	PREFETCHT0 (R10)(R8*1); PREFETCHT0 60(R10)(R8*1); \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; VXORPS Y9, Y9, Y9; VXORPS Y10, Y10, Y10; VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; VXORPS Y13, Y13, Y13; VXORPS Y14, Y14, Y14; VXORPS Y15, Y15, Y15

// EPILOGUE6 writes the tile: C = acc when beta is ±0 (C is not read, so
// NaNs in it do not leak), C = acc + beta·C otherwise; then returns.
#define EPILOGUE6(beta) \
	MOVL beta, AX; \
	SHLL $1, AX; \
	JZ   store; \
	VBROADCASTSS beta, Y0; \
	VFMADD231PS (DX), Y0, Y4; VFMADD231PS 32(DX), Y0, Y5; \
	VFMADD231PS (DX)(R8*1), Y0, Y6; VFMADD231PS 32(DX)(R8*1), Y0, Y7; \
	VFMADD231PS (R9), Y0, Y8; VFMADD231PS 32(R9), Y0, Y9; \
	VFMADD231PS (R9)(R8*1), Y0, Y10; VFMADD231PS 32(R9)(R8*1), Y0, Y11; \
	VFMADD231PS (R10), Y0, Y12; VFMADD231PS 32(R10), Y0, Y13; \
	VFMADD231PS (R10)(R8*1), Y0, Y14; VFMADD231PS 32(R10)(R8*1), Y0, Y15; \
store: \
	VMOVUPS Y4, (DX); VMOVUPS Y5, 32(DX); \
	VMOVUPS Y6, (DX)(R8*1); VMOVUPS Y7, 32(DX)(R8*1); \
	VMOVUPS Y8, (R9); VMOVUPS Y9, 32(R9); \
	VMOVUPS Y10, (R9)(R8*1); VMOVUPS Y11, 32(R9)(R8*1); \
	VMOVUPS Y12, (R10); VMOVUPS Y13, 32(R10); \
	VMOVUPS Y14, (R10)(R8*1); VMOVUPS Y15, 32(R10)(R8*1); \
	VZEROUPPER; \
	RET

// func kernel6x16(kc int, a, b, c []float32, ldc int, beta float32)
TEXT ·kernel6x16(SB), NOSPLIT, $0-92
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ b_base+32(FP), DI
	MOVQ c_base+56(FP), DX
	MOVQ ldc+80(FP), R8
	SHLQ $2, R8              // ldc in bytes
	LEAQ (DX)(R8*2), R9      // row 2
	LEAQ (R9)(R8*2), R10     // row 4

	PROLOGUE6

	MOVQ CX, BX
	SHRQ $2, BX              // BX = kc / 4
	ANDQ $3, CX              // CX = kc % 4
	TESTQ BX, BX
	JZ   tail

loop4:
	PREFETCHT0 512(DI)
	KSTEP(0, 4, 8, 12, 16, 20, 0, 32)
	KSTEP(24, 28, 32, 36, 40, 44, 64, 96)
	PREFETCHT0 576(DI)
	KSTEP(48, 52, 56, 60, 64, 68, 128, 160)
	KSTEP(72, 76, 80, 84, 88, 92, 192, 224)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

tail:
	TESTQ CX, CX
	JZ    done

loop1:
	KSTEP(0, 4, 8, 12, 16, 20, 0, 32)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

done:
	EPILOGUE6(beta+88(FP))

// func fmaLoop(n int)
TEXT ·fmaLoop(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	TESTQ  CX, CX
	JLE    fmadone

fmaloop:
	VFMADD231PS Y12, Y13, Y0
	VFMADD231PS Y12, Y13, Y1
	VFMADD231PS Y12, Y13, Y2
	VFMADD231PS Y12, Y13, Y3
	VFMADD231PS Y12, Y13, Y4
	VFMADD231PS Y12, Y13, Y5
	VFMADD231PS Y12, Y13, Y6
	VFMADD231PS Y12, Y13, Y7
	VFMADD231PS Y12, Y13, Y8
	VFMADD231PS Y12, Y13, Y9
	VFMADD231PS Y12, Y13, Y10
	VFMADD231PS Y12, Y13, Y11
	DECQ        CX
	JNZ         fmaloop

fmadone:
	VZEROUPPER
	RET

// func packBPanels(dst, src []float32, kb, npan, ldb, nr int)
TEXT ·packBPanels(SB), NOSPLIT, $0-80
	MOVQ  dst_base+0(FP), DI
	MOVQ  src_base+24(FP), SI
	MOVQ  kb+48(FP), CX
	MOVQ  npan+56(FP), R8
	MOVQ  ldb+64(FP), R9
	SHLQ  $2, R9             // ldb in bytes
	MOVQ  nr+72(FP), R11
	SHRQ  $4, R11            // 64-byte chunks per panel row
	MOVQ  kb+48(FP), R10
	IMULQ nr+72(FP), R10
	SHLQ  $2, R10            // panel length in bytes: kb*nr*4
	MOVQ  nr+72(FP), R12
	SHLQ  $2, R12            // panel row in bytes
	SUBQ  R12, R10           // from the end of one panel row to the next panel's
	TESTQ CX, CX
	JLE   pbdone
	TESTQ R8, R8
	JLE   pbdone
	TESTQ R11, R11
	JLE   pbdone

pbrow:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R8, DX

pbpanel:
	MOVQ R11, R13

pbchunk:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ    $64, AX
	ADDQ    $64, BX
	DECQ    R13
	JNZ     pbchunk
	ADDQ    R10, BX
	DECQ    DX
	JNZ     pbpanel
	ADDQ    R9, SI
	ADDQ    R12, DI
	DECQ    CX
	JNZ     pbrow

pbdone:
	VZEROUPPER
	RET

// func packATrans6(dst, src []float32, kb, lda int)
TEXT ·packATrans6(SB), NOSPLIT, $0-64
	MOVQ  dst_base+0(FP), DI
	MOVQ  src_base+24(FP), SI
	MOVQ  kb+48(FP), CX
	MOVQ  lda+56(FP), R9
	SHLQ  $2, R9             // lda in bytes
	TESTQ CX, CX
	JLE   patdone

patloop:
	VMOVUPS (SI), X0
	VMOVQ   16(SI), X1
	VMOVUPS X0, (DI)
	VMOVQ   X1, 16(DI)
	ADDQ    R9, SI
	ADDQ    $24, DI
	DECQ    CX
	JNZ     patloop

patdone:
	RET

// One k step of the direct micro-kernel: A is read in place, row i of the
// 6-row strip at SI + i*R11 (rows 3..5 from R12 = SI + 3*R11).
#define DSTEP(ao, bo0, bo1) \
	VMOVUPS      bo0(DI), Y0         \
	VMOVUPS      bo1(DI), Y1         \
	VBROADCASTSS ao(SI), Y2          \
	VBROADCASTSS ao(SI)(R11*1), Y3   \
	VFMADD231PS  Y0, Y2, Y4          \
	VFMADD231PS  Y1, Y2, Y5          \
	VFMADD231PS  Y0, Y3, Y6          \
	VFMADD231PS  Y1, Y3, Y7          \
	VBROADCASTSS ao(SI)(R11*2), Y2   \
	VBROADCASTSS ao(R12), Y3         \
	VFMADD231PS  Y0, Y2, Y8          \
	VFMADD231PS  Y1, Y2, Y9          \
	VFMADD231PS  Y0, Y3, Y10         \
	VFMADD231PS  Y1, Y3, Y11         \
	VBROADCASTSS ao(R12)(R11*1), Y2  \
	VBROADCASTSS ao(R12)(R11*2), Y3  \
	VFMADD231PS  Y0, Y2, Y12         \
	VFMADD231PS  Y1, Y2, Y13         \
	VFMADD231PS  Y0, Y3, Y14         \
	VFMADD231PS  Y1, Y3, Y15

// func kernel6x16Direct(kc int, a []float32, lda int, b, c []float32, ldc int, beta float32)
TEXT ·kernel6x16Direct(SB), NOSPLIT, $0-100
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ lda+32(FP), R11
	SHLQ $2, R11             // lda in bytes
	LEAQ (SI)(R11*2), R12
	ADDQ R11, R12            // row 3
	MOVQ b_base+40(FP), DI
	MOVQ c_base+64(FP), DX
	MOVQ ldc+88(FP), R8
	SHLQ $2, R8              // ldc in bytes
	LEAQ (DX)(R8*2), R9      // row 2
	LEAQ (R9)(R8*2), R10     // row 4

	PROLOGUE6

	MOVQ  CX, BX
	SHRQ  $2, BX             // BX = kc / 4
	ANDQ  $3, CX             // CX = kc % 4
	TESTQ BX, BX
	JZ    dtail

dloop4:
	PREFETCHT0 512(DI)
	DSTEP(0, 0, 32)
	DSTEP(4, 64, 96)
	PREFETCHT0 576(DI)
	DSTEP(8, 128, 160)
	DSTEP(12, 192, 224)
	ADDQ $16, SI
	ADDQ $16, R12
	ADDQ $256, DI
	DECQ BX
	JNZ  dloop4

dtail:
	TESTQ CX, CX
	JZ    ddone

dloop1:
	DSTEP(0, 0, 32)
	ADDQ $4, SI
	ADDQ $4, R12
	ADDQ $64, DI
	DECQ CX
	JNZ  dloop1

ddone:
	EPILOGUE6(beta+96(FP))

// One k step of the gathering micro-kernel: the offset of column p is
// loaded from R12 into AX, and row i of the strip is read at its row
// pointer + 4·AX (row pointers SI, BX, R8, R9, R10, R11).
#define GSTEP(oo, bo0, bo1) \
	MOVL         oo(R12), AX      \
	VMOVUPS      bo0(DI), Y0      \
	VMOVUPS      bo1(DI), Y1      \
	VBROADCASTSS (SI)(AX*4), Y2   \
	VBROADCASTSS (BX)(AX*4), Y3   \
	VFMADD231PS  Y0, Y2, Y4       \
	VFMADD231PS  Y1, Y2, Y5       \
	VFMADD231PS  Y0, Y3, Y6       \
	VFMADD231PS  Y1, Y3, Y7       \
	VBROADCASTSS (R8)(AX*4), Y2   \
	VBROADCASTSS (R9)(AX*4), Y3   \
	VFMADD231PS  Y0, Y2, Y8       \
	VFMADD231PS  Y1, Y2, Y9       \
	VFMADD231PS  Y0, Y3, Y10      \
	VFMADD231PS  Y1, Y3, Y11      \
	VBROADCASTSS (R10)(AX*4), Y2  \
	VBROADCASTSS (R11)(AX*4), Y3  \
	VFMADD231PS  Y0, Y2, Y12      \
	VFMADD231PS  Y1, Y2, Y13      \
	VFMADD231PS  Y0, Y3, Y14      \
	VFMADD231PS  Y1, Y3, Y15

// func kernel6x16Gather(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32)
TEXT ·kernel6x16Gather(SB), NOSPLIT, $0-140
	MOVQ c_base+104(FP), DX
	MOVQ ldc+128(FP), R8
	SHLQ $2, R8              // ldc in bytes
	LEAQ (DX)(R8*2), R9      // row 2
	LEAQ (R9)(R8*2), R10     // row 4

	PROLOGUE6

	GATHERROWS

	GATHERK(GSTEP, 32, 512, 576)

gkdone:
	// The row pointers are spent: point DX, R9, R10 at C again.
	MOVQ c_base+104(FP), DX
	MOVQ ldc+128(FP), R8
	SHLQ $2, R8              // ldc in bytes
	LEAQ (DX)(R8*2), R9      // row 2
	LEAQ (R9)(R8*2), R10     // row 4
	EPILOGUE6(beta+136(FP))
