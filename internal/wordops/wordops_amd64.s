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

// BETWEENARGS loads the Between kernels' arguments: dst in DI, groups in
// CX, the lower bound's walk in SI (pointers), R8 (masks), R9 (steps),
// the upper's in R10, R11, R12, and fa and fb broadcast into FA and FB.
#define BETWEENARGS(FA, FB) \
	MOVQ         dst+0(FP), DI; \
	MOVQ         groups+8(FP), CX; \
	MOVQ         pa+16(FP), SI; \
	MOVQ         ma+24(FP), R8; \
	MOVQ         na+32(FP), R9; \
	MOVQ         pb+40(FP), R10; \
	MOVQ         mb+48(FP), R11; \
	MOVQ         nb+56(FP), R12; \
	VPBROADCASTQ fa+64(FP), FA; \
	VPBROADCASTQ fb+72(FP), FB

// WEIGHARGS loads a weighing kernel's arguments: its two arrays into DI
// and SI, the word count into CX and the int32 into AX.
#define WEIGHARGS(A, B, X) \
	MOVQ A, DI; \
	MOVQ B, SI; \
	MOVQ n+16(FP), CX; \
	MOVL X, AX

// ADDBYTE adds w (Y7) to the eight sums at byte offset OFF from DI whose
// bits are set in AX's low byte, then moves AX's next byte down: the byte
// is broadcast to every lane, each lane keeps its own bit (Y6 holds 1, 2,
// ..., 128), and the compare turns a kept bit into a lane of ones.
#define ADDBYTE(OFF) \
	VMOVD        AX, X0; \
	VPBROADCASTD X0, Y0; \
	VPAND        Y6, Y0, Y0; \
	VPCMPEQD     Y6, Y0, Y0; \
	VPAND        Y7, Y0, Y0; \
	VPADDD       OFF(DI), Y0, Y0; \
	VMOVDQU      Y0, OFF(DI); \
	SHRQ         $8, AX

// LTBYTE sets bits SHIFT..SHIFT+7 of R9 where t (Y7) > the eight sums at
// byte offset OFF from SI (AtLeast's complement).
#define LTBYTE(OFF, SHIFT) \
	VPCMPGTD  OFF(SI), Y7, Y0; \
	VMOVMSKPS Y0, BX; \
	SHLQ      $SHIFT, BX; \
	ORQ       BX, R9

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

// WALK runs one bound's walk (pointers P, masks M, N steps) over the
// 16 words at byte offset AX, into Z0 (first eight) and Z1: each step
// loads the slice's words and combines them with one VPTERNLOGQ, whose
// truth table 0xD4 is "mask ? q AND s : q OR s" (q the destination, s
// the second operand, the broadcast mask the third). BX counts the steps.
#define WALK(P, M, N, LOOP, DONE) \
	VPXORQ       Z0, Z0, Z0; \
	VPXORQ       Z1, Z1, Z1; \
	XORQ         BX, BX; \
LOOP: \
	CMPQ         BX, N; \
	JGE          DONE; \
	MOVQ         (P)(BX*8), DX; \
	VPBROADCASTQ (M)(BX*8), Z3; \
	VMOVDQU64    (DX)(AX*1), Z2; \
	VPTERNLOGQ   $0xD4, Z3, Z2, Z0; \
	VMOVDQU64    64(DX)(AX*1), Z2; \
	VPTERNLOGQ   $0xD4, Z3, Z2, Z1; \
	INCQ         BX; \
	JMP          LOOP; \
DONE:

// func betweenAVX512(dst *uint64, groups int, pa **uint64, ma *uint64, na int, pb **uint64, mb *uint64, nb int, fa, fb uint64) int
// Per group of 16 words: the lower bound's walk into Z8/Z9, the upper's
// into Z0/Z1, then dst &= (qa | fa) &^ (qb & fb), stored and counted.
TEXT ·betweenAVX512(SB), NOSPLIT, $0-88
	BETWEENARGS(Z6, Z7)
	VPXORQ       Z4, Z4, Z4
	VPXORQ       Z5, Z5, Z5
	XORQ         AX, AX

betweenGroup:
	WALK(SI, R8, R9, walkA, walkADone)
	VPORQ        Z6, Z0, Z8
	VPORQ        Z6, Z1, Z9
	WALK(R10, R11, R12, walkB, walkBDone)
	VPANDQ       Z7, Z0, Z0
	VPANDQ       Z7, Z1, Z1

	// dst & qa &^ qb: truth table 0x40 is "A AND B AND NOT C".
	VMOVDQU64    (DI)(AX*1), Z2
	VPTERNLOGQ   $0x40, Z0, Z8, Z2
	VMOVDQU64    Z2, (DI)(AX*1)
	VPOPCNTQ     Z2, Z2
	VPADDQ       Z2, Z4, Z4
	VMOVDQU64    64(DI)(AX*1), Z2
	VPTERNLOGQ   $0x40, Z1, Z9, Z2
	VMOVDQU64    Z2, 64(DI)(AX*1)
	VPOPCNTQ     Z2, Z2
	VPADDQ       Z2, Z5, Z5
	ADDQ         $128, AX
	DECQ         CX
	JNZ          betweenGroup
	SUMLANES(ret+80(FP))

// WALK2 is WALK with AVX2, into Y0–Y3. AVX2 has no three-input logic:
// the step's mask picks an AND or an OR pass by a branch, which the
// groups' identical sequences of steps make predictable (a blend of
// both results measured a quarter slower on slices past the caches,
// 12.9 against 16 GB/s; AVX-512 20 GB/s, the pass-per-slice walk 12.5).
#define WALK2(P, M, N, LOOP, ORSTEP, NEXT, DONE) \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	XORQ  BX, BX; \
LOOP: \
	CMPQ  BX, N; \
	JGE   DONE; \
	MOVQ  (P)(BX*8), DX; \
	CMPQ  (M)(BX*8), $0; \
	JEQ   ORSTEP; \
	VPAND (DX)(AX*1), Y0, Y0; \
	VPAND 32(DX)(AX*1), Y1, Y1; \
	VPAND 64(DX)(AX*1), Y2, Y2; \
	VPAND 96(DX)(AX*1), Y3, Y3; \
	JMP   NEXT; \
ORSTEP: \
	VPOR  (DX)(AX*1), Y0, Y0; \
	VPOR  32(DX)(AX*1), Y1, Y1; \
	VPOR  64(DX)(AX*1), Y2, Y2; \
	VPOR  96(DX)(AX*1), Y3, Y3; \
NEXT: \
	INCQ  BX; \
	JMP   LOOP; \
DONE:

// KEEP2 sets the four words at byte offset OFF of dst to dst & QA &^ QB.
#define KEEP2(OFF, QA, QB) \
	VMOVDQU OFF(DI)(AX*1), Y13; \
	VPAND   QA, Y13, Y13; \
	VPANDN  Y13, QB, Y13; \
	VMOVDQU Y13, OFF(DI)(AX*1)

// func betweenAVX2(dst *uint64, groups int, pa **uint64, ma *uint64, na int, pb **uint64, mb *uint64, nb int, fa, fb uint64)
// betweenAVX512 with AVX2 and without the count: the lower bound's walk
// into Y4–Y7, the upper's into Y0–Y3.
TEXT ·betweenAVX2(SB), NOSPLIT, $0-80
	BETWEENARGS(Y10, Y11)
	XORQ         AX, AX

between2Group:
	WALK2(SI, R8, R9, walk2A, walk2AOr, walk2ANext, walk2ADone)
	VPOR         Y10, Y0, Y4
	VPOR         Y10, Y1, Y5
	VPOR         Y10, Y2, Y6
	VPOR         Y10, Y3, Y7
	WALK2(R10, R11, R12, walk2B, walk2BOr, walk2BNext, walk2BDone)
	VPAND        Y11, Y0, Y0
	VPAND        Y11, Y1, Y1
	VPAND        Y11, Y2, Y2
	VPAND        Y11, Y3, Y3
	KEEP2(0, Y4, Y0)
	KEEP2(32, Y5, Y1)
	KEEP2(64, Y6, Y2)
	KEEP2(96, Y7, Y3)
	ADDQ         $128, AX
	DECQ         CX
	JNZ          between2Group
	VZEROUPPER
	RET

// func atLeastAVX512(dst *uint64, sums *int32, n int, t int32)
// Each of the n words gathers four 16-lane compares (predicate 2, "less
// or equal": t <= sums) from their mask registers.
TEXT ·atLeastAVX512(SB), NOSPLIT, $0-28
	WEIGHARGS(dst+0(FP), sums+8(FP), t+24(FP))
	VPBROADCASTD AX, Z7
atLeastLoop:
	VPCMPD $2, (SI), Z7, K1
	VPCMPD $2, 64(SI), Z7, K2
	VPCMPD $2, 128(SI), Z7, K3
	VPCMPD $2, 192(SI), Z7, K4
	KMOVW  K4, AX
	SHLQ   $16, AX
	KMOVW  K3, BX
	ORQ    BX, AX
	SHLQ   $16, AX
	KMOVW  K2, BX
	ORQ    BX, AX
	SHLQ   $16, AX
	KMOVW  K1, BX
	ORQ    BX, AX
	MOVQ   AX, (DI)
	ADDQ   $256, SI
	ADDQ   $8, DI
	DECQ   CX
	JNZ    atLeastLoop
	VZEROUPPER
	RET

DATA laneBits<>+0(SB)/4, $1
DATA laneBits<>+4(SB)/4, $2
DATA laneBits<>+8(SB)/4, $4
DATA laneBits<>+12(SB)/4, $8
DATA laneBits<>+16(SB)/4, $16
DATA laneBits<>+20(SB)/4, $32
DATA laneBits<>+24(SB)/4, $64
DATA laneBits<>+28(SB)/4, $128
GLOBL laneBits<>(SB), RODATA|NOPTR, $32

// func addMaskedAVX2(sums *int32, words *uint64, n int, w int32)
// AddMasked eight rows a step (ADDBYTE); a zero word is skipped.
TEXT ·addMaskedAVX2(SB), NOSPLIT, $0-28
	WEIGHARGS(sums+0(FP), words+8(FP), w+24(FP))
	VMOVD        AX, X7
	VPBROADCASTD X7, Y7
	VMOVDQU      laneBits<>(SB), Y6
addMaskedAVX2Loop:
	MOVQ  (SI), AX
	TESTQ AX, AX
	JZ    addMaskedAVX2Next
	ADDBYTE(0)
	ADDBYTE(32)
	ADDBYTE(64)
	ADDBYTE(96)
	ADDBYTE(128)
	ADDBYTE(160)
	ADDBYTE(192)
	ADDBYTE(224)
addMaskedAVX2Next:
	ADDQ $8, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  addMaskedAVX2Loop
	VZEROUPPER
	RET

// func atLeastAVX2(dst *uint64, sums *int32, n int, t int32)
// The rows where t > sum gathered eight a step (LTBYTE), then inverted.
TEXT ·atLeastAVX2(SB), NOSPLIT, $0-28
	WEIGHARGS(dst+0(FP), sums+8(FP), t+24(FP))
	VMOVD        AX, X7
	VPBROADCASTD X7, Y7
atLeastAVX2Loop:
	XORQ R9, R9
	LTBYTE(0, 0)
	LTBYTE(32, 8)
	LTBYTE(64, 16)
	LTBYTE(96, 24)
	LTBYTE(128, 32)
	LTBYTE(160, 40)
	LTBYTE(192, 48)
	LTBYTE(224, 56)
	NOTQ R9
	MOVQ R9, (DI)
	ADDQ $256, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  atLeastAVX2Loop
	VZEROUPPER
	RET

// MASKADD4 adds the weight in Z7 to the lanes of A, B, C and D selected
// by the four 16-bit masks at byte offsets O1..O4 from R11 (a word's 64
// rows).
#define MASKADD4(O1, O2, O3, O4, A, B, C, D) \
	KMOVW  O1(R11), K1; \
	KMOVW  O2(R11), K2; \
	KMOVW  O3(R11), K3; \
	KMOVW  O4(R11), K4; \
	VPADDD Z7, A, K1, A; \
	VPADDD Z7, B, K2, B; \
	VPADDD Z7, C, K3, C; \
	VPADDD Z7, D, K4, D

// func addMaskedManyAVX512(sums *int32, words *[]uint64, ws *int32, nf int, from int, pairs int)
// AddMaskedMany over pairs of words: the 128 sums of a pair stay in eight
// registers while every feature's two words are added in (a pass per
// feature loaded and stored the sums once per feature, and the stores
// were its limit; AddMasked is this kernel with one feature). Each
// 16-bit part of a word becomes a mask register that selects the lanes
// of a 16-lane add, loaded straight from memory (moving them through a
// general register, shifted, cost ~10 % more: mask moves from one share
// a port with the adds). A feature whose two words are both zero (a
// sparse feature has many) is skipped. Each
// feature's words 512 bytes ahead are prefetched: a tile reads 64 arrays
// side by side, more streams than the hardware prefetcher follows (the
// lookalike at 10M profiles: 27.6 → 25.0 ms a call). words
// points at nf slice headers (24 bytes each, the array's address first);
// the pair read is at word from (and from+1) of each, and sums holds 128
// entries per pair. nf and pairs are at least 1.
TEXT ·addMaskedManyAVX512(SB), NOSPLIT, $0-48
	MOVQ sums+0(FP), DI
	MOVQ words+8(FP), SI
	MOVQ ws+16(FP), DX
	MOVQ nf+24(FP), BX
	MOVQ from+32(FP), R9
	SHLQ $3, R9
	MOVQ pairs+40(FP), CX
manyPair:
	VMOVDQU32 (DI), Z0
	VMOVDQU32 64(DI), Z1
	VMOVDQU32 128(DI), Z2
	VMOVDQU32 192(DI), Z3
	VMOVDQU32 256(DI), Z4
	VMOVDQU32 320(DI), Z5
	VMOVDQU32 384(DI), Z6
	VMOVDQU32 448(DI), Z8
	MOVQ SI, R10
	MOVQ DX, R13
	MOVQ BX, R14
manyFeature:
	MOVQ (R10), R11
	ADDQ R9, R11
	PREFETCHT0 512(R11)
	MOVQ (R11), R12
	ORQ  8(R11), R12
	JZ   manyNext
	VPBROADCASTD (R13), Z7
	MASKADD4(0, 2, 4, 6, Z0, Z1, Z2, Z3)
	MASKADD4(8, 10, 12, 14, Z4, Z5, Z6, Z8)
manyNext:
	ADDQ $24, R10
	ADDQ $4, R13
	DECQ R14
	JNZ  manyFeature
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	VMOVDQU32 Z2, 128(DI)
	VMOVDQU32 Z3, 192(DI)
	VMOVDQU32 Z4, 256(DI)
	VMOVDQU32 Z5, 320(DI)
	VMOVDQU32 Z6, 384(DI)
	VMOVDQU32 Z8, 448(DI)
	ADDQ $512, DI
	ADDQ $16, R9
	DECQ CX
	JNZ  manyPair
	VZEROUPPER
	RET
