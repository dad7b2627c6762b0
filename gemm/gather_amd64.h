// The gathering micro-kernels' row pointers, shared by the AVX2 and AVX-512
// families (kernel6x16Gather, kernel6x32Gather): for the six rows of the
// strip, a + 4·rows[i] in SI, BX, R8, R9, R10, R11 (the offsets are
// non-negative, so the zero extension of MOVL is their value); the column
// offsets in R12 and B in DI. Arguments as in
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
