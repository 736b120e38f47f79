#include "textflag.h"

// Each in-place kernel takes dst, src and a count of 16-word groups (at
// least 1) and does dst op= src over them, four YMM registers a group.
// OP is the vector instruction with src's words loaded first: VPAND and
// VPOR are symmetric, and VPANDN m, y, y sets y = ^y & m, so with src in
// y it computes dst &^ src.
#define INPLACE(OP) \
	MOVQ    dst+0(FP), DI; \
	MOVQ    src+8(FP), SI; \
	MOVQ    groups+16(FP), CX; \
loop: \
	VMOVDQU (SI), Y0; \
	VMOVDQU 32(SI), Y1; \
	VMOVDQU 64(SI), Y2; \
	VMOVDQU 96(SI), Y3; \
	OP      (DI), Y0, Y0; \
	OP      32(DI), Y1, Y1; \
	OP      64(DI), Y2, Y2; \
	OP      96(DI), Y3, Y3; \
	VMOVDQU Y0, (DI); \
	VMOVDQU Y1, 32(DI); \
	VMOVDQU Y2, 64(DI); \
	VMOVDQU Y3, 96(DI); \
	ADDQ    $128, SI; \
	ADDQ    $128, DI; \
	DECQ    CX; \
	JNZ     loop; \
	VZEROUPPER; \
	RET

// func andAVX2(dst, src *uint64, groups int)
TEXT ·andAVX2(SB), NOSPLIT, $0-24
	INPLACE(VPAND)

// func andNotAVX2(dst, src *uint64, groups int)
TEXT ·andNotAVX2(SB), NOSPLIT, $0-24
	INPLACE(VPANDN)

// func orAVX2(dst, src *uint64, groups int)
TEXT ·orAVX2(SB), NOSPLIT, $0-24
	INPLACE(VPOR)

// SUMLANES adds the eight quadwords of Z4 and Z5 and stores the sum at
// OUT (the result's frame slot), then returns.
#define SUMLANES(OUT) \
	VPADDQ        Z5, Z4, Z4; \
	VEXTRACTI64X4 $1, Z4, Y0; \
	VPADDQ        Y0, Y4, Y4; \
	VEXTRACTI128  $1, Y4, X0; \
	VPADDQ        X0, X4, X4; \
	VPSHUFD       $0x4e, X4, X0; \
	VPADDQ        X0, X4, X4; \
	VMOVQ         X4, AX; \
	MOVQ          AX, OUT; \
	VZEROUPPER; \
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
	SUMLANES(ret+24(FP))

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
	SUMLANES(ret+16(FP))
