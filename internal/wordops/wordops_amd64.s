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

// func andCountAVX512(a, b *uint64, groups int) int
// The bits of a AND b over 16-word groups: VPOPCNTQ counts each word,
// two accumulators of eight words, summed across lanes at the end.
TEXT ·andCountAVX512(SB), NOSPLIT, $0-32
	MOVQ   a+0(FP), DI
	MOVQ   b+8(FP), SI
	MOVQ   groups+16(FP), CX
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
andCountLoop:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 64(DI), Z1
	VPANDQ    (SI), Z0, Z0
	VPANDQ    64(SI), Z1, Z1
	VPOPCNTQ  Z0, Z0
	VPOPCNTQ  Z1, Z1
	VPADDQ    Z0, Z4, Z4
	VPADDQ    Z1, Z5, Z5
	ADDQ      $128, DI
	ADDQ      $128, SI
	DECQ      CX
	JNZ       andCountLoop
	VPADDQ        Z5, Z4, Z4
	VEXTRACTI64X4 $1, Z4, Y0
	VPADDQ        Y0, Y4, Y4
	VEXTRACTI128  $1, Y4, X0
	VPADDQ        X0, X4, X4
	VPSHUFD       $0x4e, X4, X0
	VPADDQ        X0, X4, X4
	VMOVQ         X4, AX
	MOVQ          AX, ret+24(FP)
	VZEROUPPER
	RET

// func countAVX512(a *uint64, groups int) int
TEXT ·countAVX512(SB), NOSPLIT, $0-24
	MOVQ   a+0(FP), DI
	MOVQ   groups+8(FP), CX
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
countLoop:
	VPOPCNTQ (DI), Z0
	VPOPCNTQ 64(DI), Z1
	VPADDQ   Z0, Z4, Z4
	VPADDQ   Z1, Z5, Z5
	ADDQ     $128, DI
	DECQ     CX
	JNZ      countLoop
	VPADDQ        Z5, Z4, Z4
	VEXTRACTI64X4 $1, Z4, Y0
	VPADDQ        Y0, Y4, Y4
	VEXTRACTI128  $1, Y4, X0
	VPADDQ        X0, X4, X4
	VPSHUFD       $0x4e, X4, X0
	VPADDQ        X0, X4, X4
	VMOVQ         X4, AX
	MOVQ          AX, ret+16(FP)
	VZEROUPPER
	RET

