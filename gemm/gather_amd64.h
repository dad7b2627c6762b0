// What the gathering micro-kernels of the AVX2 and AVX-512 families
// (kernel6x16Gather, kernel6x32Gather) share. GATHERROWS: the row
// pointers, for the six rows of the strip, a + 4·rows[i] in SI, BX, R8,
// R9, R10, R11 (the offsets are non-negative, so the zero extension of
// MOVL is their value); the column offsets in R12 and B in DI. Arguments as in
// func(kc int, a []float32, rows, offs []int32, b, c []float32, ldc int, beta float32).
#define GATHERROWS \
	MOVQ a_base+8(FP), AX \
	MOVQ rows_base+32(FP), R12 \
	MOVL 0(R12), SI \
	LEAQ (AX)(SI*4), SI \
	MOVL 4(R12), BX \
	LEAQ (AX)(BX*4), BX \
	MOVL 8(R12), R8 \
	LEAQ (AX)(R8*4), R8 \
	MOVL 12(R12), R9 \
	LEAQ (AX)(R9*4), R9 \
	MOVL 16(R12), R10 \
	LEAQ (AX)(R10*4), R10 \
	MOVL 20(R12), R11 \
	LEAQ (AX)(R11*4), R11 \
	MOVQ offs_base+56(FP), R12 \
	MOVQ b_base+80(FP), DI

// GATHERK runs a gathering kernel's loop over its kc columns, four at a
// time, then one at a time: STEP(col, b0, b1) takes the column offset at
// col(R12) and the two vectors of B at b0(DI) and b1(DI), of VB bytes each
// (32 for AVX2, 64 for AVX-512); PF1 and PF2 are the prefetch distances of
// the two halves of a round of four. It ends at the kernel's gkdone.
#define GATHERK(STEP, VB, PF1, PF2) \
	MOVQ  kc+0(FP), CX \
	MOVQ  CX, R13 \
	SHRQ  $2, R13 \
	ANDQ  $3, CX \
	TESTQ R13, R13 \
	JZ    gktail \
gkloop4: \
	PREFETCHT0 PF1(DI) \
	STEP(0, 0, VB) \
	STEP(4, 2*VB, 3*VB) \
	PREFETCHT0 PF2(DI) \
	STEP(8, 4*VB, 5*VB) \
	STEP(12, 6*VB, 7*VB) \
	ADDQ $16, R12 \
	ADDQ $(8*VB), DI \
	DECQ R13 \
	JNZ  gkloop4 \
gktail: \
	TESTQ CX, CX \
	JZ    gkdone \
gkloop1: \
	STEP(0, 0, VB) \
	ADDQ $4, R12 \
	ADDQ $(2*VB), DI \
	DECQ CX \
	JNZ  gkloop1
