#include "textflag.h"

// Each kernel takes dst, src and a count of 16-word groups (at least 1)
// and does dst op= src over them, four YMM registers per group.

// func andAVX2(dst, src *uint64, groups int)
TEXT ·andAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), CX
andLoop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPAND   (DI), Y0, Y0
	VPAND   32(DI), Y1, Y1
	VPAND   64(DI), Y2, Y2
	VPAND   96(DI), Y3, Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     andLoop
	VZEROUPPER
	RET

// func andNotAVX2(dst, src *uint64, groups int)
// VPANDN m, y, y sets y = ^y & m: y holds src, m is dst's words.
TEXT ·andNotAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), CX
andNotLoop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPANDN  (DI), Y0, Y0
	VPANDN  32(DI), Y1, Y1
	VPANDN  64(DI), Y2, Y2
	VPANDN  96(DI), Y3, Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     andNotLoop
	VZEROUPPER
	RET

// func orAVX2(dst, src *uint64, groups int)
TEXT ·orAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), CX
orLoop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPOR    (DI), Y0, Y0
	VPOR    32(DI), Y1, Y1
	VPOR    64(DI), Y2, Y2
	VPOR    96(DI), Y3, Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     orLoop
	VZEROUPPER
	RET
