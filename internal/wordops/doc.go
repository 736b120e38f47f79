// Package wordops holds the in-place word operations the dense kernels
// are made of: dst[i] op= src[i] over arrays of 64-bit words.
//
// Go does not vectorise loops, so the plain form does one word per
// instruction; on amd64 with AVX2 the same loops run four words per
// instruction, sixteen per iteration. A bit-sliced range made of such
// passes, one per slice and bound over blocks that sit in the cache, is
// bound by the passes, not memory (a 7-slice BETWEEN over 10M rows took
// 3.3× the time of reading its slices), so Between does the whole range
// in one pass instead, every slice word read once (AVX-512, or AVX2).
//
// Every function takes src at least as long as dst and panics otherwise,
// as the plain loop would.
package wordops
